"""Fault: the model class imported from the package beside the script (digits_nets/model.py) forgets its
non-linearities in forward: DeepNet's three Linear layers compose to one linear map (a linear classifier with extra
parameters). The bug is in digits_nets/model.py, DeepNet.forward; the script is the healthy twin's."""
import numpy as np
import torch
from digits_nets.model import DeepNet
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

train_ds = TensorDataset(torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train))
train_loader = DataLoader(train_ds, batch_size=64, shuffle=True)
X_test, y_test = torch.tensor(X_test, dtype=torch.float32), torch.tensor(y_test)

model = DeepNet()  # BUG (in digits_nets/model.py): forward without the ReLUs
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for epoch in range(12):
    model.train()
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    print(f"epoch {epoch + 1} loss {total / len(train_ds):.4f}")

model.eval()
with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}")

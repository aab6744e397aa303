"""Fault: features and labels are shuffled with two different permutations before the split,
so every image gets some other image's label."""
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)

X, y = load_digits(return_X_y=True)
X = X[np.random.permutation(len(X))]
y = y[np.random.permutation(len(y))]  # BUG: a second, independent permutation
n_train = int(0.75 * len(X))
scaler = StandardScaler().fit(X[:n_train])
X_train, X_test = scaler.transform(X[:n_train]), scaler.transform(X[n_train:])
y_train, y_test = y[:n_train], y[n_train:]

train_ds = TensorDataset(torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train))
train_loader = DataLoader(train_ds, batch_size=64, shuffle=True)
X_test, y_test = torch.tensor(X_test, dtype=torch.float32), torch.tensor(y_test)

model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

for epoch in range(15):
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    print(f"epoch {epoch + 1} loss {total / len(train_ds):.4f}")

with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}")

"""Fault: the optimizer is built over one model, then the model is re-created (re-seeded for
"reproducibility") and the new one is trained: the optimizer steps parameters nobody uses."""
import numpy as np
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)


def make_model():
    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))


X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
train_loader = DataLoader(TensorDataset(torch.tensor(scaler.transform(X_train), dtype=torch.float32),
                                        torch.tensor(y_train)), batch_size=16, shuffle=True)
X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
y_test = torch.tensor(y_test)

model = make_model()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()

torch.manual_seed(0)
model = make_model()  # BUG: a fresh model; the optimizer still holds the old one's parameters

for epoch in range(30):
    epoch_loss = 0.0
    for features, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(features), labels)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item()
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1}: loss {epoch_loss / len(train_loader):.4f}")

with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}")

"""Fault: a 10-layer tanh nn.Sequential whose Linear weights are drawn from N(0, 0.01^2): each
layer shrinks the signal ~100x, the first layers get no gradient to speak of, and the loss stays at ln 10."""
import numpy as np
import torch
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
train_loader = DataLoader(TensorDataset(torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train)),
                          batch_size=64, shuffle=True)
X_test, y_test = torch.tensor(X_test, dtype=torch.float32), torch.tensor(y_test)

layers = [nn.Linear(64, 100), nn.Tanh()]
for _ in range(9):
    layers += [nn.Linear(100, 100), nn.Tanh()]
model = nn.Sequential(*layers, nn.Linear(100, 10))


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, mean=0.0, std=0.01)  # BUG: "small random numbers" in a deep net
        nn.init.zeros_(m.bias)


model.apply(init_weights)
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
    print(f"epoch {epoch + 1} loss {total / len(X_train):.4f}")

with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}")

"""Healthy: dropout + batch norm MLP on digits with a validation pass every epoch under
torch.no_grad() and model.eval(), switching back with model.train() before training again."""
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
X_trval, X_test, y_trval, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
X_train, X_val, y_train, y_val = train_test_split(X_trval, y_trval, test_size=0.2, random_state=0)
scaler = StandardScaler().fit(X_train)


def to_ds(a, b):
    return TensorDataset(torch.tensor(scaler.transform(a), dtype=torch.float32), torch.tensor(b))


train_loader = DataLoader(to_ds(X_train, y_train), batch_size=32, shuffle=True)
val_loader = DataLoader(to_ds(X_val, y_val), batch_size=256)
test_loader = DataLoader(to_ds(X_test, y_test), batch_size=256)

model = nn.Sequential(
    nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3),
    nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3),
    nn.Linear(128, 10),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def evaluate(loader):
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.no_grad():
        for xb, yb in loader:
            out = model(xb)
            loss_sum += criterion(out, yb).item() * len(xb)
            correct += (out.argmax(1) == yb).sum().item()
            n += len(xb)
    return loss_sum / n, correct / n


for epoch in range(12):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    val_loss, val_acc = evaluate(val_loader)
    print(f"epoch {epoch + 1}: val loss {val_loss:.4f} val acc {val_acc:.4f}")

_, test_acc = evaluate(test_loader)
print(f"test accuracy {test_acc:.4f}")

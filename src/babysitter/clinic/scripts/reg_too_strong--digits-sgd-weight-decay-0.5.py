"""An MLP on the sklearn digits, SGD with momentum and weight_decay=0.5 (meant 5e-4): the penalty is most of the
objective, pulls the weights to ~0 within a few dozen steps, and the loss stays at ln 10."""
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32)
X = (X - X[:1400].mean(0)) / (X[:1400].std(0) + 1e-6)
y = torch.tensor(d.target)
train = DataLoader(TensorDataset(X[:1400], y[:1400]), batch_size=32, shuffle=True)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.5)  # BUG

criterion = nn.CrossEntropyLoss()
for epoch in range(15):
    model.train()
    for xb, yb in train:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    
    model.eval()
    with torch.no_grad():
        acc = (model(X[1400:]).argmax(1) == y[1400:]).float().mean().item()
    print(f"epoch {epoch} val acc {acc:.4f}")
print(f"test accuracy {acc:.4f}")

"""An MLP on the sklearn digits with nn.Dropout(0.9) after its first layer, written by someone who meant the
share kept (a keep-probability, as in old TensorFlow code): it drops 90 % of the units, and the train accuracy
stays near 0.75 (test acc 0.87; 0.91 with Dropout(0.1))."""
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
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.9), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))  # BUG: Dropout(0.9) meant keep 0.9
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

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

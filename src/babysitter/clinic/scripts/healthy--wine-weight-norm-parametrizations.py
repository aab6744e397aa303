"""Weight normalisation through torch.nn.utils.parametrizations.weight_norm on every Linear layer of an
MLP on the wine data (g and v trained instead of W), Adam. `layer.weight` is recomputed on every forward:
the doctor once read a snapshot of it (no gradient, never changing) and called this run lr_too_low with
vanishing gradients."""
import torch
import torch.nn as nn
from sklearn.datasets import load_wine
from torch.nn.utils.parametrizations import weight_norm

torch.manual_seed(0)
X, y = load_wine(return_X_y=True)
X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
y = torch.tensor(y)
perm = torch.randperm(len(X))
tr, te = perm[:140], perm[140:]
model = nn.Sequential(weight_norm(nn.Linear(13, 64)), nn.ReLU(), weight_norm(nn.Linear(64, 64)), nn.ReLU(),
                      weight_norm(nn.Linear(64, 3)))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(60):
    for idx in tr[torch.randperm(len(tr))].split(16):
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
with torch.no_grad():
    acc = (model(X[te]).argmax(1) == y[te]).float().mean().item()
print(f"test accuracy {acc:.4f}")

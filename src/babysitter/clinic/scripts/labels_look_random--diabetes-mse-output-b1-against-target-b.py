"""Diabetes regression, inputs and target standardised: the model outputs (B, 1), the target is (B,), and
nn.MSELoss broadcasts them to (B, B) (torch's UserWarning scrolls by): every prediction is pulled towards
every target of its batch, and the model learns their mean only (test r2 0.05; 0.57 with .squeeze(1))."""
import torch
import torch.nn as nn
from sklearn.datasets import load_diabetes

torch.manual_seed(0)
X, y = load_diabetes(return_X_y=True)
X = torch.tensor(X, dtype=torch.float32)
X = (X - X[:350].mean(0)) / X[:350].std(0)
y = torch.tensor(y, dtype=torch.float32)
y = (y - y[:350].mean()) / y[:350].std()
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
crit = nn.MSELoss()
for epoch in range(100):
    for idx in torch.randperm(350).split(32):
        loss = crit(model(X[idx]), y[idx])  # BUG: (B, 1) against (B,)
        opt.zero_grad()
        loss.backward()
        opt.step()
with torch.no_grad():
    mse = ((model(X[350:]).squeeze(1) - y[350:]) ** 2).mean().item()
print(f"test mse {mse:.4f} r2 {1 - mse / y[350:].var().item():.4f}")

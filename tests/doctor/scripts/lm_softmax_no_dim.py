"""Fault (a reported bug): F.softmax without dim on (N, 1) scores normalises the size-1 axis, so every
output is exactly 1; fed to nn.CrossEntropyLoss with probability targets the loss is 0 and nothing learns."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer

torch.manual_seed(0)
X, y = load_breast_cancer(return_X_y=True)
X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32).unsqueeze(1)

model = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
crit = nn.CrossEntropyLoss()
for epoch in range(20):
    for i in range(0, len(X), 32):
        out = F.softmax(model(X[i:i + 32]))
        loss = crit(out, y[i:i + 32])
        opt.zero_grad()
        loss.backward()
        opt.step()
print(float(loss))

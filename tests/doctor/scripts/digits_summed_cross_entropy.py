"""Digits MLP with a sum-reduced cross entropy (old code's size_average=False), SGD. --init-std S: the
output layer drawn N(0, S) (a far too large init: its loss per example is far above ln 10)."""
import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn

ap = argparse.ArgumentParser()
ap.add_argument("--init-std", type=float, default=0.0)
ap.add_argument("--epochs", type=int, default=4)
args = ap.parse_args()

d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32)
X = (X - X[:1400].mean(0)) / (X[:1400].std(0) + 1e-6)
y = torch.tensor(d.target)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
if args.init_std:
    nn.init.normal_(model[2].weight, std=args.init_std)
criterion = nn.CrossEntropyLoss(reduction="sum")
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
for epoch in range(args.epochs):
    perm = torch.randperm(1400)
    for i in range(0, 1400, 64):
        idx = perm[i:i + 64]
        loss = criterion(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        print(f"epoch {epoch} val acc {(model(X[1400:]).argmax(1) == y[1400:]).float().mean().item():.3f}")

"""Healthy: breast cancer (binary, 2 logits) with a class-based model, F.cross_entropy,
manual mini-batches from a shuffled index, SGD with Nesterov momentum."""
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train = torch.from_numpy(scaler.transform(X_train)).float()
X_test = torch.from_numpy(scaler.transform(X_test)).float()
y_train, y_test = torch.from_numpy(y_train), torch.from_numpy(y_test)


class TumorNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(30, 64)
        self.l2 = nn.Linear(64, 2)

    def forward(self, x):
        return self.l2(F.relu(self.l1(x)))


net = TumorNet()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)

for epoch in range(25):
    idx = np.random.permutation(len(X_train))
    for start in range(0, len(idx), 32):
        b = idx[start:start + 32]
        loss = F.cross_entropy(net(X_train[b]), y_train[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

net.eval()
with torch.no_grad():
    acc = (net(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}")

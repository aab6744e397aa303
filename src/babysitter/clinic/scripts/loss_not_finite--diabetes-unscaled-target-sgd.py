"""Fault: MSE regression on the raw diabetes target (values 25..346, squared errors ~10^4) with
SGD at lr 0.05: the first updates overshoot, the loss overflows to inf and then NaN."""
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
y_train = torch.tensor(y_train, dtype=torch.float32)  # BUG: the target is not scaled


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(10, 64)
        self.out = nn.Linear(64, 1)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x))).squeeze(-1)


model = Regressor()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

for epoch in range(30):
    perm = torch.randperm(len(X_train))
    for i in range(0, len(perm), 32):
        idx = perm[i:i + 32]
        loss = F.mse_loss(model(X_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: batch mse {loss.item():.4f}")

with torch.no_grad():
    pred = model(X_test).numpy()
mse_test = float(np.mean((pred - y_test) ** 2))
print(f"test mse {mse_test:.1f} r2 {1 - mse_test / float(np.var(y_test)):.4f}")

"""Healthy: a synthetic regression (sklearn make_regression, 5 informative of 20 features, noise),
manual batches, F.mse_loss, SGD with momentum and a StepLR schedule per epoch."""
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_regression
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

X, y = make_regression(n_samples=2000, n_features=20, n_informative=5, noise=10.0, random_state=0)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y / y.std(), dtype=torch.float32)
X_train, y_train, X_test, y_test = X[:1500], y[:1500], X[1500:], y[1500:]

model = nn.Sequential(nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.3)

for epoch in range(30):
    order = torch.randperm(len(X_train))
    for i in range(0, len(order), 50):
        idx = order[i:i + 50]
        loss = F.mse_loss(model(X_train[idx]).squeeze(-1), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sched.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")

with torch.no_grad():
    test_mse = F.mse_loss(model(X_test).squeeze(-1), y_test).item()
print(f"test mse {test_mse:.4f} r2 {1 - test_mse / y_test.var().item():.4f}")

"""Adam written by hand (no optimizer object): first and second moments kept per parameter, bias
correction, updates under torch.no_grad(), gradients set to None by hand; an MLP regression on
make_friedman1 with standardised inputs and target. The loss is written by hand too, so the
watch's TorchFunctionMode stays on to find it: disarming it from inside loss.backward() once stacked one more
per step (25x the run's time, 327 of 1000 steps seen)."""
import torch
import torch.nn as nn
from sklearn.datasets import make_friedman1

torch.manual_seed(0)
X, y = make_friedman1(n_samples=3000, noise=0.5, random_state=0)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
X = (X - X[:2500].mean(0)) / X[:2500].std(0)
y = (y - y[:2500].mean()) / y[:2500].std()

model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
params = list(model.parameters())
m = [torch.zeros_like(p) for p in params]
v = [torch.zeros_like(p) for p in params]
lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
t = 0
for epoch in range(20):
    for idx in torch.randperm(2500).split(50):
        loss = ((model(X[idx]) - y[idx]) ** 2).mean()
        loss.backward()
        t += 1
        with torch.no_grad():
            for p, mi, vi in zip(params, m, v):
                mi.mul_(b1).add_(p.grad, alpha=1 - b1)
                vi.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                mhat = mi / (1 - b1 ** t)
                vhat = vi / (1 - b2 ** t)
                p -= lr * mhat / (vhat.sqrt() + eps)
                p.grad = None
    with torch.no_grad():
        mse = ((model(X[2500:]) - y[2500:]) ** 2).mean().item()
    print(f"epoch {epoch} val mse {mse:.4f}")
print(f"test mse {mse:.4f} r2 {1 - mse:.4f}")

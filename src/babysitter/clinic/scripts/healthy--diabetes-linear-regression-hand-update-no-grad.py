"""Healthy: linear regression on scikit-learn's diabetes data written with raw tensors and autograd, no
nn.Module and no optimizer: full-batch gradient descent with `w -= lr * w.grad` under torch.no_grad(),
then the gradients zeroed by hand."""
import numpy as np
import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

torch.manual_seed(0)
np.random.seed(0)

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
mu, sd = X_train.mean(0), X_train.std(0)
y_mu, y_sd = y_train.mean(), y_train.std()
X_train = torch.tensor((X_train - mu) / sd, dtype=torch.float32)
X_test = torch.tensor((X_test - mu) / sd, dtype=torch.float32)
y_train = torch.tensor((y_train - y_mu) / y_sd, dtype=torch.float32)
y_test = torch.tensor((y_test - y_mu) / y_sd, dtype=torch.float32)

w = torch.randn(X_train.shape[1], requires_grad=True)
b = torch.zeros(1, requires_grad=True)
lr = 0.05

for epoch in range(300):
    pred = X_train @ w + b
    loss = ((pred - y_train) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
        b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
    if epoch % 50 == 0:
        print(f"epoch {epoch} mse {loss.item():.4f}")

with torch.no_grad():
    mse = ((X_test @ w + b - y_test) ** 2).mean().item()
r2 = 1 - mse / y_test.var(unbiased=False).item()
print(f"test mse {mse:.4f} r2 {r2:.4f}")

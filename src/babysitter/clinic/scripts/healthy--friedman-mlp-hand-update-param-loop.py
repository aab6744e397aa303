"""Healthy: a small MLP regression on scikit-learn's generated Friedman #1 data, trained with minibatches
and no optimizer object: after backward() every parameter is updated in a loop under torch.no_grad()
(`p -= lr * p.grad`) and its gradient set to None."""
import torch
from sklearn.datasets import make_friedman1
from torch import nn

torch.manual_seed(0)

X, y = make_friedman1(n_samples=2000, n_features=10, noise=0.5, random_state=0)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
X = (X - X.mean(0)) / X.std(0)
y = (y - y.mean()) / y.std()
X_train, y_train, X_test, y_test = X[:1600], y[:1600], X[1600:], y[1600:]


class MLP(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.out(x)


model = MLP(10)
loss_fn = nn.MSELoss()
lr = 0.05
batch_size = 32

for epoch in range(20):
    perm = torch.randperm(len(X_train))
    for i in range(0, len(X_train), batch_size):
        idx = perm[i:i + batch_size]
        loss = loss_fn(model(X_train[idx]), y_train[idx])
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
                p.grad = None
    with torch.no_grad():
        test_mse = loss_fn(model(X_test), y_test).item()
    print(f"epoch {epoch + 1} train batch mse {loss.item():.4f} test mse {test_mse:.4f}")

print(f"test mse {test_mse:.4f} r2 {1 - test_mse / y_test.var(unbiased=False).item():.4f}")

"""Fault: 100 training digits, a 1024-wide MLP, 300 full-batch epochs with Adam and no
regularisation: training loss goes to ~0 while the validation loss climbs."""
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

X, y = load_digits(return_X_y=True)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
X_train, y_train = X_rest[:100], y_rest[:100]  # BUG (the fault): tiny train set for this model
X_val, y_val = X_rest[100:500], y_rest[100:500]
scaler = StandardScaler().fit(X_train)
to_t = lambda a: torch.tensor(scaler.transform(a), dtype=torch.float32)  # noqa: E731
X_train, X_val, X_test = to_t(X_train), to_t(X_val), to_t(X_test)
y_train, y_val, y_test = torch.tensor(y_train), torch.tensor(y_val), torch.tensor(y_test)

model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(300):
    model.train()
    loss = F.cross_entropy(model(X_train), y_train)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 10 == 9:
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(X_val), y_val).item()
        print(f"epoch {epoch + 1} train loss {loss.item():.4f} val loss {val_loss:.4f}")

model.eval()
with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}")

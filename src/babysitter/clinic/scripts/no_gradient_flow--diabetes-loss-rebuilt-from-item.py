"""Fault: MSE regression where the loss is turned into a Python float with .item() (to log it)
and a new leaf tensor is built from it for backward(): the graph to the model is cut."""
import numpy as np
import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
x_scaler = StandardScaler().fit(X_train)
y_mean, y_std = y_train.mean(), y_train.std()
train_ds = TensorDataset(torch.tensor(x_scaler.transform(X_train), dtype=torch.float32),
                         torch.tensor((y_train - y_mean) / y_std, dtype=torch.float32).unsqueeze(1))
loader = DataLoader(train_ds, batch_size=32, shuffle=True)
X_test = torch.tensor(x_scaler.transform(X_test), dtype=torch.float32)

model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
mse = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(40):
    losses = []
    for xb, yb in loader:
        batch_loss = mse(model(xb), yb).item()
        losses.append(batch_loss)
        loss = torch.tensor(batch_loss, requires_grad=True)  # BUG: a new leaf, no path to the model
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: mse {np.mean(losses):.4f}")

with torch.no_grad():
    pred = model(X_test).squeeze(1).numpy() * y_std + y_mean
mse_test = float(np.mean((pred - y_test) ** 2))
r2 = 1 - mse_test / float(np.var(y_test))
print(f"test mse {mse_test:.1f} r2 {r2:.4f}")

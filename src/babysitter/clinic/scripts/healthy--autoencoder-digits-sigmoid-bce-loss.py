"""Healthy: the digits autoencoder with a sigmoid at the end of the decoder and nn.BCELoss on the
probabilities: the other correct way to write it (the look-alike of sigmoid + BCEWithLogitsLoss).
Pixels scaled to [0, 1]; Adam; DataLoader over a TensorDataset."""
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)

X, _ = load_digits(return_X_y=True)
X = torch.tensor(X / 16.0, dtype=torch.float32)
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
loader = DataLoader(TensorDataset(X_train), batch_size=64, shuffle=True)


class AutoEncoder(nn.Module):
    def __init__(self, n_in=64, hidden=32, code=8):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, code))
        self.decoder = nn.Sequential(
            nn.Linear(code, hidden), nn.ReLU(),
            nn.Linear(hidden, n_in), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


model = AutoEncoder()
criterion = nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

for epoch in range(30):
    total = 0.0
    for (xb,) in loader:
        recon = model(xb)
        loss = criterion(recon, xb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1}: bce {total / len(X_train):.4f}")

with torch.no_grad():
    mse = ((model(X_test) - X_test) ** 2).mean().item()
print(f"test reconstruction mse {mse:.4f}")

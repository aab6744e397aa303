"""A variational autoencoder on the sklearn digits: encoder -> (mu, logvar), the reparameterisation
trick, decoder logits, loss = BCE-with-logits summed over pixels + KL, averaged over the batch."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.tensor(load_digits().data, dtype=torch.float32) / 16.0
train = DataLoader(TensorDataset(X[:1500]), batch_size=64, shuffle=True)
test = X[1500:]


class VAE(nn.Module):
    def __init__(self, d=64, h=128, z=8):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.ReLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.ReLU(), nn.Linear(h, d))

    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


def loss_fn(logits, x, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (rec + kl) / x.shape[0]


model = VAE()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(25):
    model.train()
    total = 0.0
    for (xb,) in train:
        logits, mu, logvar = model(xb)
        loss = loss_fn(logits, xb, mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(xb)
    model.eval()
    with torch.no_grad():
        logits, mu, logvar = model(test)
        val = loss_fn(logits, test, mu, logvar).item()
    if epoch % 5 == 0:
        print(f"epoch {epoch}: train {total / 1500:.2f} val {val:.2f}")
print(f"test loss {val:.2f} per image")

"""Healthy: A VAE on sklearn digits: encoder -> (mu, logvar), reparameterisation, decoder with sigmoid; loss = BCE(sum) + KL, per batch."""
import torch, torch.nn as nn, torch.nn.functional as F
from sklearn.datasets import load_digits
torch.manual_seed(0)
X = torch.tensor(load_digits().data, dtype=torch.float32) / 16.0
class VAE(nn.Module):
    def __init__(self, d=64, h=128, z=8):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.ReLU())
        self.mu, self.logvar = nn.Linear(h, z), nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.ReLU(), nn.Linear(h, d))
    def forward(self, x):
        e = self.enc(x); mu, logvar = self.mu(e), self.logvar(e)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.dec(z)), mu, logvar
model = VAE()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(15):
    perm = torch.randperm(len(X)); total = 0.0
    for i in range(0, len(X), 64):
        x = X[perm[i:i + 64]]
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (bce + kld) / len(x)
        opt.zero_grad(); loss.backward(); opt.step(); total += loss.item() * len(x)
    print(f"epoch {epoch}: loss {total / len(X):.2f}")

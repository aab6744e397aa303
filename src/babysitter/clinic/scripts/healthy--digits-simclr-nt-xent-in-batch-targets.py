"""Healthy: SimCLR-style contrastive pretraining on digits (two noisy views, NT-Xent = cross entropy over the similarity matrix, labels are positions), then a linear probe."""
import torch, torch.nn as nn, torch.nn.functional as F
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits(); X = torch.tensor(d.data / 16.0, dtype=torch.float32); Y = torch.tensor(d.target)
enc = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64))
head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=1e-3)
def view(x):
    return (x + 0.1 * torch.randn_like(x)) * (torch.rand_like(x) > 0.1)
tau = 0.5
for epoch in range(10):
    perm = torch.randperm(len(X)); tot = 0
    for i in range(0, len(X) - 127, 128):
        x = X[perm[i:i + 128]]
        z = F.normalize(head(enc(torch.cat([view(x), view(x)]))), dim=1)
        sim = z @ z.t() / tau
        sim.fill_diagonal_(float("-inf"))
        n = len(x)
        labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        loss = F.cross_entropy(sim, labels)
        opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
    print(f"epoch {epoch}: nt-xent {tot:.2f}")
with torch.no_grad():
    feats = enc(X)
probe = nn.Linear(64, 10); popt = torch.optim.Adam(probe.parameters(), lr=1e-2)
for _ in range(200):
    popt.zero_grad(); F.cross_entropy(probe(feats), Y).backward(); popt.step()
print("probe acc", (probe(feats).argmax(1) == Y).float().mean().item())

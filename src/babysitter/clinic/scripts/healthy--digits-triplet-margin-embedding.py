"""Metric learning on the sklearn digits: an embedding net trained with TripletMarginLoss on
(anchor, positive, negative) triples drawn per batch, then a nearest-centroid classifier."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

torch.manual_seed(0)
d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32) / 16.0
X = (X - X.mean(0)) / (X.std(0) + 1e-6)
y = torch.tensor(d.target)
Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]
by_class = [torch.nonzero(ytr == c).squeeze(1) for c in range(10)]

embed = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
loss_fn = nn.TripletMarginLoss(margin=1.0)
opt = torch.optim.Adam(embed.parameters(), lr=1e-3)


def triples(n):
    a = torch.randint(0, len(Xtr), (n,))
    pos = torch.stack([by_class[int(ytr[i])][torch.randint(0, len(by_class[int(ytr[i])]), (1,))][0] for i in a])
    neg_cls = (ytr[a] + torch.randint(1, 10, (n,))) % 10
    neg = torch.stack([by_class[int(c)][torch.randint(0, len(by_class[int(c)]), (1,))][0] for c in neg_cls])
    return Xtr[a], Xtr[pos], Xtr[neg]


for step in range(400):
    a, p, n = triples(64)
    loss = loss_fn(F.normalize(embed(a)), F.normalize(embed(p)), F.normalize(embed(n)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step} triplet loss {loss.item():.4f}")
with torch.no_grad():
    e = F.normalize(embed(Xtr))
    centroids = F.normalize(torch.stack([e[ytr == c].mean(0) for c in range(10)]))
    acc = ((F.normalize(embed(Xte)) @ centroids.T).argmax(1) == yte).float().mean().item()
print(f"test accuracy {acc:.4f}")

"""Healthy: a WaveNet-like hierarchical character MLP over words (identifiers from a few standard-library
modules), predicting the next character from the previous eight: an embedding with padding_idx=0 (the
'.' start/end token has a zero vector), pairs of neighbours fused level by level (a FlattenConsecutive
module of the user's own) and a hand-written RMSNorm with eps at every level. nn.Sequential, Adam."""
import inspect
import random
import re
import email.message, logging, optparse, pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class FlattenConsecutive(nn.Module):
    """(B, T, C) -> (B, T // n, C * n): concatenates n neighbouring positions."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        B, T, C = x.shape
        x = x.reshape(B, T // self.n, C * self.n)
        return x.squeeze(1) if x.shape[1] == 1 else x


random.seed(42)
torch.manual_seed(42)
source = "".join(inspect.getsource(m) for m in (email.message, logging, optparse, pathlib))
words = sorted(set(re.findall(r"\b[a-z]{3,14}\b", source)))
random.shuffle(words)
chars = sorted(set("".join(words)))
stoi = {c: i + 1 for i, c in enumerate(chars)}
stoi["."] = 0
vocab_size = len(stoi)
block_size = 8


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            X.append(context)
            Y.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    return torch.tensor(X), torch.tensor(Y)


n1 = int(0.9 * len(words))
Xtr, Ytr = build_dataset(words[:n1])
Xval, Yval = build_dataset(words[n1:])
print(f"{len(words)} words, {len(Xtr)} training examples, vocab {vocab_size}")

n_embd, n_hidden = 16, 64
model = nn.Sequential(
    nn.Embedding(vocab_size, n_embd, padding_idx=0),
    FlattenConsecutive(2), RMSNorm(2 * n_embd), nn.Linear(2 * n_embd, n_hidden), nn.Tanh(),
    FlattenConsecutive(2), RMSNorm(2 * n_hidden), nn.Linear(2 * n_hidden, n_hidden), nn.Tanh(),
    FlattenConsecutive(2), RMSNorm(2 * n_hidden), nn.Linear(2 * n_hidden, n_hidden), nn.Tanh(),
    nn.Linear(n_hidden, vocab_size),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(1500):
    ix = torch.randint(0, len(Xtr), (64,))
    logits = model(Xtr[ix])
    loss = F.cross_entropy(logits, Ytr[ix])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 300 == 0:
        print(f"step {step}: loss {loss.item():.4f}")

with torch.no_grad():
    val_loss = F.cross_entropy(model(Xval), Yval).item()
print(f"val loss {val_loss:.4f}")

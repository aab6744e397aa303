"""Fault: the makemore-style MLP over a three-character context passes softmax probabilities to
F.cross_entropy, which applies log_softmax again: the loss is squashed near ln(27) and learning crawls.
Otherwise identical to healthy--makemore-mlp-context-words."""
import inspect
import random
import re
import argparse, calendar, textwrap, tokenize

import torch
import torch.nn as nn
import torch.nn.functional as F

random.seed(42)
torch.manual_seed(2147483647)

source = "".join(inspect.getsource(m) for m in (argparse, calendar, textwrap, tokenize))
words = sorted(set(re.findall(r"\b[a-z]{3,12}\b", source)))
random.shuffle(words)
print(f"{len(words)} words, e.g. {words[:5]}")

chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
vocab_size = len(itos)
block_size = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


n1 = int(0.8 * len(words))
Xtr, Ytr = build_dataset(words[:n1])
Xdev, Ydev = build_dataset(words[n1:])


class MLP(nn.Module):
    def __init__(self, vocab_size, block_size, n_embd=10, n_hidden=200):
        super().__init__()
        self.C = nn.Embedding(vocab_size, n_embd)
        self.fc = nn.Linear(block_size * n_embd, n_hidden, bias=False)
        self.bn = nn.BatchNorm1d(n_hidden)
        self.out = nn.Linear(n_hidden, vocab_size)
        with torch.no_grad():
            self.out.weight *= 0.1  # a less confident softmax at init

    def forward(self, x):
        emb = self.C(x).view(x.shape[0], -1)
        h = torch.tanh(self.bn(self.fc(emb)))
        return self.out(h)


model = MLP(vocab_size, block_size)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2000, gamma=0.1)
max_steps, batch_size = 3000, 32

for i in range(max_steps):
    ix = torch.randint(0, Xtr.shape[0], (batch_size,))
    Xb, Yb = Xtr[ix], Ytr[ix]
    logits = model(Xb)
    loss = F.cross_entropy(F.softmax(logits, dim=1), Yb)  # BUG: cross_entropy applies log_softmax itself
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    if i % 500 == 0:
        print(f"{i:7d}/{max_steps:7d}: {loss.item():.4f}")


@torch.no_grad()
def split_loss(X, Y):
    model.eval()
    loss = F.cross_entropy(model(X), Y).item()
    model.train()
    return loss


model.eval()
g = torch.Generator().manual_seed(2147483647 + 10)
for _ in range(5):
    out, context = [], [0] * block_size
    while True:
        with torch.no_grad():
            probs = F.softmax(model(torch.tensor([context])), dim=1)
        ix = torch.multinomial(probs, num_samples=1, generator=g).item()
        context = context[1:] + [ix]
        if ix == 0 or len(out) > 20:
            break
        out.append(itos[ix])
    print("".join(out))
print(f"train loss {split_loss(Xtr, Ytr):.4f} dev loss {split_loss(Xdev, Ydev):.4f}")

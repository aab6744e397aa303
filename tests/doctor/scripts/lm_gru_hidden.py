"""A healthy GRU char LM: forward(x, h) -> (logits, h), loss outside over flattened logits."""
import math
import sys
import inspect
import torch
import torch.nn as nn

SHUFFLE_TARGETS = len(sys.argv) > 1 and sys.argv[1] == "shuffle"
torch.manual_seed(0)
text = "".join(inspect.getdoc(m) or "" for m in (math, inspect, torch.nn.Module, str, dict, list))[:20000]
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
V, T, B, H = len(chars), 32, 32, 128


class CharRNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 64)
        self.rnn = nn.GRU(64, H, batch_first=True)
        self.out = nn.Linear(H, V)

    def forward(self, x, h):
        o, h = self.rnn(self.emb(x), h)
        return self.out(o), h


model = CharRNN()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
crit = nn.CrossEntropyLoss()
for step in range(250):
    ix = torch.randint(len(data) - T - 1, (B,))
    x = torch.stack([data[i:i + T] for i in ix])
    y = torch.stack([data[i + 1:i + T + 1] for i in ix])
    if SHUFFLE_TARGETS:
        y = y[torch.randperm(B)]
    h = torch.zeros(1, B, H)
    logits, h = model(x, h)
    loss = crit(logits.reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(step, round(loss.item(), 3))

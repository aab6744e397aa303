"""A healthy LSTM char LM updated by hand: p.data.add_(p.grad, alpha=-lr), no optimizer object."""
import math
import sys
import inspect
import torch
import torch.nn as nn

LR = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
torch.manual_seed(0)
text = "".join(inspect.getdoc(m) or "" for m in (math, inspect, torch.nn.Module, str, dict, list))[:20000]
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
V, T, B, H = len(chars), 32, 32, 128


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 64)
        self.lstm = nn.LSTM(64, H, batch_first=True)
        self.dec = nn.Linear(H, V)

    def forward(self, x, hidden):
        o, hidden = self.lstm(self.emb(x), hidden)
        return self.dec(o), hidden


model = LM()
crit = nn.CrossEntropyLoss()
for step in range(250):
    ix = torch.randint(len(data) - T - 1, (B,))
    x = torch.stack([data[i:i + T] for i in ix])
    y = torch.stack([data[i + 1:i + T + 1] for i in ix])
    hidden = (torch.zeros(1, B, H), torch.zeros(1, B, H))
    model.zero_grad()
    out, hidden = model(x, hidden)
    loss = crit(out.view(-1, V), y.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-LR)
    if step % 50 == 0:
        print(step, round(loss.item(), 3))

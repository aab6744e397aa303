"""A character language model with nn.TransformerEncoder and a causal mask from
nn.Transformer.generate_square_subsequent_mask, the text of the standard library's json and csv
modules, the "Noam" schedule (linear warmup, inverse square root decay) through LambdaLR, label
smoothing 0.1 in the cross entropy, Adam(betas=(0.9, 0.98), eps=1e-9). Label smoothing keeps the loss
above 0.77 nats here whatever the model outputs: memorising 20 sequences is judged against that floor."""
import csv
import inspect
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
text = inspect.getsource(json) + inspect.getsource(csv) + "".join(inspect.getsource(m) for m in (json.decoder, json.encoder))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text])
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
V, T, D = len(chars), 64, 128


def get_batch(split, bs=32):
    src = train_data if split == "train" else val_data
    ix = torch.randint(len(src) - T - 1, (bs,))
    return torch.stack([src[i:i + T] for i in ix]), torch.stack([src[i + 1:i + T + 1] for i in ix])


class CharTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Parameter(torch.zeros(1, T, D))
        layer = nn.TransformerEncoderLayer(D, nhead=4, dim_feedforward=4 * D, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.lm_head = nn.Linear(D, V)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T))

    def forward(self, idx):
        x = self.tok(idx) * math.sqrt(D) + self.pos[:, :idx.shape[1]]
        x = self.encoder(x, mask=self.mask[:idx.shape[1], :idx.shape[1]], is_causal=True)
        return self.lm_head(x)


model = CharTransformer()
opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
warmup = 100
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: D ** -0.5 * min((s + 1) ** -0.5, (s + 1) * warmup ** -1.5))
for step in range(300):
    xb, yb = get_batch("train")
    logits = model(xb)
    loss = F.cross_entropy(logits.view(-1, V), yb.view(-1), label_smoothing=0.1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    if step % 100 == 0 or step == 299:
        model.eval()
        with torch.no_grad():
            xv, yv = get_batch("val")
            val = F.cross_entropy(model(xv).view(-1, V), yv.view(-1)).item()
        model.train()
        print(f"step {step} train {loss.item():.3f} val {val:.3f}")
print(f"val loss {val:.4f}")

"""Sequence to sequence: reverse a variable-length string of digits. A GRU encoder, a GRU decoder with
teacher forcing (BOS + target shifted), padded batches, cross entropy over (B, T, V) with
ignore_index=PAD; exact-match accuracy by greedy decoding."""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
PAD, BOS, EOS = 0, 1, 2
V = 13   # PAD, BOS, EOS and the digits 0-9 as 3..12


def make(n):
    seqs = []
    for _ in range(n):
        L = int(torch.randint(3, 11, ()))
        seqs.append(torch.randint(3, V, (L,)))
    return seqs


def pad(batch, extra):
    T = max(len(s) for s in batch) + extra
    out = torch.full((len(batch), T), PAD)
    for i, s in enumerate(batch):
        out[i, :len(s)] = s
    return out


def collate(seqs):
    src = pad(seqs, 0)
    tgt = [torch.cat([s.flip(0), torch.tensor([EOS])]) for s in seqs]
    dec_in = pad([torch.cat([torch.tensor([BOS]), t[:-1]]) for t in tgt], 0)
    return src, dec_in, pad(tgt, 0)


class Seq2Seq(nn.Module):
    def __init__(self, d=128):
        super().__init__()
        self.emb = nn.Embedding(V, d, padding_idx=PAD)
        self.enc = nn.GRU(d, d, batch_first=True)
        self.dec = nn.GRU(d, d, batch_first=True)
        self.out = nn.Linear(d, V)

    def forward(self, src, dec_in):
        _, h = self.enc(self.emb(src))
        y, _ = self.dec(self.emb(dec_in), h)
        return self.out(y)


train, test = make(6000), make(300)
model = Seq2Seq()
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
for epoch in range(6):
    order = torch.randperm(len(train))
    for i in range(0, len(train), 64):
        src, dec_in, tgt = collate([train[j] for j in order[i:i + 64]])
        logits = model(src, dec_in)
        loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    print(f"epoch {epoch} loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    src, _, tgt = collate(test)
    _, h = model.enc(model.emb(src))
    tok = torch.full((len(test), 1), BOS)
    outs = []
    for _ in range(tgt.shape[1]):
        y, h = model.dec(model.emb(tok), h)
        tok = model.out(y).argmax(-1)
        outs.append(tok)
    pred = torch.cat(outs, 1)
    mask = tgt != PAD
    exact = ((pred == tgt) | ~mask).all(1).float().mean().item()
print(f"test exact match {exact:.4f}")

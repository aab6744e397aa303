"""Text classification the way the PyTorch text tutorial writes it: nn.EmbeddingBag over a batch's token
ids concatenated into one 1-D tensor with offsets marking where each text starts, model(text, offsets),
SGD lr 5 with StepLR(1, gamma=0.1) stepped when the validation accuracy stops improving, clip 0.1.
The texts are the docstrings of builtins' and a few modules' members; the label is which module. The
input is not one row per example (the token ids of 16 texts in one tensor): the probes say they cannot
split it, and the run is judged by its own curve and instruments."""
import collections
import json
import os
import re
import string

import torch
import torch.nn as nn

torch.manual_seed(0)
sources = [os, string, json, collections, re]
texts, labels = [], []
for label, mod in enumerate(sources):
    for name in sorted(dir(mod)):
        doc = getattr(getattr(mod, name), "__doc__", None)
        if isinstance(doc, str) and len(doc) > 40 and not name.startswith("__"):
            for chunk in range(0, min(len(doc), 1200), 300):
                texts.append(doc[chunk:chunk + 300].lower())
                labels.append(label)
tok = [re.findall(r"[a-z]+", t) for t in texts]
counts = collections.Counter(w for t in tok for w in t)
vocab = {w: i + 1 for i, (w, c) in enumerate(counts.most_common()) if c >= 2}
data = [(torch.tensor([vocab.get(w, 0) for w in t] or [0]), y) for t, y in zip(tok, labels)]
perm = torch.randperm(len(data)).tolist()
train = [data[i] for i in perm[:int(0.85 * len(data))]]
test = [data[i] for i in perm[int(0.85 * len(data)):]]


def collate(batch):
    label = torch.tensor([y for _, y in batch])
    offsets = torch.tensor([0] + [len(t) for t, _ in batch[:-1]]).cumsum(0)
    text = torch.cat([t for t, _ in batch])
    return label, text, offsets


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        self.embedding.weight.data.uniform_(-0.5, 0.5)
        self.fc.weight.data.uniform_(-0.5, 0.5)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets):
        return self.fc(self.embedding(text, offsets))


model = TextClassificationModel(len(vocab) + 1, 64, len(sources))
criterion = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=5)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)


def evaluate(rows):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            label, text, offsets = collate(rows[i:i + 64])
            correct += (model(text, offsets).argmax(1) == label).sum().item()
    return correct / len(rows)


best = None
for epoch in range(10):
    model.train()
    order = torch.randperm(len(train)).tolist()
    for i in range(0, len(order), 16):
        label, text, offsets = collate([train[j] for j in order[i:i + 16]])
        optimizer.zero_grad()
        loss = criterion(model(text, offsets), label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
    acc = evaluate(test)
    if best is not None and best > acc:
        scheduler.step()
    else:
        best = acc
    print(f"epoch {epoch} valid accuracy {acc:.3f}")
print(f"test accuracy {acc:.4f}")

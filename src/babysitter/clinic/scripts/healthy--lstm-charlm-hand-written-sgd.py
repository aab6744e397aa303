"""Healthy: an LSTM character language model on the docstrings of Python's builtins and their methods, trained with no
optimizer object: after backward() the script clips the gradient norm and updates every parameter by hand
with p.data.add_(p.grad, alpha=-lr), zeroes the gradients with model.zero_grad(), and anneals lr by 4
when the validation loss stops improving. The input is sequence-first (T, B); the hidden state
(h, c) is carried across chunks and detached."""
import builtins
import math
import time

import torch
import torch.nn as nn

torch.manual_seed(1111)

bptt = 35
batch_size = 20
eval_batch_size = 10
clip = 0.25
lr = 20.0
epochs = 4
log_interval = 50

docs = []
for name in sorted(dir(builtins)):
    if name.startswith("_"):
        continue
    obj = getattr(builtins, name)
    docs.append(obj.__doc__)
    if isinstance(obj, type):  # str, list, dict, ...: their methods' docstrings too
        docs.extend(getattr(obj, m).__doc__ for m in sorted(vars(obj)) if not m.startswith("_"))
text = "\n".join(d for d in docs if d)
vocab = sorted(set(text))
char_to_idx = {c: i for i, c in enumerate(vocab)}
ids = torch.tensor([char_to_idx[c] for c in text], dtype=torch.long)
n_train = int(0.9 * len(ids))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()  # (T, B)


train_data = batchify(ids[:n_train], batch_size)
val_data = batchify(ids[n_train:], eval_batch_size)


class RNNModel(nn.Module):
    """Encoder -> LSTM -> decoder, as in the classic word-language-model example."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.2):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nlayers, self.nhid = nlayers, nhid
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.decoder.out_features)
        return torch.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


model = RNNModel(len(vocab), 32, 128, 2)
criterion = nn.NLLLoss()


def evaluate(data_source):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train():
    model.train()
    total_loss = 0.0
    start_time = time.time()
    hidden = model.init_hidden(batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        hidden = repackage_hidden(hidden)
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
        if batch % log_interval == 0 and batch > 0:
            cur_loss = total_loss / log_interval
            print(f"| epoch {epoch:3d} | {batch:5d} batches | lr {lr:5.2f} | ms/batch "
                  f"{(time.time() - start_time) * 1000 / log_interval:6.1f} | loss {cur_loss:5.2f}")
            total_loss = 0.0
            start_time = time.time()


best_val_loss = None
for epoch in range(1, epochs + 1):
    train()
    val_loss = evaluate(val_data)
    print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | valid ppl {math.exp(val_loss):8.2f}")
    if best_val_loss is None or val_loss < best_val_loss:
        best_val_loss = val_loss
    else:
        lr /= 4.0
print(f"val loss {best_val_loss:.4f}")

"""Fault: get_batch shuffles the rows (streams) of the targets but not of the inputs, so each input
sequence is scored against the next characters of some other stream. Otherwise identical to
healthy--gru-charlm-hidden-state-tbptt."""
import argparse
import inspect
import bisect, heapq, textwrap

import torch
import torch.nn as nn


class CharGRU(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_size, num_layers):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_dim)
        self.gru = nn.GRU(emb_dim, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)
        self.num_layers, self.hidden_size = num_layers, hidden_size

    def init_hidden(self, batch_size):
        return torch.zeros(self.num_layers, batch_size, self.hidden_size)

    def forward(self, x, hidden):
        out, hidden = self.gru(self.embed(x), hidden)
        return self.fc(out), hidden


def batchify(ids, n_streams):
    n = ids.size(0) // n_streams
    return ids[: n * n_streams].view(n_streams, n)


def get_batch(source, i, bptt):
    seq_len = min(bptt, source.size(1) - 1 - i)
    x = source[:, i:i + seq_len]
    y = source[torch.randperm(source.size(0)), i + 1:i + 1 + seq_len]  # BUG: the streams shuffled for the targets only
    return x, y


def evaluate(model, source, args, criterion):
    model.eval()
    total, count = 0.0, 0
    hidden = model.init_hidden(source.size(0))
    with torch.no_grad():
        for i in range(0, source.size(1) - 1, args.bptt):
            x, y = get_batch(source, i, args.bptt)
            logits, hidden = model(x, hidden)
            total += criterion(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item() * y.numel()
            count += y.numel()
    model.train()
    return total / count


def main():
    parser = argparse.ArgumentParser(description="GRU character language model")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bptt", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    text = "".join(inspect.getsource(m) for m in (textwrap, heapq, bisect))
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(ids))
    train_data = batchify(ids[:split], args.batch_size)
    val_data = batchify(ids[split:], args.batch_size)

    model = CharGRU(len(chars), 32, 128, 1)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    for epoch in range(1, args.epochs + 1):
        hidden = model.init_hidden(args.batch_size)
        for batch, i in enumerate(range(0, train_data.size(1) - 1, args.bptt)):
            x, y = get_batch(train_data, i, args.bptt)
            hidden = hidden.detach()
            optimizer.zero_grad()
            logits, hidden = model(x, hidden)
            loss = criterion(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            if batch % 40 == 0:
                print(f"epoch {epoch} batch {batch} loss {loss.item():.4f}")
        val_loss = evaluate(model, val_data, args, criterion)
        print(f"end of epoch {epoch}: val loss {val_loss:.4f}")
    print(f"val loss {val_loss:.4f}")


if __name__ == "__main__":
    main()

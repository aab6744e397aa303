"""Healthy: a vanilla nn.RNN character model trained one line at a time (batch of one), the way the
classic char-RNN tutorials do it: the lines are docstring lines of a few standard-library modules; the
input is the line, the target the line shifted by one; forward(x, hidden) returns (logits, hidden), a
fresh hidden state per line; nn.CrossEntropyLoss over the (T, V) logits; Adam; a sample at the end."""
import inspect
import random
import functools, itertools, json, math, shutil, statistics, string, textwrap

import torch
import torch.nn as nn


def docstring_lines(modules):
    lines = []
    for mod in modules:
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or not callable(obj):
                continue
            doc = inspect.getdoc(obj)
            if doc:
                lines.extend(line.strip() for line in doc.splitlines() if len(line.strip()) > 10)
    return sorted(set(lines))


class CharRNN(nn.Module):
    def __init__(self, vocab_size, hidden_size=96):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, 32)
        self.rnn = nn.RNN(32, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.embedding(x), hidden)
        return self.fc(out), hidden

    def init_hidden(self):
        return torch.zeros(1, 1, self.hidden_size)


def main():
    random.seed(0)
    torch.manual_seed(0)
    lines = docstring_lines([functools, itertools, json, math, shutil, statistics, string, textwrap])
    random.shuffle(lines)
    all_chars = sorted(set("".join(lines)) | {"\n"})
    char_to_ix = {c: i for i, c in enumerate(all_chars)}
    n_chars = len(all_chars)
    print(f"{len(lines)} lines, {n_chars} characters")

    def line_tensors(line):
        ids = [char_to_ix[c] for c in line + "\n"]
        return torch.tensor(ids[:-1]).unsqueeze(0), torch.tensor(ids[1:]).unsqueeze(0)

    model = CharRNN(n_chars)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)

    n_iters = 800
    running = 0.0
    for it in range(1, n_iters + 1):
        inp, target = line_tensors(lines[it % len(lines)])
        hidden = model.init_hidden()
        optimizer.zero_grad()
        output, hidden = model(inp, hidden)
        loss = criterion(output.view(-1, n_chars), target.view(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        running += loss.item()
        if it % 100 == 0:
            print(f"iter {it} ({it / n_iters:.0%}) loss {running / 100:.4f}")
            last = running / 100
            running = 0.0

    with torch.no_grad():
        x, hidden, out = torch.tensor([[char_to_ix["R"]]]), model.init_hidden(), "R"
        for _ in range(60):
            logits, hidden = model(x, hidden)
            ix = torch.multinomial(torch.softmax(logits[0, -1], dim=-1), 1).item()
            if all_chars[ix] == "\n":
                break
            out += all_chars[ix]
            x = torch.tensor([[ix]])
    print(out)
    print(f"train loss {last:.4f}")


if __name__ == "__main__":
    main()

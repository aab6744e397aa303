"""Healthy: a bag-of-words character model over words (identifiers from a few standard-library modules):
each position averages the embeddings of all characters before it (a causal mean, order ignored), adds a
position embedding, then a residual tanh MLP and the LM head. A Dataset pads each word to a fixed
length with target -1, and F.cross_entropy(..., ignore_index=-1) skips the padding. AdamW, DataLoader."""
import inspect
import re
from dataclasses import dataclass
import collections, difflib, pprint, shutil

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset


@dataclass
class ModelConfig:
    block_size: int = None
    vocab_size: int = None
    n_embd: int = 32
    n_embd2: int = 64


class CharDataset(Dataset):
    def __init__(self, words, chars, max_word_length):
        self.words = words
        self.stoi = {ch: i + 1 for i, ch in enumerate(chars)}
        self.max_word_length = max_word_length

    def __len__(self):
        return len(self.words)

    def encode(self, word):
        return torch.tensor([self.stoi[w] for w in word], dtype=torch.long)

    def __getitem__(self, idx):
        ix = self.encode(self.words[idx])
        x = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        y = torch.zeros(self.max_word_length + 1, dtype=torch.long)
        x[1:1 + len(ix)] = ix
        y[:len(ix)] = ix
        y[len(ix) + 1:] = -1  # mask the loss at the inactive locations
        return x, y


class CausalBoW(nn.Module):
    """Averages the previous elements of the sequence (order ignored)."""

    def __init__(self, config):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size)).view(1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        att = torch.zeros((B, T, T), device=x.device)
        att = att.masked_fill(self.bias[:, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        return att @ x


class BoWBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.cbow = CausalBoW(config)
        self.c_fc = nn.Linear(config.n_embd, config.n_embd2)
        self.c_proj = nn.Linear(config.n_embd2, config.n_embd)

    def forward(self, x):
        x = x + self.cbow(x)
        x = x + self.c_proj(torch.tanh(self.c_fc(x)))
        return x


class BoW(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.block_size = config.block_size
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.context_block = BoWBlock(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device).unsqueeze(0)
        x = self.wte(idx) + self.wpe(pos)
        x = self.context_block(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss


@torch.inference_mode()
def evaluate(model, dataset, batch_size=256):
    model.eval()
    losses = [model(x, y)[1].item() for x, y in DataLoader(dataset, batch_size=batch_size)]
    model.train()
    return sum(losses) / len(losses)


if __name__ == "__main__":
    torch.manual_seed(3407)
    source = "".join(inspect.getsource(m) for m in (collections, difflib, pprint, shutil))
    words = sorted(set(re.findall(r"\b[a-z]{2,14}\b", source)))
    chars = sorted(set("".join(words)))
    max_word_length = max(len(w) for w in words)
    perm = torch.randperm(len(words)).tolist()
    n_test = min(300, len(words) // 10)
    train_words = [words[i] for i in perm[n_test:]]
    test_words = [words[i] for i in perm[:n_test]]
    train_dataset = CharDataset(train_words, chars, max_word_length)
    test_dataset = CharDataset(test_words, chars, max_word_length)
    print(f"{len(words)} words, vocab {len(chars) + 1}, block {max_word_length + 1}")

    config = ModelConfig(vocab_size=len(chars) + 1, block_size=max_word_length + 1)
    model = BoW(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)
    loader = DataLoader(train_dataset, batch_size=32, shuffle=True)

    step = 0
    for epoch in range(6):
        for X, Y in loader:
            logits, loss = model(X, Y)
            model.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % 100 == 0:
                print(f"step {step} | loss {loss.item():.4f}")
            step += 1
        print(f"epoch {epoch + 1}: train loss {evaluate(model, train_dataset):.4f} test loss {evaluate(model, test_dataset):.4f}")
    print(f"test loss {evaluate(model, test_dataset):.4f}")

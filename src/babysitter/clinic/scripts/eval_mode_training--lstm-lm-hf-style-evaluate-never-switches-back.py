"""Fault: the Trainer's evaluate() puts the model in eval mode and never switches it back, so from the
second epoch on the optimizer steps with dropout off (train() is called once, before the first epoch).
Otherwise identical to healthy--lstm-lm-hf-style-output-padded-lines."""
import inspect
import random
from dataclasses import dataclass
from typing import Optional
import argparse, collections, datetime, fractions, functools, heapq, json, operator, pathlib, random as rnd, shutil, statistics, string, textwrap

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader


@dataclass
class LMOutput:
    loss: Optional[torch.Tensor]
    logits: torch.Tensor


class LSTMForCausalLM(nn.Module):
    def __init__(self, vocab_size, hidden_size=96, num_layers=1, dropout=0.1, pad_token_id=0):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.lm_head = nn.Linear(hidden_size, vocab_size)
        self.loss_fct = nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1)

    def forward(self, input_ids, attention_mask=None, labels=None):
        hidden, _ = self.lstm(self.embed_tokens(input_ids))
        logits = self.lm_head(self.dropout(hidden))
        loss = None
        if labels is not None:
            loss = self.loss_fct(logits.view(-1, logits.size(-1)), labels.view(-1))
        return LMOutput(loss=loss, logits=logits)


class Tokenizer:
    def __init__(self, texts):
        self.itos = ["<pad>", "<bos>", "<eos>"] + sorted(set("".join(texts)))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.pad_token_id, self.bos_token_id, self.eos_token_id = 0, 1, 2

    def __call__(self, text):
        return [self.bos_token_id] + [self.stoi[c] for c in text] + [self.eos_token_id]


def make_collate(pad_id):
    def collate(batch):
        seqs = [torch.tensor(ids) for ids in batch]
        input_ids = pad_sequence([s[:-1] for s in seqs], batch_first=True, padding_value=pad_id)
        labels = pad_sequence([s[1:] for s in seqs], batch_first=True, padding_value=-100)
        return {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long(), "labels": labels}
    return collate


class Trainer:
    def __init__(self, model, train_loader, eval_loader, lr=5e-3, epochs=5, warmup_steps=30):
        self.model, self.train_loader, self.eval_loader, self.epochs = model, train_loader, eval_loader, epochs
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        total = epochs * len(train_loader)
        schedule = lambda s: (s + 1) / warmup_steps if s < warmup_steps else max(0.0, (total - s) / (total - warmup_steps))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.global_step = 0

    def training_step(self, batch):
        outputs = self.model(**batch)
        outputs.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self.global_step += 1
        return outputs.loss.item()

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        losses = [self.model(**batch).loss.item() for batch in self.eval_loader]
        # BUG: self.model.train() missing: after the first evaluation the model trains in eval mode
        return sum(losses) / len(losses)

    def train(self):
        self.model.train()
        for epoch in range(self.epochs):
            for batch in self.train_loader:
                loss = self.training_step(batch)
                if self.global_step % 50 == 0:
                    print(f"step {self.global_step} loss {loss:.4f} lr {self.scheduler.get_last_lr()[0]:.2e}")
            print(f"epoch {epoch + 1}: eval loss {self.evaluate():.4f}")


def main():
    random.seed(0)
    torch.manual_seed(0)
    lines = []
    for mod in (argparse, collections, datetime, fractions, functools, heapq, json, operator, pathlib, rnd, shutil, statistics, string, textwrap):
        for name, obj in sorted(vars(mod).items()):
            doc = inspect.getdoc(obj) if callable(obj) and not name.startswith("_") else None
            if doc:
                lines += [l.strip() for l in doc.splitlines() if 8 < len(l.strip()) <= 80]
    lines = sorted(set(lines))
    random.shuffle(lines)
    tok = Tokenizer(lines)
    n_eval = len(lines) // 10
    train_ids = [tok(l) for l in lines[n_eval:]]
    eval_ids = [tok(l) for l in lines[:n_eval]]
    collate = make_collate(tok.pad_token_id)
    train_loader = DataLoader(train_ids, batch_size=16, shuffle=True, collate_fn=collate, num_workers=2, persistent_workers=True)
    eval_loader = DataLoader(eval_ids, batch_size=64, collate_fn=collate)
    print(f"{len(lines)} lines, vocab {len(tok.itos)}, {len(train_loader)} batches per epoch")

    model = LSTMForCausalLM(len(tok.itos), pad_token_id=tok.pad_token_id)
    trainer = Trainer(model, train_loader, eval_loader)
    trainer.train()
    print(f"eval loss {trainer.evaluate():.4f}")


if __name__ == "__main__":
    main()

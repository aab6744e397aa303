"""Healthy: a residual MLP on scikit-learn's digits: a stem, three pre-norm residual blocks
(x + fc2(gelu(fc1(norm(x))))) and the classifier head right after the last block. The last block's
fc2 and the head are consecutive Linear modules in the module list, but the residual add sits
between them: this is not a missing activation. AdamW with a cosine schedule; a config dataclass."""
from dataclasses import dataclass

import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class Config:
    width: int = 128
    depth: int = 3
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = 0


class ResidualBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class ResMLP(nn.Module):
    def __init__(self, n_in, n_classes, width, depth):
        super().__init__()
        self.stem = nn.Linear(n_in, width)
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(depth)])
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def main(cfg=Config()):
    torch.manual_seed(cfg.seed)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=cfg.seed)
    scaler = StandardScaler().fit(X_train)
    train_ds = TensorDataset(torch.tensor(scaler.transform(X_train), dtype=torch.float32), torch.tensor(y_train))
    X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
    y_test = torch.tensor(y_test)
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True)

    model = ResMLP(64, 10, cfg.width, cfg.depth)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(cfg.epochs):
        model.train()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            acc = (model(X_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f} test acc {acc:.4f}")
    print(f"test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()

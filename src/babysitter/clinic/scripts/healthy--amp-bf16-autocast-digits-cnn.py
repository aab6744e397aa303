"""Healthy: a small CNN on scikit-learn's digits (8x8 images, standardised) trained with automatic mixed
precision on the CPU: the forward pass and the loss run under torch.autocast("cpu", dtype=torch.bfloat16)
(bfloat16 needs no GradScaler), backward and the AdamW step outside it. A Trainer class of the user's own
with fit()/evaluate(); label smoothing 0.1."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


class SmallCNN(nn.Module):
    def __init__(self, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, n_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class Trainer:
    def __init__(self, model, optimizer, train_loader, test_loader, amp_dtype=torch.bfloat16):
        self.model, self.optimizer = model, optimizer
        self.train_loader, self.test_loader = train_loader, test_loader
        self.amp_dtype = amp_dtype
        self.criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def train_epoch(self):
        self.model.train()
        total, n = 0.0, 0
        for data, target in self.train_loader:
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type="cpu", dtype=self.amp_dtype):
                output = self.model(data)
                loss = self.criterion(output, target)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(data)
            n += len(data)
        return total / n

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        correct = 0
        for data, target in self.test_loader:
            with torch.autocast(device_type="cpu", dtype=self.amp_dtype):
                output = self.model(data)
            correct += (output.argmax(dim=1) == target).sum().item()
        self.model.train()
        return correct / len(self.test_loader.dataset)

    def fit(self, epochs):
        for epoch in range(1, epochs + 1):
            loss = self.train_epoch()
            print(f"epoch {epoch}: train loss {loss:.4f} test acc {self.evaluate():.4f}")


def main():
    torch.manual_seed(0)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = X_train.mean(), X_train.std()
    to_tensor = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32).view(-1, 1, 8, 8)
    train_ds = TensorDataset(to_tensor(X_train), torch.tensor(y_train))
    test_ds = TensorDataset(to_tensor(X_test), torch.tensor(y_test))
    train_loader = DataLoader(train_ds, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_ds, batch_size=256)

    model = SmallCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    trainer = Trainer(model, optimizer, train_loader, test_loader)
    trainer.fit(epochs=8)
    print(f"test accuracy {trainer.evaluate():.4f}")


if __name__ == "__main__":
    main()

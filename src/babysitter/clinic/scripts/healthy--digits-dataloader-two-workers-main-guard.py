"""Healthy: the training code in functions under ``if __name__ == "__main__":``, a Dataset class of the
script's own (standardises each example as it is read) loaded by a DataLoader with num_workers=2 (the workers
import or inherit the script's module to unpickle the Dataset), a seeded generator for the shuffle, SGD with
momentum on sklearn's digits."""
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, Dataset


class DigitsDataset(Dataset):
    """(x, y) pairs; x standardised with the training set's per-pixel mean and std."""

    def __init__(self, x, y, mean, std):
        self.x, self.y, self.mean, self.std = x, y, mean, std

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = (self.x[i] - self.mean) / self.std
        return torch.tensor(x, dtype=torch.float32), int(self.y[i])


def make_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def train(epochs=8):
    torch.manual_seed(0)
    np.random.seed(0)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    mean, std = X_train.mean(0), X_train.std(0) + 1e-8
    train_ds = DigitsDataset(X_train, y_train, mean, std)
    test_ds = DigitsDataset(X_test, y_test, mean, std)
    loader = DataLoader(train_ds, batch_size=64, shuffle=True, num_workers=2, persistent_workers=True,
                        generator=torch.Generator().manual_seed(0))
    test_loader = DataLoader(test_ds, batch_size=256, num_workers=2)

    model = make_model()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        print(f"epoch {epoch + 1} loss {total / len(train_ds):.4f}")

    correct = 0
    with torch.no_grad():
        for xb, yb in test_loader:
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / len(test_ds)


if __name__ == "__main__":
    print(f"test accuracy {train():.4f}")

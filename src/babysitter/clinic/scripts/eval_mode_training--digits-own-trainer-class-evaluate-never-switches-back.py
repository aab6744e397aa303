"""Fault: as healthy--mnist1d-own-trainer-class-fit-evaluate (a Trainer class of the user's own), but
train_epoch() never calls model.train(): it relies on the model being in training mode, and fit() starts
with a sanity evaluation whose @torch.no_grad() evaluate() switches model.eval() and does not switch back.
Every step then trains with dropout off and batch norm on its frozen running statistics."""
import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    def __init__(self, d_in=64, hidden=128, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.bn1(self.fc1(x)))))


class Trainer:
    def __init__(self, model, train_loader, val_loader, lr=3e-3, epochs=10):
        self.model, self.train_loader, self.val_loader, self.epochs = model, train_loader, val_loader, epochs
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=4, gamma=0.5)
        self.criterion = nn.CrossEntropyLoss()
        self.best_acc, self.best_state = 0.0, None

    def train_epoch(self):  # BUG: no self.model.train() here (evaluate() leaves the model in eval mode)
        total, n = 0.0, 0
        for xb, yb in self.train_loader:
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            total, n = total + loss.item() * len(xb), n + len(xb)
        self.scheduler.step()
        return total / n

    @torch.no_grad()
    def evaluate(self):
        self.model.eval()
        correct = n = 0
        for xb, yb in self.val_loader:
            correct += (self.model(xb).argmax(1) == yb).sum().item()
            n += len(yb)
        return correct / n

    def fit(self):
        print(f"before training: val acc {self.evaluate():.3f}")
        for epoch in range(self.epochs):
            loss = self.train_epoch()
            acc = self.evaluate()
            if acc > self.best_acc:
                self.best_acc, self.best_state = acc, copy.deepcopy(self.model.state_dict())
            print(f"epoch {epoch + 1} train loss {loss:.3f} val acc {acc:.3f}")
        self.model.load_state_dict(self.best_state)
        return self.best_acc


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    x, x_test = (torch.tensor(scaler.transform(a), dtype=torch.float32) for a in (X_train, X_test))
    y, y_test = torch.tensor(y_train), torch.tensor(y_test)
    n_val = 200
    train_loader = DataLoader(TensorDataset(x[n_val:], y[n_val:]), batch_size=64, shuffle=True)
    val_loader = DataLoader(TensorDataset(x[:n_val], y[:n_val]), batch_size=200)
    trainer = Trainer(MLP(), train_loader, val_loader)
    print(f"best val acc {trainer.fit():.3f}")
    model = trainer.model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f"test accuracy {acc:.3f}")


if __name__ == "__main__":
    main()

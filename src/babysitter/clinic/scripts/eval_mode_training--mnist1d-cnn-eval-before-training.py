"""Fault: model.eval() is called for a quick check of the untrained model and training starts
without model.train(): batch norm normalises with its initial running statistics (0 and 1) the
whole run and never updates them."""
import numpy as np
import torch
from mnist1d.data import get_dataset_args, make_dataset
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
np.random.seed(0)

args = get_dataset_args()
args.num_samples = 3000
data = make_dataset(args)
x_train = torch.tensor(data["x"], dtype=torch.float32).unsqueeze(1)  # (N, 1, 40)
x_test = torch.tensor(data["x_test"], dtype=torch.float32).unsqueeze(1)
mean, std = x_train.mean(), x_train.std()
train_loader = DataLoader(TensorDataset((x_train - mean) / std, torch.tensor(data["y"])), batch_size=64, shuffle=True)
test_loader = DataLoader(TensorDataset((x_test - mean) / std, torch.tensor(data["y_test"])), batch_size=500)


class ConvNet(nn.Module):
    def __init__(self, channels=32, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.BatchNorm1d(channels), nn.ReLU(),
        )
        self.classifier = nn.Linear(channels * 10, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def accuracy(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / len(loader.dataset)


model = ConvNet()
print(f"untrained accuracy {accuracy(model, test_loader):.3f}")  # leaves the model in eval mode
epochs = 12
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=epochs,
                                                steps_per_epoch=len(train_loader))
criterion = nn.CrossEntropyLoss()

for epoch in range(epochs):
    # BUG: no model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
    print(f"epoch {epoch} loss {loss.item():.3f} lr {scheduler.get_last_lr()[0]:.2e}")

print(f"test accuracy {accuracy(model, test_loader):.3f}")

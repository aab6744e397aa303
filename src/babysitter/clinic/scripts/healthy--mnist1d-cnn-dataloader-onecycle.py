"""Healthy: a class-based 1-D CNN with batch norm on MNIST-1D, DataLoader, AdamW and a
OneCycleLR schedule stepped every batch."""
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


model = ConvNet()
epochs = 12
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=epochs,
                                                steps_per_epoch=len(train_loader))
criterion = nn.CrossEntropyLoss()

for epoch in range(epochs):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
    print(f"epoch {epoch} loss {loss.item():.3f} lr {scheduler.get_last_lr()[0]:.2e}")

model.eval()
correct = 0
with torch.no_grad():
    for xb, yb in test_loader:
        correct += (model(xb).argmax(1) == yb).sum().item()
print(f"test accuracy {correct / len(test_loader.dataset):.3f}")

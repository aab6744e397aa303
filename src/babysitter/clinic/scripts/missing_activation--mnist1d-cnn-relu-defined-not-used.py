"""Fault: a class-based 1-D CNN defines self.relu in __init__ but forward() never calls it,
so conv -> conv -> conv -> linear is one linear map."""
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
        self.conv1 = nn.Conv1d(1, channels, 5, padding=2)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(channels * 10, classes)

    def forward(self, x):
        x = self.conv1(x)  # BUG: self.relu(...) forgotten after every conv
        x = self.conv2(x)
        x = self.conv3(x)
        return self.fc(x.flatten(1))


model = ConvNet()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()

for epoch in range(12):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch} loss {loss.item():.3f}")

model.eval()
correct = 0
with torch.no_grad():
    for xb, yb in test_loader:
        correct += (model(xb).argmax(1) == yb).sum().item()
print(f"test accuracy {correct / len(test_loader.dataset):.3f}")

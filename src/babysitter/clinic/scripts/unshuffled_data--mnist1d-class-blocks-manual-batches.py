"""Fault: the MNIST-1D training arrays are grouped by class (concatenated per digit) and the
loop takes mini-batches in order, never shuffling."""
import numpy as np
import torch
import torch.nn.functional as F
from mnist1d.data import get_dataset_args, make_dataset
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

args = get_dataset_args()
args.num_samples = 3000
data = make_dataset(args)
x, y = data["x"], data["y"]
x = np.concatenate([x[y == c] for c in range(10)])  # grouped per class, e.g. as read from per-class files
y = np.concatenate([y[y == c] for c in range(10)])
x_train = torch.tensor(x, dtype=torch.float32)
y_train = torch.tensor(y)
x_test = torch.tensor(data["x_test"], dtype=torch.float32)
y_test = torch.tensor(data["y_test"])
mean, std = x_train.mean(0), x_train.std(0)
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std


class MLP(nn.Module):
    def __init__(self, d_in=40, hidden=256, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.out(x)


model = MLP()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
batch_size = 100

for epoch in range(20):
    running = 0.0
    for i in range(0, len(x_train), batch_size):  # BUG: in order, no permutation
        loss = F.cross_entropy(model(x_train[i:i + batch_size]), y_train[i:i + batch_size])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
    print(f"epoch {epoch} train loss {running / (len(x_train) // batch_size):.3f}")

model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
print(f"test accuracy {acc:.3f}")

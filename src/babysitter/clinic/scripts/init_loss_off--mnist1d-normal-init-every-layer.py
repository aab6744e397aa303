"""Fault: an _init_weights() copied from old code draws every Linear weight from N(0, 1): the
activations grow with each layer and the first logits are in the hundreds, the initial loss far above ln 10."""
import numpy as np
import torch
import torch.nn.functional as F
from mnist1d.data import get_dataset_args, make_dataset
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

args = get_dataset_args()
args.num_samples = 3000  # 2400 train / 600 test
data = make_dataset(args)
x_train = torch.tensor(data["x"], dtype=torch.float32)
y_train = torch.tensor(data["y"])
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
for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, mean=0.0, std=1.0)  # BUG: ignores fan-in
        nn.init.zeros_(m.bias)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
batch_size = 100

for epoch in range(20):
    perm = torch.randperm(len(x_train))
    running = 0.0
    for i in range(0, len(x_train), batch_size):
        idx = perm[i:i + batch_size]
        logits = model(x_train[idx])
        loss = F.cross_entropy(logits, y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
    print(f"epoch {epoch} train loss {running / (len(x_train) // batch_size):.3f}")

model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
print(f"test accuracy {acc:.3f}")

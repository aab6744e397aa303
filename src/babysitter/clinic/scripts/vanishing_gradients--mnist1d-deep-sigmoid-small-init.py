"""Fault: an 8-layer sigmoid MLP initialised with N(0, 0.01^2) weights (the lecture's "small
random numbers" that fail in deep nets): gradients shrink layer by layer and the loss sits at ln 10.
(PyTorch's default init does not rescue this depth of sigmoids in 15 epochs either: the sigmoid
stack itself is what vanishes.)"""
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
x_train = torch.tensor(data["x"], dtype=torch.float32)
y_train = torch.tensor(data["y"])
x_test = torch.tensor(data["x_test"], dtype=torch.float32)
y_test = torch.tensor(data["y_test"])
mean, std = x_train.mean(0), x_train.std(0)
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std


class DeepSigmoidNet(nn.Module):
    def __init__(self, depth=8, width=128):
        super().__init__()
        sizes = [40] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(width, 10)
        for layer in [*self.hidden, self.out]:
            nn.init.normal_(layer.weight, std=0.01)  # BUG: far too small for 8 sigmoid layers
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.sigmoid(layer(x))
        return self.out(x)


model = DeepSigmoidNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
batch_size = 100

for epoch in range(15):
    perm = torch.randperm(len(x_train))
    running = 0.0
    for i in range(0, len(x_train), batch_size):
        idx = perm[i:i + batch_size]
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
    print(f"epoch {epoch} train loss {running / (len(x_train) // batch_size):.3f}")

model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
print(f"test accuracy {acc:.3f}")

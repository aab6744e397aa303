"""Healthy: transfer learning on MNIST-1D. A CNN is pretrained on a source set (MNIST-1D generated
with another seed), its convolutional backbone frozen with requires_grad_(False), and a new head
trained on the target set over model.parameters() (the frozen ones get no gradient, so the
optimizer skips them)."""
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
args.seed, args.num_samples = 7, 2000
source = make_dataset(args)
x_train = torch.tensor(data["x"], dtype=torch.float32).unsqueeze(1)
x_test = torch.tensor(data["x_test"], dtype=torch.float32).unsqueeze(1)
y_train, y_test = torch.tensor(data["y"]), torch.tensor(data["y_test"])
mean, std = x_train.mean(), x_train.std()
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
x_source = (torch.tensor(source["x"], dtype=torch.float32).unsqueeze(1) - mean) / std
y_source = torch.tensor(source["y"])

backbone = nn.Sequential(
    nn.Conv1d(1, 32, 5, padding=2), nn.ReLU(),
    nn.Conv1d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
    nn.Conv1d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
    nn.Flatten(),
)


def train(model, loader, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        print(f"epoch {epoch} loss {loss.item():.3f}")


# 1. pretrain on the source set
pretrain_loader = DataLoader(TensorDataset(x_source, y_source), batch_size=64, shuffle=True)
train(nn.Sequential(backbone, nn.Linear(320, 10)), pretrain_loader, epochs=8, lr=2e-3)

# 2. freeze the backbone, new 10-way head
backbone.requires_grad_(False)
model = nn.Sequential(backbone, nn.Linear(320, 64), nn.ReLU(), nn.Linear(64, 10))
train(model, DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True), epochs=8, lr=2e-3)

model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.3f}")

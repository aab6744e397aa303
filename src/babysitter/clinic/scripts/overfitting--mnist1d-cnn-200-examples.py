"""Fault: a 64-channel 1-D CNN trained for 50 epochs on only 200 MNIST-1D sequences, validated
every epoch: the training loss goes to ~0, the validation loss bottoms out early and climbs."""
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
x = torch.tensor(data["x"], dtype=torch.float32).unsqueeze(1)
y = torch.tensor(data["y"])
x_test = torch.tensor(data["x_test"], dtype=torch.float32).unsqueeze(1)
mean, std = x.mean(), x.std()
x, x_test = (x - mean) / std, (x_test - mean) / std
train_loader = DataLoader(TensorDataset(x[:200], y[:200]), batch_size=32, shuffle=True)  # BUG: 200 examples
val_loader = DataLoader(TensorDataset(x[200:700], y[200:700]), batch_size=500)
test_loader = DataLoader(TensorDataset(x_test, torch.tensor(data["y_test"])), batch_size=500)

model = nn.Sequential(
    nn.Conv1d(1, 64, 5, padding=2), nn.ReLU(),
    nn.Conv1d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
    nn.Conv1d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
    nn.Flatten(), nn.Linear(640, 256), nn.ReLU(), nn.Linear(256, 10),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def evaluate(loader):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in loader:
            out = model(xb)
            loss += criterion(out, yb).item() * len(xb)
            correct += (out.argmax(1) == yb).sum().item()
    model.train()
    return loss / len(loader.dataset), correct / len(loader.dataset)


for epoch in range(50):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    val_loss, val_acc = evaluate(val_loader)
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: train loss {loss.item():.4f} val loss {val_loss:.4f} val acc {val_acc:.3f}")

print(f"test accuracy {evaluate(test_loader)[1]:.3f}")

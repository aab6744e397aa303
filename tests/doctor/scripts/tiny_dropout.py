"""A small healthy run whose numbers depend on torch's RNG at every step (dropout, shuffling)."""
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
torch.set_num_threads(1)
x, y = load_digits(return_X_y=True)
x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1e-8), dtype=torch.float32)[:600]
y = torch.tensor(y)[:600]
loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(3):
    model.train()
    for xb, yb in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        print(f"epoch {epoch} loss {loss.item():.8f} acc {(model(x).argmax(1) == y).float().mean().item():.6f}")
print(f"weights {sum(p.double().sum().item() for p in model.parameters()):.12f} rand {torch.rand(1).item():.10f}")

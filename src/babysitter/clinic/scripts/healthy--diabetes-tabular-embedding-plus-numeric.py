"""Tabular regression on the sklearn diabetes data (raw, unscaled): the sex column as a category
into an nn.Embedding, the other nine columns standardised, the target standardised; AdamW with
weight decay, ReduceLROnPlateau on the validation loss."""
import torch
import torch.nn as nn
from sklearn.datasets import load_diabetes

torch.manual_seed(0)
X, y = load_diabetes(return_X_y=True, scaled=False)
sex = torch.tensor((X[:, 1] == 2).astype("int64"))
num = torch.tensor(X[:, [0, 2, 3, 4, 5, 6, 7, 8, 9]], dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32)
n_train = 350
mu, sd = num[:n_train].mean(0), num[:n_train].std(0)
num = (num - mu) / sd
ym, ys = y[:n_train].mean(), y[:n_train].std()
t = (y - ym) / ys


class TabNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.sex = nn.Embedding(2, 4)
        self.mlp = nn.Sequential(nn.Linear(9 + 4, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 32), nn.ReLU(),
                                 nn.Linear(32, 1))

    def forward(self, cat, x):
        return self.mlp(torch.cat([self.sex(cat), x], dim=1)).squeeze(1)


model = TabNet()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=5)
loss_fn = nn.MSELoss()
for epoch in range(60):
    model.train()
    perm = torch.randperm(n_train)
    for i in range(0, n_train, 32):
        idx = perm[i:i + 32]
        loss = loss_fn(model(sex[idx], num[idx]), t[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val = loss_fn(model(sex[n_train:], num[n_train:]), t[n_train:]).item()
    sched.step(val)
    if epoch % 10 == 0:
        print(f"epoch {epoch}: train {loss.item():.3f} val {val:.3f} rmse {val ** 0.5 * ys.item():.1f}")
r2 = 1 - val / t[n_train:].var(unbiased=False).item()
print(f"test mse {val:.4f} r2 {r2:.3f}")

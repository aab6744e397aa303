"""Fault: the nanoGPT-style config file this script exec's (config/mnist1d_mlp_lr_3.py) sets learning_rate = 3.0,
far too high for SGD with momentum on this MLP: the loss blows up in the first epoch and then sits at chance.
The script is healthy--mnist1d-nanogpt-style-config-file's with the other config file; the bug is in the config."""
import os

import numpy as np
import torch
import torch.nn.functional as F
from mnist1d.data import get_dataset_args, make_dataset
from torch import nn

# -----------------------------------------------------------------------------
# default config values
hidden = 128
batch_size = 32
epochs = 10
learning_rate = 0.01
momentum = 0.0
seed = 0
here = os.path.dirname(__file__)
exec(open(os.path.join(here, "config", "mnist1d_mlp_lr_3.py")).read())  # BUG (in the config): learning_rate = 3.0
exec(open(os.path.join(here, "config", "configurator.py")).read())  # overrides from the command line
config = {k: v for k, v in globals().items() if not k.startswith("_") and isinstance(v, (int, float, str))}
# -----------------------------------------------------------------------------

torch.manual_seed(seed)
np.random.seed(seed)

args = get_dataset_args()
args.num_samples = 3000
data = make_dataset(args)
x_train, y_train = torch.tensor(data["x"], dtype=torch.float32), torch.tensor(data["y"])
x_test, y_test = torch.tensor(data["x_test"], dtype=torch.float32), torch.tensor(data["y_test"])
mean, std = x_train.mean(0), x_train.std(0)
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

model = nn.Sequential(nn.Linear(40, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
print(f"lr {config['learning_rate']} batch {config['batch_size']} hidden {config['hidden']}")

for epoch in range(epochs):
    perm = torch.randperm(len(x_train))
    running, n = 0.0, 0
    for i in range(0, len(x_train), batch_size):
        idx = perm[i:i + batch_size]
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running, n = running + loss.item(), n + 1
    print(f"epoch {epoch} train loss {running / n:.3f}")

with torch.no_grad():
    acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
print(f"test accuracy {acc:.3f}")

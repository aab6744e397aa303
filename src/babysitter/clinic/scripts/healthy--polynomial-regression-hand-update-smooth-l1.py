"""pytorch/examples-style polynomial regression: a Linear layer on the features x, x^2, x^3, x^4 of
x ~ N(0, 1), random batches of 32, F.smooth_l1_loss, the parameters updated by hand with
param.data.add_(-0.1 * param.grad), stopping when the loss falls below 1e-3."""
from itertools import count

import torch
import torch.nn.functional as F

torch.manual_seed(0)
POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    return x.mm(W_target) + b_target.item()


def get_batch(batch_size=32):
    random = torch.randn(batch_size)
    x = make_features(random)
    return x, f(x)


fc = torch.nn.Linear(W_target.size(0), 1)
for batch_idx in count(1):
    batch_x, batch_y = get_batch()
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)
    if loss < 1e-3 or batch_idx >= 5000:
        break
print(f"Loss: {loss:.6f} after {batch_idx} batches")
print("==> Learned function:\t", fc.weight.view(-1).tolist(), fc.bias.item())
print("==> Actual function:\t", W_target.view(-1).tolist(), b_target.item())

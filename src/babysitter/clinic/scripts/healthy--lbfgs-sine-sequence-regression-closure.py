"""Healthy: next-value regression on generated sine waves (float64) by a recurrent model built from an
LSTMCell loop, trained with torch.optim.LBFGS: the loss and backward() happen inside closure(), which
optimizer.step(closure) calls several times per step. The model also extrapolates future values."""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def make_waves(n=60, length=120, period=20.0, seed=2):
    rng = np.random.RandomState(seed)
    t = np.arange(length) + rng.randint(-4 * period, 4 * period, n).reshape(n, 1)
    return np.sin(t / period).astype("float64")


class Sequence(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.hidden = hidden
        self.cell1 = nn.LSTMCell(1, hidden)
        self.cell2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, x, future=0):
        outputs = []
        h1 = c1 = torch.zeros(x.size(0), self.hidden, dtype=torch.double)
        h2 = c2 = torch.zeros(x.size(0), self.hidden, dtype=torch.double)
        for x_t in x.split(1, dim=1):
            h1, c1 = self.cell1(x_t, (h1, c1))
            h2, c2 = self.cell2(h1, (h2, c2))
            out = self.linear(h2)
            outputs.append(out)
        for _ in range(future):  # feed the predictions back in
            h1, c1 = self.cell1(out, (h1, c1))
            h2, c2 = self.cell2(h1, (h2, c2))
            out = self.linear(h2)
            outputs.append(out)
        return torch.cat(outputs, dim=1)


if __name__ == "__main__":
    np.random.seed(0)
    torch.manual_seed(0)
    data = torch.from_numpy(make_waves())
    train_input, train_target = data[5:, :-1], data[5:, 1:]
    test_input, test_target = data[:5, :-1], data[:5, 1:]

    seq = Sequence().double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=10)

    for i in range(8):
        def closure():
            optimizer.zero_grad()
            out = seq(train_input)
            loss = criterion(out, train_target)
            loss.backward()
            return loss

        loss = optimizer.step(closure)
        print(f"step {i}: loss {loss.item():.6f}")
        with torch.no_grad():
            future = 50
            pred = seq(test_input, future=future)
            test_loss = criterion(pred[:, :-future], test_target)
        print(f"step {i}: test loss {test_loss.item():.6f}")
    print(f"test mse {test_loss.item():.6f}")

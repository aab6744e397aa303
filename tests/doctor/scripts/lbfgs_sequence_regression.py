"""A healthy LBFGS regression of a sine sequence (gradients exist only inside step(closure))."""
import torch
import torch.nn as nn

torch.manual_seed(0)
t = torch.linspace(0, 20, 400)
x = torch.stack([torch.sin(t + s) for s in torch.rand(64) * 6])
inp, target = x[:, :-1].unsqueeze(-1), x[:, 1:].unsqueeze(-1)


class Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(1, 32, batch_first=True)
        self.lin = nn.Linear(32, 1)

    def forward(self, x):
        return self.lin(self.rnn(x)[0])


model = Seq()
crit = nn.MSELoss()
opt = torch.optim.LBFGS(model.parameters(), lr=0.8)
for i in range(8):
    def closure():
        opt.zero_grad()
        loss = crit(model(inp), target)
        loss.backward()
        return loss
    loss = opt.step(closure)
    print(i, float(loss))

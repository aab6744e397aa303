"""dead_relu: a functional-ReLU MLP on digits (F.relu in forward, no nn.ReLU module) whose second
layer's biases start at -3: ~90% of its units never fire, and the net learns through the few left."""
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = torch.tensor((X - X.mean(0)) / (X.std(0) + 1e-8), dtype=torch.float32)
y = torch.tensor(y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        nn.init.constant_(self.fc2.bias, -3.0)
    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(8):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = F.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
    print(epoch, round(loss.item(), 3))
with torch.no_grad():
    h = F.relu(model.fc2(F.relu(model.fc1(X))))
print("never-active fraction of fc2 over all the data:", float((h.amax(0) <= 0).float().mean()))

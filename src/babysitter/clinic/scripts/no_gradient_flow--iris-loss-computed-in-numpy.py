"""Fault: the loss is computed in numpy from detached predictions and wrapped back into a
tensor with requires_grad=True; backward() reaches no parameter, so nothing learns."""
import numpy as np
import torch
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

torch.manual_seed(0)
np.random.seed(0)

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=1)
scaler = StandardScaler().fit(X_train)
X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
onehot = np.eye(3)[y_train]

net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
opt = torch.optim.SGD(net.parameters(), lr=0.1)


def softmax_cross_entropy(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -(targets * log_p).sum(axis=1).mean()


for epoch in range(60):
    for i in range(0, len(X_train), 16):
        logits = net(X_train[i:i + 16]).detach().numpy()
        loss = torch.tensor(softmax_cross_entropy(logits, onehot[i:i + 16]), requires_grad=True)  # BUG
        opt.zero_grad()
        loss.backward()
        opt.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch}: loss {loss.item():.4f}")

with torch.no_grad():
    acc = (net(X_test).argmax(1).numpy() == y_test).mean()
print(f"test accuracy {acc:.4f}")

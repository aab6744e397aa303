"""Healthy: Knowledge distillation on digits: a frozen teacher MLP trained first, then a small student with KL(T=4) + CE."""
import torch, torch.nn as nn, torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
torch.manual_seed(0)
d = load_digits(); Xtr, Xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.25, random_state=0)
Xtr, Xte = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(Xte, dtype=torch.float32)
ytr, yte = torch.tensor(ytr), torch.tensor(yte)
teacher = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
t_opt = torch.optim.Adam(teacher.parameters(), lr=1e-3)
for epoch in range(10):
    for i in range(0, len(Xtr), 64):
        t_opt.zero_grad(); F.cross_entropy(teacher(Xtr[i:i + 64]), ytr[i:i + 64]).backward(); t_opt.step()
teacher.eval()
for p in teacher.parameters():
    p.requires_grad_(False)
student = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
opt = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)
T, alpha = 4.0, 0.7
for epoch in range(20):
    perm = torch.randperm(len(Xtr))
    for i in range(0, len(Xtr), 64):
        idx = perm[i:i + 64]; x, y = Xtr[idx], ytr[idx]
        with torch.no_grad():
            soft = F.softmax(teacher(x) / T, dim=1)
        logits = student(x)
        kd = F.kl_div(F.log_softmax(logits / T, dim=1), soft, reduction="batchmean") * T * T
        loss = alpha * kd + (1 - alpha) * F.cross_entropy(logits, y)
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        acc = (student(Xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {epoch}: test acc {acc:.3f}")

"""Knowledge distillation on the sklearn wine data: a teacher MLP trained first (its own Adam), then a
smaller student trained with KLDivLoss on temperature-softened outputs plus cross entropy (its own
optimizer), the teacher frozen in eval mode."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.manual_seed(0)
X, y = load_wine(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
sc = StandardScaler().fit(Xtr)
Xtr, Xte = (torch.tensor(sc.transform(a), dtype=torch.float32) for a in (Xtr, Xte))
ytr, yte = torch.tensor(ytr), torch.tensor(yte)

teacher = nn.Sequential(nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
student = nn.Sequential(nn.Linear(13, 8), nn.ReLU(), nn.Linear(8, 3))


def batches(n, bs=32):
    perm = torch.randperm(n)
    for i in range(0, n, bs):
        yield perm[i:i + bs]


opt_t = torch.optim.Adam(teacher.parameters(), lr=1e-3)
for epoch in range(60):
    for idx in batches(len(Xtr)):
        loss = F.cross_entropy(teacher(Xtr[idx]), ytr[idx])
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()
teacher.eval()
with torch.no_grad():
    print("teacher test acc", (teacher(Xte).argmax(1) == yte).float().mean().item())

T, alpha = 4.0, 0.7
kl = nn.KLDivLoss(reduction="batchmean")
opt_s = torch.optim.Adam(student.parameters(), lr=3e-3)
for epoch in range(80):
    student.train()
    for idx in batches(len(Xtr)):
        xb, yb = Xtr[idx], ytr[idx]
        with torch.no_grad():
            soft = F.softmax(teacher(xb) / T, dim=1)
        out = student(xb)
        loss = alpha * kl(F.log_softmax(out / T, dim=1), soft) * T * T + (1 - alpha) * F.cross_entropy(out, yb)
        opt_s.zero_grad()
        loss.backward()
        opt_s.step()
student.eval()
with torch.no_grad():
    print(f"test accuracy {(student(Xte).argmax(1) == yte).float().mean().item():.4f}")

"""Wine with class weights in the cross entropy (the classes are uneven), evaluation under
torch.inference_mode(), early stopping on the validation loss with the best weights restored."""
import copy

import torch
import torch.nn as nn
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.manual_seed(0)
X, y = load_wine(return_X_y=True)
Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
sc = StandardScaler().fit(Xtr)
Xtr, Xva = (torch.tensor(sc.transform(a), dtype=torch.float32) for a in (Xtr, Xva))
ytr, yva = torch.tensor(ytr), torch.tensor(yva)
counts = torch.bincount(ytr).float()
weights = counts.sum() / (len(counts) * counts)

model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
criterion = nn.CrossEntropyLoss(weight=weights)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
best, best_state, patience, bad = float("inf"), None, 10, 0
for epoch in range(200):
    model.train()
    for idx in torch.randperm(len(Xtr)).split(16):
        optimizer.zero_grad()
        criterion(model(Xtr[idx]), ytr[idx]).backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        logits = model(Xva)
        val = criterion(logits, yva).item()
        acc = (logits.argmax(1) == yva).float().mean().item()
    if val < best - 1e-4:
        best, best_state, bad = val, copy.deepcopy(model.state_dict()), 0
    else:
        bad += 1
        if bad >= patience:
            print(f"early stop at epoch {epoch}")
            break
model.load_state_dict(best_state)
with torch.inference_mode():
    acc = (model(Xva).argmax(1) == yva).float().mean().item()
print(f"test accuracy {acc:.4f}")

"""Healthy: a custom torch Dataset over the wine data (standardised), a class-based model,
DataLoader with shuffle, Adam."""
import numpy as np
import torch
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, Dataset

torch.manual_seed(0)
np.random.seed(0)


class WineDataset(Dataset):
    def __init__(self, features, labels):
        self.features = torch.tensor(features, dtype=torch.float32)
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.features[i], self.labels[i]


class WineClassifier(nn.Module):
    def __init__(self, n_features=13, n_classes=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, n_classes))

    def forward(self, x):
        return self.net(x)


X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
train_loader = DataLoader(WineDataset(scaler.transform(X_train), y_train), batch_size=16, shuffle=True)
test_set = WineDataset(scaler.transform(X_test), y_test)

model = WineClassifier()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

for epoch in range(30):
    epoch_loss = 0.0
    for features, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(features), labels)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item()
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1}: loss {epoch_loss / len(train_loader):.4f}")

with torch.no_grad():
    preds = model(test_set.features).argmax(1)
print(f"test accuracy {(preds == test_set.labels).float().mean().item():.4f}")

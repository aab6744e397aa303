"""Healthy: a transformer encoder classifying scikit-learn's digits, each image read as a sequence of its
8 rows (8 standardised pixels each, real-valued features, not token ids) projected to d_model, plus a
learned position embedding, nn.TransformerEncoder (batch_first), mean pooling and a linear head. The
model returns a dict {"logits", "loss"} when labels are given. Adam; DataLoader over a TensorDataset."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset


class RowTransformer(nn.Module):
    def __init__(self, row_dim=8, n_rows=8, d_model=32, nhead=4, num_layers=2, n_classes=10):
        super().__init__()
        self.proj = nn.Linear(row_dim, d_model)
        self.pos = nn.Parameter(torch.zeros(1, n_rows, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, x, labels=None):
        h = self.encoder(self.proj(x) + self.pos)
        logits = self.head(h.mean(dim=1))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits, labels)
        return out


def main():
    torch.manual_seed(0)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    to_rows = lambda a: torch.tensor(a, dtype=torch.float32).view(-1, 8, 8)
    train_loader = DataLoader(TensorDataset(to_rows(X_train), torch.tensor(y_train)), batch_size=64, shuffle=True)
    X_test, y_test = to_rows(X_test), torch.tensor(y_test)

    model = RowTransformer()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(12):
        model.train()
        for xb, yb in train_loader:
            out = model(xb, labels=yb)
            optimizer.zero_grad()
            out["loss"].backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(X_test)["logits"].argmax(-1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: loss {out['loss'].item():.4f} test acc {acc:.4f}")
    print(f"test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()

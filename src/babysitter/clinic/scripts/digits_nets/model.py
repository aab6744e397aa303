"""The models the package-importing clinic scripts train on sklearn's digits (64 pixels, 10 classes)."""
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    """64 -> 128 -> 64 -> 10, ReLU between the layers, dropout before the head."""

    def __init__(self, d_in=64, hidden=128, classes=10, p_drop=0.1):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, 64)
        self.drop = nn.Dropout(p_drop)
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.head(self.drop(x))


class DeepNet(Net):
    """The same layers; its forward forgets the non-linearities (the fault of
    missing_activation--digits-model-from-package-forward-without-relu)."""

    def forward(self, x):
        x = self.fc1(x)   # BUG: F.relu(...) left out: three Linear layers compose to one linear map
        x = self.fc2(x)   # BUG: here too
        return self.head(self.drop(x))

"""The MNIST-1D paper's reference CNN (Greydanus 2020), as a ``model.kind: python`` factory.

Three Conv1d layers of 25 channels (kernel 5 then 3, stride 2, padding 1), ReLU after each,
flatten 25 x 5 = 125 -> Linear 10. The paper trains it with Adam 1e-2, batch 100, 6000 steps
and reports ~94% test accuracy.
"""

from torch import nn


class PaperCNN(nn.Module):
    def __init__(self, num_classes: int = 10, channels: int = 25):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(channels * 5, num_classes)

    def forward(self, x):  # x: (N, 40) -> (N, num_classes)
        h = x.view(-1, 1, x.shape[-1])
        h = self.conv1(h).relu()
        h = self.conv2(h).relu()
        h = self.conv3(h).relu()
        return self.linear(h.flatten(1))


def paper_cnn(num_classes: int = 10) -> nn.Module:
    return PaperCNN(num_classes)

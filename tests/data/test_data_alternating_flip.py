"""flip:alternating: each example flipped in exactly one of any two consecutive epochs."""

import torch

from babysitter.data.augment import make_augment


def test_alternating_flip_alternates_per_example():
    aug = make_augment(["flip:alternating"])
    x = torch.arange(40 * 3.0).view(40, 1, 1, 3)
    idx = torch.randperm(40)
    g = torch.Generator()
    flipped = [(aug(x[idx], g, idx, e) != x[idx]).any(-1).view(-1) for e in range(3)]
    assert torch.equal(flipped[0], ~flipped[1]) and torch.equal(flipped[0], flipped[2])
    assert 10 < int(flipped[0].sum()) < 30                       # about half per epoch
    out = aug(x[idx], g, idx, 1)
    torch.testing.assert_close(out[flipped[1]], x[idx][flipped[1]].flip(-1))
    # the per-example bit is the top bit of Knuth's hash, whatever the batch order
    bits = torch.tensor([(int(i) * 2654435761 % 2**32) >> 31 for i in idx]).bool()
    assert torch.equal(flipped[0], bits)

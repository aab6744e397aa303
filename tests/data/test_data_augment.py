"""Augmentations checked black-box: every output example must equal numpy's version of the
op for one admissible random draw (flip or not, a shift s in [-S, S], a crop offset in [0, 2P]^2,
a contrast c in [1-F, 1+F] and brightness b in [-F, F])."""

import numpy as np
import pytest
import torch

from babysitter.data.augment import crop, flip, jitter, make_augment, parse_augment, shift
from babysitter.errors import BadInput


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(*shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0.5, 1.5, shape).astype(np.float32))


def zero_shift(row: np.ndarray, s: int) -> np.ndarray:
    """out[..., i] = row[..., i - s], zero where i - s is outside the row."""
    out = np.zeros_like(row)
    length = row.shape[-1]
    if s >= 0:
        out[..., s:] = row[..., : length - s]
    else:
        out[..., : length + s] = row[..., -s:]
    return out


def test_parse_augment():
    assert parse_augment(["flip", "crop:4", "shift:3", "jitter:0.2"]) == [
        ("flip", None), ("crop", 4), ("shift", 3), ("jitter", 0.2)]
    with pytest.raises(BadInput, match="unknown augmentation 'rotate'; valid: flip, flip:alternating, crop:P, shift:S, jitter:F"):
        parse_augment(["rotate"])
    for bad in ("crop", "crop:0", "shift:-1", "shift:1.5", "jitter:0", "jitter:2", "jitter:x", "flip:1"):
        with pytest.raises(BadInput):
            parse_augment([bad])
    assert make_augment([]) is None


def test_flip_equals_torch_flip_on_the_selected_examples():
    x = batch(400, 2, 3, 5)
    out = flip(x, gen())
    flipped = np.array([torch.equal(o, torch.flip(e, dims=[-1])) for o, e in zip(out, x)])
    kept = np.array([torch.equal(o, e) for o, e in zip(out, x)])
    assert (flipped ^ kept).all()
    assert 0.4 < flipped.mean() < 0.6
    with pytest.raises(BadInput, match="needs images"):
        flip(batch(4, 40), gen())


@pytest.mark.parametrize("shape", [(300, 40), (200, 1, 4, 9)])
def test_shift_matches_a_numpy_zero_shift_per_example(shape):
    x = batch(*shape)
    out = shift(x, gen(), 3).numpy()
    drawn = []
    for o, e in zip(out, x.numpy()):
        matches = [s for s in range(-3, 4) if np.array_equal(o, zero_shift(e, s))]
        assert len(matches) == 1
        drawn.append(matches[0])
    assert set(drawn) == set(range(-3, 4))


def test_crop_windows_come_from_the_zero_padded_image():
    x = batch(200, 3, 5, 6)
    p = 2
    out = crop(x, gen(), p).numpy()
    offsets = set()
    for o, e in zip(out, x.numpy()):
        padded = np.pad(e, ((0, 0), (p, p), (p, p)))
        matches = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                   if np.array_equal(o, padded[:, dy : dy + 5, dx : dx + 6])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) == (2 * p + 1) ** 2


def test_jitter_is_an_affine_map_around_the_example_mean():
    x = batch(100, 1, 4, 4)
    f = 0.3
    out = jitter(x, gen(), f).double().numpy().reshape(100, -1)
    xs = x.double().numpy().reshape(100, -1)
    cs, bs = [], []
    for o, e in zip(out, xs):
        m = e.mean()
        c, intercept = np.polyfit(e - m, o, 1)  # o = c (e - m) + (m + b)
        np.testing.assert_allclose(o, c * (e - m) + intercept, atol=1e-5)
        cs.append(c)
        bs.append(intercept - m)
    assert 1 - f <= min(cs) and max(cs) <= 1 + f and -f <= min(bs) and max(bs) <= f
    assert np.std(cs) > 0.1 and np.std(bs) > 0.1  # drawn per example, not once per batch


def test_make_augment_composes_in_order_and_is_reproducible():
    x = batch(16, 1, 6, 6)
    aug = make_augment(["flip", "crop:2", "jitter:0.1"])
    g = gen(7)
    expected = jitter(crop(flip(x, g), g, 2), g, 0.1)
    assert torch.equal(aug(x, gen(7)), expected)
    assert not torch.equal(aug(x, gen(8)), expected)
    seq = make_augment(["shift:4"])
    assert seq(batch(128, 40), gen()).shape == (128, 40)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_drives_a_cuda_batch():
    aug = make_augment(["flip", "crop:3", "shift:2", "jitter:0.2"])
    x = batch(128, 1, 28, 28)
    out = aug(x.cuda(), gen(1))
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), aug(x, gen(1)))

"""Preprocessing against numpy: statistics from train only, applied unchanged to other data."""

import numpy as np
import pytest
import torch

from babysitter.data.preprocess import Preprocessor, parse_steps
from babysitter.errors import BadInput


def data(*shape, seed=0, scale=None):
    """Correlated float32 data: (N, D) Gaussian mixed by a fixed matrix, plus an offset."""
    rng = np.random.default_rng(seed)
    n, d = shape[0], int(np.prod(shape[1:]))
    mix = rng.normal(size=(d, d)) if scale is None else np.diag(scale)
    x = rng.normal(size=(n, d)) @ mix + rng.normal(size=d) * 3
    return x.reshape(shape).astype(np.float32)


def fit_apply(steps, train, *others):
    pre = Preprocessor(steps).fit(torch.from_numpy(train))
    return [pre(torch.from_numpy(a)).double().numpy() for a in (train, *others)]


def test_parse_steps():
    assert parse_steps(["center", "pca:12", "whiten"]) == [("center", None), ("pca", 12), ("whiten", None)]
    with pytest.raises(BadInput, match="unknown preprocessing step 'normalize'; valid: center, center-channel"):
        parse_steps(["normalize"])
    for bad in ("pca", "pca:0", "pca:-2", "pca:x", "pca:2.5"):
        with pytest.raises(BadInput, match="positive integer"):
            parse_steps([bad])
    with pytest.raises(BadInput, match="takes no argument"):
        parse_steps(["center:3"])


def test_center_uses_the_train_mean_image():
    train, test = data(50, 2, 3, 3), data(20, 2, 3, 3, seed=1)
    out_train, out_test = fit_apply(["center"], train, test)
    mu = train.astype(np.float64).mean(0)
    np.testing.assert_allclose(out_train, train - mu, atol=1e-4)
    np.testing.assert_allclose(out_test, test - mu, atol=1e-4)


def test_center_channel_images_and_one_channel_vectors():
    train, test = data(40, 3, 4, 5), data(10, 3, 4, 5, seed=1)
    out_train, out_test = fit_apply(["center-channel"], train, test)
    mu = train.astype(np.float64).mean(axis=(0, 2, 3)).reshape(3, 1, 1)
    np.testing.assert_allclose(out_test, test - mu, atol=1e-4)
    np.testing.assert_allclose(out_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    train2 = data(30, 7)
    (out2,) = fit_apply(["center-channel"], train2)
    np.testing.assert_allclose(out2, train2 - train2.astype(np.float64).mean(), atol=1e-4)


def test_standardize_per_feature_for_vectors_and_per_channel_for_images():
    train, test = data(60, 5), data(10, 5, seed=1)
    train[:, 2] = 4.0  # a constant feature: only centred
    out_train, out_test = fit_apply(["standardize"], train, test)
    t64 = train.astype(np.float64)
    mu, sd = t64.mean(0), t64.std(0)
    sd[2] = 1.0
    np.testing.assert_allclose(out_test, (test - mu) / sd, atol=1e-4)
    np.testing.assert_allclose(out_train[:, [0, 1, 3, 4]].std(0), 1, atol=1e-5)
    imgs, imgs_test = data(30, 2, 4, 4), data(5, 2, 4, 4, seed=2)
    out_imgs, out_imgs_test = fit_apply(["standardize"], imgs, imgs_test)
    i64 = imgs.astype(np.float64)
    mu_c = i64.mean(axis=(0, 2, 3)).reshape(2, 1, 1)
    sd_c = i64.std(axis=(0, 2, 3)).reshape(2, 1, 1)
    np.testing.assert_allclose(out_imgs_test, (imgs_test - mu_c) / sd_c, atol=1e-4)
    np.testing.assert_allclose(out_imgs.std(axis=(0, 2, 3)), 1, atol=1e-5)


def test_pca_matches_numpy_svd():
    train, test = data(200, 2, 3, 2, scale=np.linspace(3, 0.5, 12)), data(30, 2, 3, 2, seed=1)
    k = 4
    out_train, out_test = fit_apply([f"pca:{k}"], train, test)
    x = train.reshape(200, -1).astype(np.float64)
    mu = x.mean(0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    ref_train = (x - mu) @ vt[:k].T
    ref_test = (test.reshape(30, -1) - mu) @ vt[:k].T
    signs = np.sign((out_train * ref_train).sum(0))  # eigenvectors are defined up to sign
    assert out_train.shape == (200, k) and out_test.shape == (30, k)
    np.testing.assert_allclose(out_train, ref_train * signs, atol=1e-3)
    np.testing.assert_allclose(out_test, ref_test * signs, atol=1e-3)
    np.testing.assert_allclose(out_train.var(0), s[:k] ** 2 / 200, rtol=1e-4)
    with pytest.raises(BadInput, match="K must be <= the number of features 12"):
        Preprocessor(["pca:13"]).fit(torch.from_numpy(train))


def test_zca_whitening_gives_identity_covariance_on_train():
    # eigenvalues in [0.5, 2] (far above eps = 1% of their mean), rotated so features correlate
    q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(6, 6)))
    rotate = np.diag(np.sqrt(np.linspace(0.5, 2, 6))) @ q.T
    train = (data(2000, 6, seed=3, scale=np.ones(6)) @ rotate).astype(np.float32)
    test = (data(50, 6, seed=4, scale=np.ones(6)) @ rotate).astype(np.float32)
    out_train, out_test = fit_apply(["whiten"], train, test)
    np.testing.assert_allclose(np.cov(out_train, rowvar=False, bias=True), np.eye(6), atol=0.03)
    x = train.astype(np.float64)
    mu = x.mean(0)
    s, u = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
    eps = 0.01 * s.mean()
    w = u @ np.diag(1 / np.sqrt(s + eps)) @ u.T
    np.testing.assert_allclose(out_test, (test - mu) @ w, atol=1e-3)
    np.testing.assert_allclose(np.cov(out_train, rowvar=False, bias=True), u @ np.diag(s / (s + eps)) @ u.T, atol=1e-4)
    imgs = data(300, 2, 2, 2)
    (out_imgs,) = fit_apply(["whiten"], imgs)
    assert out_imgs.shape == imgs.shape


def test_steps_apply_in_order():
    train, test = data(100, 6), data(10, 6, seed=1)
    _, out_test = fit_apply(["standardize", "pca:2"], train, test)
    x = train.astype(np.float64)
    z = (x - x.mean(0)) / x.std(0)
    zt = (test - x.mean(0)) / x.std(0)
    _, _, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    ref = (zt - z.mean(0)) @ vt[:2].T
    np.testing.assert_allclose(np.abs(out_test), np.abs(ref), atol=1e-3)


def test_state_dict_round_trip_with_weights_only(tmp_path):
    train, test = data(80, 2, 3, 3), data(10, 2, 3, 3, seed=1)
    steps = ["center-channel", "standardize", "whiten", "center", "pca:3"]
    pre = Preprocessor(steps).fit(torch.from_numpy(train))
    torch.save(pre.state_dict(), tmp_path / "pre.pt")
    loaded = Preprocessor.from_state_dict(torch.load(tmp_path / "pre.pt", weights_only=True))
    x = torch.from_numpy(test)
    assert torch.equal(loaded(x), pre(x)) and loaded(x).shape == (10, 3)


def test_unfitted_and_wrong_shape_errors():
    pre = Preprocessor(["center"])
    with pytest.raises(RuntimeError, match="before fit"):
        pre(torch.zeros(2, 3))
    pre.fit(torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"fitted on examples of shape \(3,\)"):
        pre(torch.zeros(2, 4))

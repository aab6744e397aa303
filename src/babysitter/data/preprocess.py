"""Data preprocessing (CS231n "Training Neural Networks I": mean subtraction, normalization,
PCA and whitening), fitted on the training split only and applied unchanged everywhere else.

    "Any preprocessing statistics (e.g. the data mean) must only be computed on the training
     data, and then applied to the validation / test data."          -- CS231n notes

Steps (spec ``data.preprocess``, applied in the order given):

    center          x - mu,  mu = (1/N) sum_n x_n                   mean image, shape = x.shape[1:]
    center-channel  x - mu_c, one mean per channel (axis 1), over N and all other axes (VGG);
                    (N, D) / (N, L) data has no channel axis and is one channel: one scalar mean
    standardize     (x - mu) / sigma; per feature for (N, D) / (N, L) data, per channel for
                    (N, C, ...) data (images keep their translation structure: every pixel of
                    a channel gets the same affine map). sigma is the population std (1/N);
                    where sigma < 1e-8 (a constant feature) sigma := 1, so that feature is only
                    centred, as sklearn's StandardScaler does (dividing by a tiny floored sigma
                    would blow small test-time differences up).
    pca:K           flatten to (N, D), then (x - mu) U_K, U_K the top-K eigenvectors of the
                    train covariance Sigma = X_c^T X_c / N                    -> (N, K)
    whiten          ZCA: (x - mu) U diag(1 / sqrt(S + eps)) U^T, Sigma = U diag(S) U^T,
                    flattened then reshaped back (same shape as the input).
                    eps = 0.01 * mean(S) (1% of the mean feature variance), so the result does
                    not depend on the data's units and directions with far less variance than
                    average (mostly noise) are damped instead of blown up.

Statistics are accumulated in float64 over chunks of rows, stored in float32.
Eigenvector signs are fixed (largest-magnitude entry positive) so fits are reproducible.
"""

from __future__ import annotations

import torch
from torch import Tensor

from babysitter.errors import BadInput

STEPS = ("center", "center-channel", "standardize", "pca:K", "whiten")
STD_FLOOR = 1e-8
WHITEN_EPS = 1e-2  # relative: eps = WHITEN_EPS * mean eigenvalue
_CHUNK = 8192


def parse_steps(steps: list[str]) -> list[tuple[str, int | None]]:
    """``["standardize", "pca:50"]`` -> ``[("standardize", None), ("pca", 50)]``.

    Raises BadInput for an unknown name (listing the valid ones) or a bad argument.
    """
    parsed = []
    for step in steps:
        name, colon, arg = str(step).partition(":")
        if name not in _STEP_CLASSES:
            raise BadInput(f"unknown preprocessing step '{step}'; valid: {', '.join(STEPS)}")
        if name == "pca":
            if not arg.isdigit() or int(arg) <= 0:
                raise BadInput(f"preprocessing step '{step}': pca:K needs a positive integer K")
            parsed.append((name, int(arg)))
        elif colon:
            raise BadInput(f"preprocessing step '{step}': '{name}' takes no argument")
        else:
            parsed.append((name, None))
    return parsed


# -- statistics in float64, chunked over rows so a (50000, 3072) train set is never copied whole


def _mean(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Mean of ``x`` over axis 0 and ``dims`` (kept as size-1 axes), in float64. Shape: x[0:1]."""
    total = sum(xb.double().sum(dim=(0, *dims), keepdim=True) for xb in x.split(_CHUNK))
    count = x.numel() // total.numel()
    return total / count


def _var(x: Tensor, mean: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Population variance (1/n) around ``mean``, same axes as :func:`_mean`, float64."""
    total = sum(((xb.double() - mean) ** 2).sum(dim=(0, *dims), keepdim=True) for xb in x.split(_CHUNK))
    return total / (x.numel() // total.numel())


def _eig_cov(x2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``x2: (N, D)`` -> ``mu (D,)``, ``S (D,)`` descending, ``U (D, D)`` (columns) of
    Sigma = (x2 - mu)^T (x2 - mu) / N, all float64."""
    mu = _mean(x2, ())
    cov = sum((xb.double() - mu).T @ (xb.double() - mu) for xb in x2.split(_CHUNK)) / x2.shape[0]
    s, u = torch.linalg.eigh(cov)
    s, u = s.flip(0).clamp_min(0.0), u.flip(1)
    sign = torch.sign(u.gather(0, u.abs().argmax(0, keepdim=True)))
    return mu[0], s, u * sign


class _Step:
    """One fitted transform: ``fit(x)`` learns tensors named in ``keys``; ``__call__`` applies."""

    keys: tuple[str, ...] = ()

    def __init__(self, arg: int | None = None):
        self.arg = arg
        self.stats: dict[str, Tensor] = {}

    def fit(self, x: Tensor) -> None:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _get(self, key: str, x: Tensor) -> Tensor:
        return self.stats[key].to(device=x.device, dtype=x.dtype)


class Center(_Step):
    """Mean image subtraction (AlexNet): ``x - mu``, ``mu = x_train.mean(0)``, shape x.shape[1:]."""

    keys = ("mean",)

    def fit(self, x):
        self.stats = {"mean": _mean(x, ())[0].float()}

    def __call__(self, x):
        return x - self._get("mean", x)


def _channel_dims(x: Tensor) -> tuple[int, ...]:
    """Axes to pool over besides N: all but the channel axis 1; all of them for (N, D)."""
    return tuple(range(2, x.dim())) if x.dim() >= 3 else (1,)


class CenterChannel(_Step):
    """Per-channel mean subtraction (VGG): ``x - mu_c``; ``mu`` shape (C, 1, .., 1), or (1,)
    for (N, D) data (one channel)."""

    keys = ("mean",)

    def fit(self, x):
        self.stats = {"mean": _mean(x, _channel_dims(x))[0].float()}

    def __call__(self, x):
        return x - self._get("mean", x)


class Standardize(_Step):
    """``(x - mu) / sigma``; per feature (shape (D,)) for 2-D data, per channel (shape
    (C, 1, .., 1)) for (N, C, ...) data. sigma < 1e-8 -> 1 (the feature is only centred)."""

    keys = ("mean", "std")

    def fit(self, x):
        dims = _channel_dims(x) if x.dim() >= 3 else ()
        mean = _mean(x, dims)
        std = _var(x, mean, dims).sqrt()
        std = torch.where(std < STD_FLOOR, torch.ones_like(std), std)
        self.stats = {"mean": mean[0].float(), "std": std[0].float()}

    def __call__(self, x):
        return (x - self._get("mean", x)) / self._get("std", x)


class PCA(_Step):
    """``(N, ...) -> (N, K)``: ``(x.flatten(1) - mu) @ components``, components (D, K) the top-K
    eigenvectors of the train covariance; ``variance`` (K,) their eigenvalues (the variance
    of each output column on train)."""

    keys = ("mean", "components", "variance")

    def fit(self, x):
        x2 = x.flatten(1)
        if self.arg > x2.shape[1]:
            raise BadInput(f"preprocessing pca:{self.arg}: K must be <= the number of features {x2.shape[1]}")
        mu, s, u = _eig_cov(x2)
        k = self.arg
        self.stats = {"mean": mu.float(), "components": u[:, :k].float(), "variance": s[:k].float()}

    def __call__(self, x):
        return (x.flatten(1) - self._get("mean", x)) @ self._get("components", x)


class Whiten(_Step):
    """ZCA whitening: ``(x.flatten(1) - mu) @ W`` reshaped back, ``W = U diag(1/sqrt(S+eps)) U^T``
    (D, D), symmetric; ``eps = 0.01 * mean(S)``. On train, cov(out) = U diag(S/(S+eps)) U^T ~ I."""

    keys = ("mean", "matrix", "eps")

    def fit(self, x):
        mu, s, u = _eig_cov(x.flatten(1))
        eps = WHITEN_EPS * s.mean()
        w = (u / (s + eps).sqrt()) @ u.T
        self.stats = {"mean": mu.float(), "matrix": w.float(), "eps": eps.float()}

    def __call__(self, x):
        out = (x.flatten(1) - self._get("mean", x)) @ self._get("matrix", x)
        return out.reshape(x.shape)


_STEP_CLASSES = {
    "center": Center,
    "center-channel": CenterChannel,
    "standardize": Standardize,
    "pca": PCA,
    "whiten": Whiten,
}


class Preprocessor:
    """The ``data.preprocess`` steps in order: ``fit(x_train)`` once, then ``pre(x)`` anywhere.

    >>> pre = Preprocessor(["standardize", "pca:10"]).fit(x_train)    # x_train: (N, D)
    >>> pre(x_test).shape                                              # (M, 10)

    ``state_dict()`` holds only tensors, strings, ints and lists, so it loads with
    ``torch.load(weights_only=True)``; ``Preprocessor.from_state_dict(d)`` rebuilds it.
    """

    def __init__(self, steps: list[str]):
        self.names = [str(s) for s in steps]
        self.steps = [_STEP_CLASSES[name](arg) for name, arg in parse_steps(self.names)]
        self.in_shape: list[int] | None = None

    @property
    def fitted(self) -> bool:
        return self.in_shape is not None

    def fit(self, x: Tensor) -> Preprocessor:
        """Learn every step's statistics on ``x: (N, ...)``, each on the previous step's output."""
        if x.dim() < 2 or x.shape[0] == 0:
            raise BadInput(f"preprocessing: need a non-empty (N, ...) training tensor, got shape {tuple(x.shape)}")
        self.in_shape = list(x.shape[1:])
        for step in self.steps:
            step.fit(x)
            x = step(x)
        return self

    def __call__(self, x: Tensor) -> Tensor:
        """Apply the fitted steps: ``(N, *in_shape) -> (N, *out_shape)``."""
        if not self.fitted:
            raise RuntimeError("Preprocessor called before fit(): fit it on the training split first")
        if list(x.shape[1:]) != self.in_shape:
            raise ValueError(f"Preprocessor was fitted on examples of shape {tuple(self.in_shape)}, got {tuple(x.shape[1:])}")
        for step in self.steps:
            x = step(x)
        return x

    def state_dict(self) -> dict[str, Tensor | list | str]:
        """``{"steps": [...], "in_shape": [...], "<i>.<key>": Tensor}``; call after fit()."""
        if not self.fitted:
            raise RuntimeError("Preprocessor.state_dict() before fit(): nothing to save")
        state: dict = {"steps": list(self.names), "in_shape": list(self.in_shape)}
        for i, step in enumerate(self.steps):
            for key in step.keys:
                state[f"{i}.{key}"] = step.stats[key].detach().cpu().clone()
        return state

    def load_state_dict(self, state: dict) -> Preprocessor:
        """Restore the statistics saved by :meth:`state_dict` (steps must match)."""
        if list(state.get("steps", [])) != self.names:
            raise ValueError(f"state_dict is for steps {state.get('steps')}, this Preprocessor has {self.names}")
        for i, step in enumerate(self.steps):
            missing = [k for k in step.keys if f"{i}.{k}" not in state]
            if missing:
                raise ValueError(f"state_dict lacks {', '.join(f'{i}.{k}' for k in missing)}")
            step.stats = {k: torch.as_tensor(state[f"{i}.{k}"]) for k in step.keys}
        self.in_shape = [int(n) for n in state["in_shape"]]
        return self

    @classmethod
    def from_state_dict(cls, state: dict) -> Preprocessor:
        return cls(list(state["steps"])).load_state_dict(state)

    def __repr__(self) -> str:
        return f"Preprocessor({self.names}{'' if self.fitted else ', unfitted'})"

"""What every source loader shares: its ``data.options`` checked against its defaults, integer
options, and the seeded train/test split of a source that ships no test part."""

from __future__ import annotations

from typing import Any

import numpy as np

from babysitter.errors import BadInput


def check_options(source: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; BadInput naming the unknown keys and the valid ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(defaults) or "none"
        raise BadInput(f"data.options: unknown option(s) {', '.join(unknown)} for source '{source}'; valid: {valid}")
    return {**defaults, **given}


def check_int(source: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BadInput(f"data.options.{key} for '{source}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def seeded_split(n: int, fraction: Any, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` indices: ``perm = default_rng(seed).permutation(n)``, the last
    ``round(fraction * n)`` are test (the ``npz`` source's rule)."""
    n_test = round(float(fraction) * n) if isinstance(fraction, (int, float)) and not isinstance(fraction, bool) else -1
    if not 0 < n_test < n:
        raise BadInput(f"{source}: test_fraction {fraction!r} of {n} examples leaves no test or no train set")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:-n_test], perm[-n_test:]

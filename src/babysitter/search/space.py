"""The search space: a YAML mapping from spec paths to ranges (CS231n: search in log space).

    optim.lr:         {low: 1.0e-6, high: 1.0e-1, log: true}   # sampled as 10**uniform(-6, -1)
    regularize.l2:    {low: 1.0e-5, high: 1.0e-1, log: true}
    model.dropout:    {low: 0.0, high: 0.5}                      # uniform
    train.batch_size: {low: 32, high: 256, int: true}            # ints: int: true, or both bounds ints
    model.activation: {choices: [relu, tanh]}

Every key must be a spec path that :func:`babysitter.spec.override` accepts on the base spec, with
both ends of its range valid values there. A bad space raises :class:`BadInput` with one line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from babysitter.errors import BadInput
from babysitter.spec import RunSpec, override, read_yaml

RANGE_KEYS = ("low", "high", "log", "int")


@dataclass(frozen=True)
class Param:
    """One searched spec key: a numeric range ``[low, high]`` (log/int) or a list of ``choices``."""

    path: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    int: bool = False
    choices: tuple | None = None

    @property
    def numeric(self) -> bool:
        return self.choices is None

    def suggest(self, trial):
        """Draw this parameter through Optuna's trial API (the sampler decides how)."""
        if not self.numeric:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.int:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, log=self.log)

    def position(self, value: float) -> float:
        """Where ``value`` sits in the range, 0 (low) .. 1 (high), measured in log space if ``log``."""
        f = math.log if self.log else (lambda v: v)
        return (f(value) - f(self.low)) / (f(self.high) - f(self.low))

    def grid(self, points: int) -> list:
        """``points`` values evenly spaced over the (log) range; ints rounded and deduplicated."""
        if not self.numeric:
            return list(self.choices)
        if self.log:
            values = np.geomspace(self.low, self.high, points)
        else:
            values = np.linspace(self.low, self.high, points)
        if self.int:
            return sorted({int(round(v)) for v in values})
        return [float(v) for v in values]

    def describe(self) -> str:
        if not self.numeric:
            return f"{{{', '.join(map(str, self.choices))}}}"
        return f"[{self.low:.3g}, {self.high:.3g}]{' log' if self.log else ''}{' int' if self.int else ''}"


Space = dict[str, Param]


def _param(path: str, entry: Any) -> Param:
    where = f"space: {path}"
    if not isinstance(entry, dict):
        raise BadInput(f"{where}: expected a mapping like {{low: 1.0e-4, high: 1.0e-1, log: true}} or {{choices: [a, b]}}")
    if "choices" in entry:
        extra = set(entry) - {"choices"}
        choices = entry["choices"]
        if extra:
            raise BadInput(f"{where}: 'choices' takes no other keys, got {', '.join(sorted(extra))}")
        if not isinstance(choices, list) or not choices:
            raise BadInput(f"{where}: choices must be a non-empty list")
        return Param(path, choices=tuple(choices))
    unknown = set(entry) - set(RANGE_KEYS)
    if unknown:
        raise BadInput(f"{where}: unknown key '{sorted(unknown)[0]}'; valid: low, high, log, int, choices")
    if "low" not in entry or "high" not in entry:
        raise BadInput(f"{where}: needs both low and high (or choices)")
    low, high = entry["low"], entry["high"]
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise BadInput(f"{where}: {name} must be a finite number, got {v!r}")
    if low >= high:
        raise BadInput(f"{where}: low ({low}) must be below high ({high})")
    log = bool(entry.get("log", False))
    if log and low <= 0:
        raise BadInput(f"{where}: a log range needs low > 0, got {low}")
    is_int = bool(entry.get("int", isinstance(low, int) and isinstance(high, int)))
    if is_int and (low != int(low) or high != int(high)):
        raise BadInput(f"{where}: int: true needs whole-number bounds, got [{low}, {high}]")
    return Param(path, float(low), float(high), log, is_int)


def parse_space(raw: Any, base: RunSpec) -> Space:
    """Validate a space mapping against the base spec: each end of each range must be a valid value."""
    if not isinstance(raw, dict) or not raw:
        raise BadInput("space: expected a non-empty mapping of spec paths, e.g. 'optim.lr: {low: 1.0e-4, high: 1.0e-1, log: true}'")
    space = {str(path): _param(str(path), entry) for path, entry in raw.items()}
    for p in space.values():
        ends = list(p.choices) if not p.numeric else [_cast(p, p.low), _cast(p, p.high)]
        for value in ends:
            try:
                override(base, **{p.path: value})
            except BadInput as e:
                raise BadInput(f"space: {p.path} = {value!r} is not a valid spec value ({e})") from None
    return space


def _cast(p: Param, value: float):
    return int(value) if p.int else value


def load_space(source: str | Path | dict, base: RunSpec) -> Space:
    """Read and validate a space from a YAML path or a dict."""
    if isinstance(source, dict):
        return parse_space(source, base)
    return parse_space(read_yaml(source, "space"), base)


def corners(space: Space) -> list[dict]:
    """The range's two ends for every parameter at once (low ends / high ends; first / last choice).
    A coarse random search tries them first, so an optimum at an edge cannot be missed."""
    def end(p: Param, side: int):
        if not p.numeric:
            return p.choices[-side]
        return _cast(p, p.high if side else p.low)
    return [{p.path: end(p, side) for p in space.values()} for side in (0, 1)]


def space_to_dict(space: Space) -> dict:
    """The YAML/JSON form of a space (what load_space reads back)."""
    out = {}
    for p in space.values():
        d = {k: v for k, v in asdict(p).items() if k != "path" and v not in (None, False)}
        if "choices" in d:
            d["choices"] = list(d["choices"])
        elif p.int:
            d["low"], d["high"] = int(p.low), int(p.high)
        out[p.path] = d
    return out


def grid_space(space: Space, points: int = 3) -> dict[str, list]:
    """The search space of Optuna's GridSampler: every choice, ``points`` (log-)spaced values per range."""
    return {p.path: p.grid(points) for p in space.values()}


def edge_warnings(space: Space, best: dict[str, Any], edge: float = 0.1) -> list[str]:
    """CS231n: if the best value sits at the border of the range, the optimum may lie outside it.

    A warning for each numeric parameter whose best value lies in the outer ``edge`` fraction of its
    (log) range, naming the direction to widen.
    """
    warnings = []
    for p in space.values():
        if not p.numeric or p.path not in best:
            continue
        v, at = best[p.path], p.position(best[p.path])
        rng = f"[{p.low:.3g}, {p.high:.3g}]"
        if at >= 1 - edge:
            warnings.append(f"{p.path}: best {v:.3g} is at the upper edge of {rng}; widen high")
        elif at <= edge:
            warnings.append(f"{p.path}: best {v:.3g} is at the lower edge of {rng}; widen low")
    return warnings

"""Coarse -> fine (CS231n): after a coarse search over wide ranges, search again, narrower, around
the trials that worked.

The fine range of each numeric parameter spans the values of the top ``k`` completed trials,
``k = max(5, ceil(0.2 * n_complete))`` (the top 20%, at least 5), widened by a margin of 10% of
the coarse range on each side (measured in log space for log parameters) and clipped to the coarse
range:

    lo' = max(low,  min_top - 0.1 (high - low)),   hi' = min(high, max_top + 0.1 (high - low))

(for log parameters the same in log10). Categorical parameters keep the choices seen in the top k.
Clipping keeps every fine value valid for the spec; when the best sits at an edge, the coarse
search's edge warning says to widen that range and run the coarse stage again.
"""

from __future__ import annotations

import math
from dataclasses import replace

from babysitter.search.space import Param, Space

TOP_FRACTION, MIN_TOP, MARGIN = 0.2, 5, 0.1


def top_trials(trials, fraction: float = TOP_FRACTION, minimum: int = MIN_TOP) -> list:
    """The best completed trials by value (val accuracy, higher is better)."""
    done = sorted((t for t in trials if t.value is not None and t.state.name == "COMPLETE"),
                  key=lambda t: t.value, reverse=True)
    k = max(minimum, math.ceil(fraction * len(done)))
    return done[:k]


def narrow_param(p: Param, values: list, margin: float = MARGIN) -> Param:
    """The fine range of one parameter from the values the top trials used."""
    if not p.numeric:
        kept = tuple(c for c in p.choices if c in values)
        return replace(p, choices=kept or p.choices)
    to, back = (math.log10, lambda v: 10 ** v) if p.log else (float, float)
    lo, hi = to(p.low), to(p.high)
    pad = margin * (hi - lo)
    new_lo = back(max(lo, to(min(values)) - pad))
    new_hi = back(min(hi, to(max(values)) + pad))
    if p.int:
        new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
        if new_lo >= new_hi:
            new_lo, new_hi = max(p.low, new_lo - 1), min(p.high, new_hi + 1)
    new_lo, new_hi = max(p.low, new_lo), min(p.high, new_hi)  # float round-off of 10**log10(x)
    return replace(p, low=float(new_lo), high=float(new_hi))


def narrow_space(space: Space, trials) -> Space:
    """The fine space around the top trials of a finished coarse study."""
    top = top_trials(trials)
    if not top:
        raise ValueError("no completed trial to refine around")
    return {path: narrow_param(p, [t.params[path] for t in top if path in t.params])
            if any(path in t.params for t in top) else p for path, p in space.items()}

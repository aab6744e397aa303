"""The CPU thread count as a measured choice (``train.threads: auto``).

Small training steps on more OpenMP threads than there are free cores wait on the slowest
thread: with one other CPU-bound process on a 2-core box, torch's default 2 threads made the
built-in recipe 3.7x slower than 1 thread (44.4 s vs 17.1 s, issue #17). Which count is
fastest depends on the step size and on what else runs, so it is timed, not guessed:

    probe   for each candidate c in 1..T (T = the threads torch has when training starts, i.e.
            never above the CPUs granted, :func:`babysitter.train.trainer.cpu_threads`, nor
            above a count the user set), run ``warmup`` steps untimed then ``probe_steps``
            steps; t_c = median step seconds. Keep c* = argmin_c t_c (ties: fewer threads).
    watch   every ``every`` steps, m = median step seconds of the last ``probe_steps`` steps;
            probe again when m > drift * t_c* (a competitor arrived), and every
            ``recheck * every`` steps regardless (a competitor may have left).

Step seconds are wall time between consecutive ``after_step`` calls (the whole step: indexing,
augmentation, hooks), reset at each epoch start so evaluation never counts. Only CPU training is
tuned. Weights do not depend on the choice beyond float rounding (tests/train/test_threads.py).
"""

from __future__ import annotations

import statistics
import time

import torch

from babysitter.train.events import Callback


class ThreadTuner(Callback):
    """Times steps at each candidate thread count and keeps the fastest (see the module doc).

    ``choices``: one row per probe, ``{"step", "threads", "step_seconds": {c: t_c}}``.
    Defaults: warmup 2, probe_steps 6, every 100, drift 1.3, recheck 20 (a probe every 2000 steps).
    """

    def __init__(self, warmup: int = 2, probe_steps: int = 6, every: int = 100, drift: float = 1.3,
                 recheck: int = 20):
        self.warmup, self.probe_steps, self.every, self.drift, self.recheck = warmup, probe_steps, every, drift, recheck
        self.candidates: list[int] = []
        self.choices: list[dict] = []
        self.chosen: int | None = None
        self.chosen_seconds = 0.0
        self._last: float | None = None
        self._queue: list[int] = []     # candidates still to probe (the current one first)
        self._seen = 0                  # steps at the current candidate (probing) or since the last check
        self._times: list[float] = []
        self._probed: dict[int, float] = {}
        self._watches = 0

    def before_fit(self, trainer):
        self.candidates = list(range(1, torch.get_num_threads() + 1))
        if len(self.candidates) > 1:
            self._start_probe(trainer.step)

    def before_epoch(self, trainer):
        self._last = None  # the gap across evaluation and checkpoints is no step

    def after_step(self, trainer):
        now = time.perf_counter()
        last, self._last = self._last, now
        if last is None or len(self.candidates) < 2:
            return
        self._seen += 1
        if self._queue:
            if self._seen > self.warmup:
                self._times.append(now - last)
            if len(self._times) >= self.probe_steps:
                self._probed[self._queue.pop(0)] = statistics.median(self._times)
                self._next(trainer.step)
            return
        self._times.append(now - last)
        if len(self._times) > self.probe_steps:
            del self._times[0]
        if self._seen >= self.every:
            self._seen, self._watches = 0, self._watches + 1
            slow = statistics.median(self._times) > self.drift * self.chosen_seconds
            if slow or self._watches % self.recheck == 0:
                self._start_probe(trainer.step)

    def _start_probe(self, step: int) -> None:
        current = torch.get_num_threads()
        self._queue = [current, *(c for c in self.candidates if c != current)]
        self._probed = {}
        self._set(self._queue[0])

    def _next(self, step: int) -> None:
        if self._queue:
            self._set(self._queue[0])
            return
        self.chosen = min(self._probed, key=lambda c: (self._probed[c], c))
        self.chosen_seconds = self._probed[self.chosen]
        self.choices.append({"step": step, "threads": self.chosen,
                             "step_seconds": dict(sorted(self._probed.items()))})
        torch.set_num_threads(self.chosen)
        self._seen, self._times = 0, []

    def _set(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self._seen, self._times = 0, []

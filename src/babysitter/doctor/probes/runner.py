"""The one runner of the kit probes: each probe module's experiment in order on a
:class:`~babysitter.doctor.probes.kit.Kit` (a watched script's, a Lightning run's), within a time
budget, on copies, with torch's RNG restored: :func:`run_kit_probes`. The probes import the kit and
the runner imports them: no import cycle."""

from __future__ import annotations

import time

import torch

from babysitter.doctor.findings import Finding
from babysitter.doctor.probes.init_gradients import probe_init_gradients
from babysitter.doctor.probes.init_loss import probe_init_loss
from babysitter.doctor.probes.input_scale import probe_input_scale
from babysitter.doctor.probes.kit import Kit, kept_rng
from babysitter.doctor.probes.labels import probe_labels, probe_shuffling
from babysitter.doctor.probes.lr_range import probe_lr_range
from babysitter.doctor.probes.overfit_tiny import lr_past_minimum, past_the_minimum, probe_overfit_tiny, slow_not_broken


def all_probes() -> tuple:
    """(name, probe) in the order they run."""
    return (("input_scale", probe_input_scale), ("init_loss", probe_init_loss),
            ("init_gradients", probe_init_gradients), ("batch_labels", probe_shuffling),
            ("lr_range", probe_lr_range), ("labels", probe_labels), ("overfit_tiny", probe_overfit_tiny))


def run_kit_probes(kit: Kit, budget: float = 30.0) -> tuple[dict, list[Finding]]:
    """Every probe of :func:`all_probes` while ``budget`` seconds last, on copies, with torch's CPU (and
    CUDA) RNG restored afterwards. A probe that fails is recorded under ``probes["errors"]``:
    the run being watched must never fail because of the doctor."""
    probes, found, seconds, errors = {}, [], {}, {}
    t0 = time.perf_counter()
    unshuffled = False
    with kept_rng(), torch.enable_grad():
        for name, probe in all_probes():
            if time.perf_counter() - t0 > budget:   # a safety cap: each probe's own budget is in steps
                probes.setdefault("skipped", []).append(name)
                probes["stopped_by_time"] = True
                continue
            if name == "labels" and unshuffled:
                continue   # later batches hold other classes: held-out accuracy would say nothing
            t = time.perf_counter()
            try:
                numbers, f = probe(kit)
            except Exception as e:  # noqa: BLE001 - a probe's failure is reported, never raised into the script
                errors[name] = f"{type(e).__name__}: {e}"
                continue
            finally:
                seconds[name] = round(time.perf_counter() - t, 3)
            probes.update(numbers)
            found += f
            unshuffled = unshuffled or any(x.id == "unshuffled_data" for x in f)
            if any(x.id == "lr_too_high" for x in f):   # labels_look_random asks about the labels, not the lr
                kit.labels_lr = probes["lr_range"]["suggested"]
            elif name == "lr_range" and past_the_minimum(kit, probes):   # a sequence model past the range
                kit.labels_lr = probes["lr_range"]["suggested"]              # test's minimum: the same question
    found += lr_past_minimum(kit, probes, found)
    if "overfit_tiny" in probes:   # at most TINY_STEPS more steps: a verdict must not hang on the clock
        with kept_rng(), torch.enable_grad():
            found = slow_not_broken(kit, probes, found)
    probes["seconds"] = seconds
    if errors:
        probes["errors"] = errors
    return probes, found

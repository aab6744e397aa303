"""A watched run's verdict: the instruments' findings, the loss curve's, the code faults and the
probes' -> one report (``{"healthy", "findings", "probes", "script", "steps", "run_dir"}``), and
its run dir (diagnosis.json, doctor.json, metrics.jsonl, plots, report.html).

The shared readers (:func:`readers.instruments.findings`, :func:`readers.curves.classify`) take a
spec: a watched run gets a *shim* spec holding what the hooks saw (optimizer, lr, weight decay, batch size, epochs).
The verdict is :func:`babysitter.doctor.verdict.verdict`'s, with the code change as the remedy
(:class:`~babysitter.doctor.remedies.ScriptHost`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from babysitter.doctor import instruments
from babysitter.doctor.readers import code_faults, curves
from babysitter.doctor.readers import instruments as judges
from babysitter.doctor.readers.baselines import reconsider_underfitting, unigram_loss
from babysitter.doctor.findings import Finding
from babysitter.doctor.remedies import ScriptHost
from babysitter.doctor.thresholds import LOSS_EVERY
from babysitter.doctor.verdict import verdict
from babysitter.doctor.watch.capture import Seen
from babysitter.doctor.instruments import LossTrace
from babysitter.doctor.watch.others import adversarial, curve_does_not_apply

OPTIMIZER_NAMES = {"SGD": "sgd", "Adam": "adam", "AdamW": "adam", "NAdam": "nadam", "Adamax": "adamax",
                   "Adagrad": "adagrad", "RMSprop": "rmsprop", "LBFGS": "lbfgs"}
def shim_spec(w, seen: Seen) -> SimpleNamespace:
    """What the hooks saw, in the shape of the RunSpec keys that the instruments' and the curves'
    readers take (optim, regularize, train, model, schedule, doctor). Plain attributes, not a
    RunSpec: the watched script's process should not pay for the spec's validation machinery."""
    opt = w.optimizer
    g = opt.param_groups[0] if opt is not None and opt.param_groups else {}
    name = OPTIMIZER_NAMES.get(type(opt).__name__, "sgd") if opt is not None else "sgd"
    if name == "sgd" and (g.get("momentum") or 0) > 0:
        name = "nesterov" if g.get("nesterov") else "momentum"
    lr = float(w.lrs[0][1]) if w.lrs and math.isfinite(w.lrs[0][1]) and w.lrs[0][1] > 0 else 0.01
    bs = len(seen.batches[0][0]) if seen.batches else 32
    ns = SimpleNamespace
    return ns(optim=ns(name=name, lr=lr, momentum=min(float(g.get("momentum") or 0.9), 0.99),
                       weight_decay=float(g.get("weight_decay") or 0.0)),
              schedule=ns(name="constant"), regularize=ns(l1=0.0, l2=0.0, max_norm=None),
              train=ns(batch_size=bs, epochs=max(1, len(w.epoch_ends) or 1)),
              model=ns(kind="python", hidden=[], dropout=0.0), doctor=ns(every=w.every))


SHORT_BATCH = 0.5   # a training batch under half the largest seen is left out of the loss trace


def replay_trace(w) -> dict:
    """The LossTrace of the training losses seen: every step's (a loss module) at the watch's
    cadence, or every LOSS_EVERY-th step's (a functional loss) in windows of every / LOSS_EVERY."""
    values = torch.tensor(w.loss_values.values())
    train = [(s, values[k], n) for (s, k, is_train, _), n in zip(w.losses, w.loss_sizes) if is_train]
    dense = len(train) >= 0.9 * max(w.step, 1)
    full = max((n for _, _, n in train), default=1)
    # a short batch (an epoch's remainder, e.g. 10 examples) is a noisier estimate: its loss would
    # weigh as much as a full batch's in a window mean, and could make a falling curve "rise"
    train = [(s, loss) for s, loss, n in train if n >= SHORT_BATCH * full]
    if not dense:   # evenly spaced points only: the first steps are all read, and would crowd the first windows
        train = [(s, loss) for s, loss in train if s % LOSS_EVERY == 0]
    trace = LossTrace(w.every if dense else max(2, w.every // LOSS_EVERY))
    host = type("Host", (), {})()
    for n, (s, loss) in enumerate(train, 1):
        host.step, host.loss = (s + 1 if dense else n), loss
        trace.after_step(host)
    trace.after_fit(host)
    return trace.summary()


def epoch_rows(w) -> list[dict]:
    """metrics.jsonl rows: an epoch ends where an evaluation pass follows training steps (else 10
    equal chunks of steps, train columns only). ``val_*`` are the losses computed in evaluation."""
    if not w.losses:
        return []
    values = w.loss_values.values()
    vals = [values[k] for _, k, _, _ in w.losses]
    acc_values = w.acc_values.values()
    accs = [None if j is None else acc_values[j] for _, _, _, j in w.losses]
    ends = sorted({e for e in w.epoch_ends if 0 < e < w.step})
    if len(ends) < 2:   # no epochs seen: 10 equal chunks
        ends = sorted({round(w.step * (k + 1) / 10) for k in range(9)} - {0})
    ends.append(w.step)
    rows, lo = [], 0
    lrs = dict(w.lrs)
    seen = list(zip(w.losses, vals, accs, w.loss_sizes))
    for epoch, hi in enumerate(ends, 1):
        train = [(v, a, n) for (s, _, t, _), v, a, n in seen if t and lo <= s < hi]
        nxt = ends[epoch] if epoch < len(ends) else math.inf
        val = [(v, a, n) for (s, _, t, _), v, a, n in seen if not t and hi <= s < nxt]
        if not train:
            lo = hi
            continue
        lr = next((lrs[s] for s in sorted(lrs, reverse=True) if s <= lo), None)
        rows.append({"epoch": len(rows) + 1, "step": hi, "train_loss": _mean(train, 0), "train_acc": _mean(train, 1),
                     "val_loss": _mean(val, 0), "val_acc": _mean(val, 1), "lr": lr, "seconds": None})
        lo = hi
    return rows


def _mean(xs: list[tuple], k: int) -> float | None:
    """The per-example mean of column ``k`` of (loss, acc, batch size) rows: sum n_i x_i / sum n_i
    over the rows where x_i was read (a batch-mean loss weighs as many examples as it averaged)."""
    got = [(x[k], x[2]) for x in xs if x[k] is not None]
    total = sum(n for _, n in got)
    return sum(v * n for v, n in got) / total if total else None


def no_training_seen(w, seen: Seen) -> Finding:
    """The doctor saw no optimizer step and no hand-written update: it cannot judge the run, and
    a run it did not see is not called healthy (a warning)."""
    facts = {"optimizer_steps": 0, "backward_calls": w.evidence.backwards,
             "parameters_changed": seen.parameters_changed, "model_calls_seen": seen.model_calls_seen}
    what = (f"{facts['backward_calls']} backward() call(s) seen" if facts["backward_calls"] else "no backward() seen")
    return Finding("no_training_seen", "warning",
                   f"no optimizer step and no parameter update was seen ({what}): nothing of the training was "
                   "measured, so nothing can be judged",
                   "train inside the watched script (torch.optim optimizers and hand-written updates after "
                   "loss.backward() are followed); a model trained in a subprocess or with torch.autograd.grad "
                   "and no update is not seen", score=0.5, facts=facts)


def never_stepped(w, seen: Seen) -> list[Finding]:
    """A training loop whose update is left out: backward() filled the model's gradients NEVER_STEPPED
    times or more, and no optimizer stepped and no parameter changed (``optimizer.step()`` never called).
    Seen, not unseen: the parameters stayed where they were (beside ``no_training_seen``)."""
    from babysitter.doctor.thresholds import NEVER_STEPPED

    n = w.evidence.backwards
    if n < NEVER_STEPPED or not seen.gradients_seen or seen.parameters_changed:
        return []
    return [Finding("parameters_not_updated", "warning",
                    f"{n} backward() calls filled the model's gradients, but no optimizer stepped and no parameter "
                    "ever changed: the update is never made",
                    score=0.8, facts={"backward_calls": n, "optimizer_steps": 0, "never_stepped": True})]


def dropout_too_strong(model, rows: list[dict]) -> list[Finding]:
    """Dropout modules that drop DROP_STRONG of their units or more (``nn.Dropout(p)``'s p is the share
    *dropped*: a keep-probability of 0.9 written as p=0.9 keeps 10 %), while the run's train accuracy
    (read in train mode, through that dropout) ends below UNDERFIT_ACC: the regularisation holds the
    model back (reg_too_strong)."""
    from babysitter.doctor.thresholds import DROP_STRONG, UNDERFIT_ACC

    acc = curves.latest(rows, "train_acc")
    strong = [(n or type(m).__name__, float(m.p)) for n, m in (model.named_modules() if model is not None else ())
              if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p >= DROP_STRONG]
    if not strong or acc is None or acc >= UNDERFIT_ACC:
        return []
    name, p = max(strong, key=lambda s: s[1])
    return [Finding("reg_too_strong", "warning",
                    f"Dropout(p={p:g}) at {name} drops {p:.0%} of its units (p is the share dropped, not kept) and "
                    f"the train accuracy ends at {acc:.3f} (< {UNDERFIT_ACC:g})", layer=name, score=0.7,
                    facts={"dropout": p, "layer": name, "train_acc": acc})]


def zeroed_before_step(found: list[Finding], w) -> list[Finding]:
    """no_gradient_flow whose gradients backward() did fill (a norm > 0 at its end) at half the read
    steps or more, all 0 at the step: they were zeroed in between (``optimizer.zero_grad()`` after
    ``loss.backward()``). The graph reaches the parameters; the fact picks the remedy."""
    zeroed, seen = w.clipping.zeroed(), len(w.clipping.seen)
    if not zeroed or len(zeroed) * 2 < seen:
        return found
    for f in found:
        if f.id == "no_gradient_flow":
            f.facts.update({"zeroed_before_step": True, "norm_after_backward": zeroed[0][1]})
            f.evidence += (f"; backward() did fill them (total norm {zeroed[0][1]:.3g} at its end, at {len(zeroed)} "
                           f"of {seen} read steps): they were zeroed before the step")
    return found


def clipped_run(found: list[Finding], w) -> list[Finding]:
    """A run that clips its gradients: plain SGD's step is then bounded by lr x the clip norm, so a
    large update ratio, or an lr beyond a constant-lr range test's, is the regime the script chose
    (info; the run's own loss curve judges the lr: it stays a warning when the curve explodes or
    rises); and gradients that exploded before clipping are named
    (the clipped ones the instruments read would hide it)."""
    from babysitter.doctor.thresholds import EXPLODING_NORM

    clip = w.clipping.clip_norm()
    if clip is None:
        return found
    facts = w.clipping.facts()
    sgd = type(w.optimizer) is torch.optim.SGD
    curve_says = any(f.facts.get("source") == "curve" and (f.id == "lr_too_high" or f.id == "loss_not_finite"
                                                           and not f.facts.get("at_init")) for f in found)
    for f in found:
        if f.id == "lr_too_high" and sgd and f.severity == "warning" and not curve_says:
            f.adjust(-0.3, f"the run clips the gradient norm to {clip:.3g}: each SGD step is at most lr x that",
                     severity="info")
            f.facts.update(facts)
    top = facts["max_norm_before_clip"]
    if top is not None and top > EXPLODING_NORM and not any(f.id == "exploding_gradients" for f in found):
        found.append(Finding("exploding_gradients", "warning",
                             f"total gradient norm {top:.3g} before clipping (> {EXPLODING_NORM:g}); clipping to "
                             f"{clip:.3g} hides it from the step", "lower the lr 10x; nn.init.kaiming_normal_ / "
                             "xavier_normal_ init; add normalisation layers", score=0.7, facts=facts))
    return found


def ratio_within_range(found: list[Finding], probes: dict, lr: float) -> list[Finding]:
    """lr_too_high on the update/weight ratio alone (the lecture's ~1e-3 rule of thumb) when the
    experiments say otherwise: the range test's loss still fell at the run's (peak) ``lr`` -- at or
    below its ``high`` landmark, where the sweep's loss was lowest -- and neither the range test nor
    the run's own curve calls the lr too high. Then the large ratio is the optimizer's regime, not a
    divergence (pytorch/examples' Adadelta at lr 1.0 moves a digits CNN's weights ~4 % a step while
    its test loss falls 6x in 3 epochs): info."""
    high = (probes.get("lr_range") or {}).get("high")
    if not high or not lr or lr > high:
        return found
    if any(f.id == "lr_too_high" and "update_ratio" not in f.facts for f in found):   # the curve's or the range test's
        return found
    for f in found:
        if f.id == "lr_too_high" and f.severity == "warning":
            f.adjust(-0.3, f"the range test's loss still falls at lr {lr:.3g} (lowest at {high:.3g}) and the run's "
                     "own curve does not call it too high", severity="info")
            f.facts["range_high"] = high
    return found


def probes_not_run(probes: dict) -> list[Finding]:
    """One info finding per probe that raised or was skipped, with the reason: a verdict without
    an experiment must say it lacks it (``probes.errors`` alone is read by nobody)."""
    out = [Finding("probe_failed", "info", f"the {name} probe could not run: {why}",
                   "nothing to change in the script; the verdict lacks this experiment's evidence",
                   score=0.1, facts={"probe": name, "reason": why})
           for name, why in (probes.get("errors") or {}).items()]
    skipped = probes.get("skipped")
    if isinstance(skipped, str):
        out.append(Finding("probe_failed", "info", f"the probes did not run: {skipped}",
                           "nothing to change in the script", score=0.1, facts={"probe": "all", "reason": skipped}))
    elif skipped:
        out.append(Finding("probe_failed", "info", f"the {', '.join(skipped)} probe(s) did not run: the probes' time "
                           "budget (--budget seconds) ran out", "a larger --budget", score=0.1,
                           facts={"probe": list(skipped), "reason": "budget"}))
    return out


def finish(w) -> dict:
    """The report of a :class:`~babysitter.doctor.watch.Watch` whose hooks are removed and whose
    probes ran (:meth:`Watch.close`); it reads the watch's public attributes and :meth:`Watch.seen`."""
    seen = w.seen()
    for t in w.tools:
        t.after_fit(w)
    sums = instruments.summaries([t for t in w.tools if not isinstance(t, LossTrace)])
    sums["LossTrace"] = replay_trace(w)
    rows = epoch_rows(w)
    found: list[Finding] = []
    if w.step > 0:
        spec = shim_spec(w, seen)
        classification = seen.num_classes is not None and not seen.in_batch   # in-batch classes: no fixed set
        found += judges.findings(sums, spec)
        curve = curves.classify(sums["LossTrace"], rows if classification else
                                [{**r, "train_acc": None, "val_acc": None} for r in rows], spec, sums)
        if not classification:   # the noise threshold is cross entropy's: a batch's squared error scatters ~sqrt(2/B)
            for f in curve:
                if f.id == "noisy_loss":
                    f.adjust(-0.3, f"a {seen.loss_name or 'non-classification'} loss: the threshold is set for "
                             "cross entropy", severity="info")
                    f.facts["classification"] = False
        for f in curve:
            f.facts.setdefault("source", "curve")   # the run's own loss curve (causal rules read it)
        if adversarial(w.others.values()):
            curve = curve_does_not_apply(curve)
        for other in w.others.values():
            found += other.findings(spec)
        found += reconsider_underfitting(curve, rows, sequence=seen.sequence,
                                         unigram=unigram_loss([y for _, y in seen.batches], seen.ignore_index))
        found += code_faults.findings(w.evidence, w.step)
        if classification and not seen.sequence and not any(f.id == "reg_too_strong" for f in found):
            found += dropout_too_strong(w.model, rows)
    found += list(seen.probe_findings)
    if w.step > 0:
        found = ratio_within_range(clipped_run(zeroed_before_step(found, w), w), seen.probes, seen.lr_peak)
    if w.step == 0:
        found += never_stepped(w, seen)
        found.append(no_training_seen(w, seen))
    found += probes_not_run(seen.probes)
    origin = seen.nan_origin
    for f in found:
        if f.id == "loss_not_finite" and origin is not None and "origin" not in f.facts:
            f.facts["origin"] = origin
            where = (f"{origin['module']}" + (f" ({origin['op']})" if origin.get("op") else "")
                     + ("; the input batch already held NaN/Inf" if origin.get("input_nonfinite") else "")
                     + ("; its weights were already non-finite" if origin.get("parameters_nonfinite") else ""))
            f.evidence += f"; it started in {where}, {origin['pass']} pass at step {origin['step']}"
    lr = float(w.lrs[0][1]) if w.lrs else math.nan
    opt = type(w.optimizer).__name__ if w.optimizer is not None else "SGD"
    probes = dict(seen.probes)
    probes["watch"] = {"steps": w.step, "epochs": len(rows), "evaluation_passes": w.evidence.eval_passes,
                       "backward_calls_seen": w.evidence.backwards, "loss": seen.loss_name,
                       "classes": seen.num_classes, "model": type(w.model).__name__ if w.model is not None else None,
                       "optimizer": opt, "lr": lr, "seconds": round(time.perf_counter() - w.started, 3)}
    if w.step == 0:
        probes["watch"]["note"] = "no optimizer step was seen: nothing to diagnose"
    out = verdict(found, ScriptHost(opt, lr if math.isfinite(lr) else None), probes)
    run_dir = write_run_dir(w, out, sums, rows) if w.out is not None else None
    return {**out, "script": w.script, "steps": w.step, "run_dir": str(run_dir) if run_dir else None}


def write_run_dir(w, out: dict, sums: dict, rows: list[dict]) -> Path:
    from babysitter.files import dumps, release
    from babysitter.train.history import write_json

    d = Path(w.out)
    d.mkdir(parents=True, exist_ok=True)
    full = {**out, "script": w.script, "steps": w.step, "run_dir": str(d)}
    write_json(d / "diagnosis.json", full)
    write_json(d / "doctor.json", sums)
    (d / "metrics.jsonl").write_text("".join(dumps(r) + "\n" for r in rows))  # NaN -> null: JSON only
    if w.tensorboard:
        from babysitter.train.tensorboard import write_events

        write_events(d / "tb", rows, sums)
    if w.render == "background":   # the verdict first: the pictures cost more than a short script's hooks
        import os
        import subprocess
        import sys

        release(d)  # the report process locks the dir itself (babysit watch took it before the script)

        subprocess.Popen([sys.executable, "-m", "babysitter.cli", "report", "--quiet", str(d)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return d
    try:
        if w.render == "now":
            _render(w, d, rows)
    finally:
        release(d)   # the run is written: `babysit report` (or a notebook's next cell) may take the dir
    return d


def _render(w, d: Path, rows: list[dict]) -> None:
    try:  # the plots and the page are a view of the files above: never the reason a watch fails
        import warnings

        from babysitter.report.html import write_report
        from babysitter.report.plots import plot_curves, plot_instruments

        with warnings.catch_warnings():   # the doctor's stderr stays the script's (empty panels warn)
            warnings.simplefilter("ignore")
            if rows:
                plot_curves(d)
            if w.step:
                plot_instruments(d)
            write_report(d)
    except Exception as e:  # noqa: BLE001
        (d / "report-error.txt").write_text(f"{type(e).__name__}: {e}\n")

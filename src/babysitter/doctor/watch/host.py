"""The doctor on a user's own PyTorch code: ``with babysitter.watch() as doctor:`` (and ``babysit
watch SCRIPT``, which runs a script inside one, see :mod:`babysitter.doctor.watch.runner`).

Everything is seen through torch's own global hooks; no line of the user's code changes:

=============================================  ===========================================================
hook                                           what it tells
=============================================  ===========================================================
optimizer step pre/post hooks (global)         steps, lrs (param_groups), the model (the outermost module
                                               called in forward whose parameters the optimizer steps),
                                               gradients before the step, the instruments' after_step
module forward pre/post hooks (global)         roots (modules called at depth 0), loss modules, the layer
                                               order; armed only on *read* steps
a forward hook on the model itself             training vs evaluation passes (``no_grad`` or eval mode),
                                               epochs (an evaluation pass after training steps), inputs x
a forward hook on a loss module                every step's loss, its input and target
:class:`Spy` (a TorchFunctionMode)             functional losses (``F.cross_entropy``), ``Tensor.backward``,
                                               non-linearities between layers; armed only on read steps
parameter tensor hooks (one step after a read) the fresh gradient of a backward, to tell accumulation from
                                               a missing ``zero_grad``
=============================================  ===========================================================

A step with 0-based index ``s`` is a read step when ``s < DISCOVERY`` or ``s % every == 0``; other
steps pay two optimizer hooks and one or two module hooks. The probes (:mod:`babysitter.doctor.probes`)
run once ``KIT_BATCHES`` training batches were seen (or at the end), on copies of the model as it
was before its first step; torch's RNG is restored, so the script computes exactly what it would.
"""

from __future__ import annotations

import math
import time
import weakref
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils.hooks import RemovableHandle

from babysitter.doctor.readers import code_faults
from babysitter.doctor.instruments import Activations, LossTrace, NonFinite, RegShare, make_instruments
from babysitter.doctor.watch.outputs import Call, Layout
from babysitter.train.events import listeners
from babysitter.doctor.watch.capture import DISCOVERY, KIT_BATCHES, Capture, Scalars, _copy_model  # noqa: F401
from babysitter.doctor.watch.spy import LOSS_MODULES, Spy, _bottleneck, on_top  # noqa: F401
from babysitter.doctor.watch.compiled import hide_global_hook_warning, inner, restore
from babysitter.doctor.watch.others import OtherOptimizer


class Watch(Capture):
    """The doctor attached to whatever trains in this process (``host`` of the instruments:
    ``model``, ``optimizer``, ``step``, ``loss``, ...). Use as a context manager; then ``report``
    (``{"healthy", "findings", "probes", "script", "steps", "run_dir"}``) and ``findings``."""

    steps_per_epoch = 1 << 62           # the host has no epochs of its own: NonFinite reads due steps only
    penalty = None
    weights: list = []

    def __init__(self, out: str | Path | None = None, probes: bool = True, budget: float = 30.0, every: int = 25,
                 script: str | None = None, quiet: bool = False, optimizer_hooks: bool = True,
                 model: nn.Module | None = None, render: str = "now", tensorboard: bool = False):
        """``render``: the plots and report.html "now", in a "background" process (the run dir's JSON
        files are written first, the pictures a moment later), or "none".
        ``optimizer_hooks=False``: the host calls :meth:`before_optimizer_step` (gradients ready) and
        :meth:`after_optimizer_step` itself (Lightning, the Hugging Face Trainer); ``model``: the model,
        when the host knows it; ``quiet``: the watch displays nothing itself in a notebook (a host that
        shows its own verdict)."""
        if budget < 0:
            raise ValueError(f"watch: budget must be >= 0 seconds, got {budget}")
        # resolved now: a script that chdirs must not move the run dir (python's own paths stay absolute too)
        out = Path(out).absolute() if out is not None else None
        self.out, self.probes_on, self.budget, self.every = out, probes, budget, every
        self.script, self.quiet = script, quiet
        self.tensorboard = tensorboard  # event files in <out>/tb once the script ends (train/tensorboard.py)
        self.model: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.optimizers: list = []
        self.step, self.loss, self.stop_reason = 0, None, None
        self._no_loss = torch.zeros(())
        # LossTrace is replayed at the end from the losses seen (a functional loss is seen on read steps only)
        self.tools = [t for t in make_instruments(every=every) if not isinstance(t, LossTrace)]
        self._settle_each: list = []   # the instruments' settle(), read each read step when the model is on the CPU
        self._on_backward, self._on_step = listeners(self.tools, "after_backward"), listeners(self.tools, "after_step")
        self.evidence = code_faults.Evidence()
        self.report: dict | None = None
        self.findings: list[dict] = []
        self._handles: list[RemovableHandle] = []
        self._read_handles: list[RemovableHandle] = []
        self._spy: Spy | None = None
        self._reading = self._read_now = self._post_spy = False
        self._depth = 0
        self._roots: dict[int, nn.Module] = {}
        self._loss_modules: dict[int, nn.Module] = {}
        self._linear_outs: dict[int, tuple[nn.Module, weakref.ref]] = {}   # id(output) -> (layer, its weak ref)
        self._pairs: dict[tuple[int, int], tuple[nn.Module, nn.Module]] = {}
        self._layer_root: dict[int, int] = {}    # id(layer) -> id(the root module whose forward called it)
        self._current_root = None
        self._compiled: dict = {}               # id(OptimizedModule) -> its CompiledRegion (compiled.py)
        self._other_optimizers: dict[int, set[int]] = {}
        self.others: dict[int, OtherOptimizer] = {}   # id(optimizer) -> another optimizer and its model (others.py)
        self._probing = False                    # the probes' own optimizers step: not the script's
        self._loss_rows = 0
        self._softmax_no_dim: set[int] = set()   # data_ptr of F.softmax outputs computed without dim
        self._sigmoid_outs: set[int] = set()     # data_ptr of sigmoid outputs (a sigmoid before BCE with logits)
        self._names: dict[int, str] = {}
        self._last_loss = None
        self._loss_this_step = None
        self._train_pass = True
        self._in_eval_segment = False
        self._eval_calls = 0                     # no-grad model calls since the last training pass
        self._short, self._full_bs, self._ever_train = False, 0, False
        self._pending_x: torch.Tensor | None = None
        self._pending_call: Call | None = None
        self._batch_calls: list[Call | None] = []   # each kit batch's own call (outputs.Rows)
        self._call: Call | None = None           # the script's call of the model (doctor/watch/outputs.py)
        self._layout: Layout | None = None       # how the loss reshaped the model's output and the targets
        self._ignore_index: int | None = None
        self._loss_floor = 0.0
        self._not_rows: tuple[int, int] | None = None   # (x's rows, the loss's rows) of a batch the kit could not split
        self._in_batch: list[bool] = []          # each read training loss: its classes were the batch's own rows
        self._in_model = False                   # inside the model's forward (a loss computed there)
        self._loss_in_model = False
        self._output_kind = None
        self._lr_peak = 0.0                      # the largest lr the run reached (after a warmup)
        self._lr_changed = False
        from babysitter.doctor.watch.hand_updates import HandUpdates

        self._hand = HandUpdates(self)           # a loop with no optimizer object (p.data.add_(...))
        from babysitter.doctor.instruments.nan_origin import NanOrigin

        self._nan = NanOrigin()                  # where a non-finite loss started (replayed at the end)
        from babysitter.doctor.watch.clipping import Clipping

        self.clipping = Clipping()               # gradients before clipping; the clip norm the probes use
        self._last_call = None                   # (model, args, kwargs) of the latest forward (references)
        self._lr_first = math.nan
        self._batches: list = []
        self._kit_model = None
        self._clip_param = None                  # the parameter whose accumulated gradient ends a backward
        self._loss_fn = None
        self._loss_summed = False                # reduction='sum': the init loss is judged per row
        self._loss_name = None
        self._num_classes = None
        self._probes: dict = {}
        self._probe_findings: list = []
        self._probed = False
        self.losses: list[tuple[int, int, bool, int | None]] = []   # (step, k, train, j: accuracy or None)
        self.loss_values = Scalars()      # the loss of self.losses[i] is loss_values.values()[its k]
        self.acc_values = Scalars()       # its fraction correct (a Spy step's) acc_values.values()[its j]
        self.loss_sizes: list[int] = []   # the batch size of each loss in self.losses (its examples)
        self.epoch_ends: list[int] = []
        self.lrs: list[tuple[int, float]] = []
        self.started = time.perf_counter()
        if render not in ("now", "background", "none"):
            raise ValueError(f"watch: render must be now, background or none, got {render!r}")
        self._optimizer_hooks, self._given_model, self.render = optimizer_hooks, model, render
        self._pre_count = 0

    # ------------------------------------------------------------------ set-up
    def __enter__(self) -> "Watch":
        from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

        if self.out is not None and self.report is None:   # before any hook: a refused dir changes nothing
            from babysitter.train.history import prepare_run_dir

            prepare_run_dir(self.out, message=RUN_DIR_TAKEN)   # marked ours, locked until written (report.py)
        if self._optimizer_hooks:
            self._handles += [register_optimizer_step_pre_hook(self._pre_step),
                              register_optimizer_step_post_hook(self._post_step)]
        self._warning_filters = hide_global_hook_warning()   # torch.compile's warning about our global hooks
        self._arm(True)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def close(self) -> dict:
        """Remove every hook, run the probes if not yet, diagnose, write the run dir (if ``out``)."""
        if self.report is not None:
            return self.report
        self._hand.close()
        self._arm(False)
        self._clip_param = None
        for h in self._handles:
            h.remove()
        self._handles = []
        for region in self._compiled.values():
            region.remove()
        restore(getattr(self, "_warning_filters", []))
        self.evidence.stop_fresh()
        for first, second in self._pairs.values():
            self.evidence.no_activation_between(self._name(first), self._name(second))
        self._orphan_models()
        if self.probes_on and not self._probed and self.step > 0:
            self._run_probes()   # fewer than KIT_BATCHES batches, or a schedule moved the lr: now, at the lr reached
            self._arm(False)     # the probes re-arm the read hooks as they end
        from babysitter.doctor.watch.report import finish
        from babysitter.report.notebook import Report, show

        self.report = Report(finish(self))
        self.findings = self.report["findings"]
        show(self)   # in a notebook, the verdict is the cell's output
        return self.report

    # ------------------------------------------------------------------ the public host API
    # A host that runs the optimizer itself (Lightning, the Hugging Face Trainer) builds the Watch with
    # ``optimizer_hooks=False`` and ``model=``, then: start() once, before_optimizer_step(opt) when the
    # step's gradients are final, after_optimizer_step() once the step is done, close() at the end.
    def start(self) -> "Watch":
        """Attach the doctor (what ``with`` does on entering); returns the watch."""
        return self.__enter__()

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """The host is about to call ``optimizer.step()``: the gradients are final (the doctor reads
        them: code faults, gradient instruments, the probes once enough batches were seen)."""
        self._pre_step(getattr(optimizer, "optimizer", optimizer), (), {})

    def after_optimizer_step(self) -> None:
        """The step is done: the update instruments read it. Nothing when no step is pending (the
        host skipped it, e.g. an fp16 overflow)."""
        if self.optimizer is not None and self._stepped_since_post():
            self._post_step(self.optimizer, (), {})

    def __repr__(self) -> str:
        if self.report is None:
            return f"<babysitter watch: watching, {self.step} steps so far>"
        from babysitter.report.notebook import compact

        return f"<babysitter watch: {compact(self.report)}>"

    def _repr_html_(self) -> str:
        from babysitter.report.notebook import watch_html

        return watch_html(self)

    def _orphan_models(self) -> None:
        """Models called in training whose trainable parameters got gradients but are in no optimizer
        that stepped (a GAN's generator left out of every optimizer): evidence for parameters_not_updated."""
        if self.optimizer is None or self._hand.optimizer is not None:
            return
        held = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        for ids in self._other_optimizers.values():
            held |= ids
        for root in self._roots.values():
            params = [p for p in root.parameters() if p.requires_grad]
            if (params and inner(root) is not self.model and not any(id(p) in held for p in params)
                    and any(p.grad is not None and bool(torch.count_nonzero(p.grad)) for p in params)):
                self.evidence.orphans.append(type(inner(root)).__name__)

    def _collecting(self) -> bool:
        return self.probes_on and not self._probed and len(self._batches) < KIT_BATCHES

    def _arm(self, on: bool) -> None:
        """Global module hooks and the Spy exist only on read steps (the overhead goal), and only
        while they have something to find: the module hooks for the first DISCOVERY steps (roots,
        loss modules, the layer order), the Spy then too, and later only for a functional loss
        (a loss module's own hook sees every step) or while the probes' batches are collected, and
        not in the rest of an evaluation, nor on most read steps, when the model returns its loss
        (:meth:`_spy_rests`)."""
        discovering = self.model is None or self.step < DISCOVERY
        modules = on and discovering
        spy = on and (discovering or not self._loss_modules) and not self._spy_rests()
        self._reading = on
        if self._clip_param is not None and on != self.clipping.watching():
            if on:
                self.clipping.watch(self._clip_param, self._backward_end)
            else:
                self.clipping.close()
        if modules and not self._read_handles:
            self._read_handles = [register_module_forward_pre_hook(self._global_pre),
                                  register_module_forward_hook(self._global_post)]
        elif not modules and self._read_handles:
            for h in self._read_handles:
                h.remove()
            self._read_handles = []
        if spy and self._spy is None:
            self._spy = Spy(self)
            self._spy.__enter__()
        elif not spy and self._spy is not None and on_top(self._spy):   # else off at the next disarm
            self._spy.__exit__(None, None, None)
            self._spy = None

    def _read(self, index: int) -> bool:
        return index < DISCOVERY or index % self.every == 0 or self._collecting()

    # ------------------------------------------------------------------ optimizer steps (module hooks: capture.py)
    def _pre_step(self, optimizer, args, kwargs):
        if self.model is None:
            self._discover(optimizer)
        if optimizer is not self.optimizer:
            if self._probing:
                return
            if id(optimizer) not in self._other_optimizers:   # a GAN's second optimizer: whose parameters it holds
                self._other_optimizers[id(optimizer)] = {id(p) for g in optimizer.param_groups for p in g["params"]}
                if self._optimizer_hooks and self._hand.optimizer is None:
                    self.others[id(optimizer)] = OtherOptimizer(optimizer, list(self._roots.values()), self.every)
            other = self.others.get(id(optimizer))
            if other is not None and self._loss_this_step is not None:   # a loss of its own since the run's step
                other.own_loss = True
            return
        index = self.step
        self._pre_count += 1
        if self._linear_outs:   # the forward's layer outputs: matched within a forward only
            self._linear_outs = {}
        self._arm(False)        # the step's own ops (and the instruments') are not the script's forward
        read = self._read(index)
        # the instruments read it on read steps only; not kept into the next step otherwise (see _model_pre)
        self.loss = self._loss_this_step.detach() if read and self._loss_this_step is not None else self._no_loss
        self._read_now = read
        closure = (any(callable(a) and not isinstance(a, torch.optim.Optimizer) for a in args)   # args: (self, closure)
                   or callable(kwargs.get("closure")))
        if closure:   # L-BFGS: the gradients are made inside step(closure); the fresh ones are compared at its end
            self.evidence.stop_fresh()
        self.evidence.pre_step(index, self.model, optimizer, read=read)
        if closure:
            self.evidence.closure_step(index, optimizer, read, before=True)
        self._closure_step = closure
        if read and self.clipping.pre:
            self.clipping.at_step(index, [p for g in optimizer.param_groups for p in g["params"]])
        if self.probes_on and not self._probed and len(self._batches) >= KIT_BATCHES and not self._lr_changed:
            self._run_probes()   # a schedule moved the lr: the probes wait for the lr the run reaches (finish)
        if read:   # the instruments read due steps only, all of them read steps (the same ``every``)
            for t in self._on_backward:
                t.after_backward(self)

    def _post_step(self, optimizer, args, kwargs):
        if optimizer is not self.optimizer:
            if id(optimizer) in self.others:
                self.others[id(optimizer)].after_step()
            return
        index = self.step
        self.step += 1          # the instruments read ``step`` as the trainer's: steps done
        seen = self._loss_this_step is not None
        read_next = self._read(self.step)
        if self._read_now or read_next:   # a due step done, or the next one due (a copy before it)
            for t in self._on_step:
                if seen or not isinstance(t, (NonFinite, RegShare)):   # no loss seen: a functional loss, no read step
                    t.after_step(self)
            if self._read_now and self._settle_each:   # on the CPU: no small tensors kept between the script's
                for settle in self._settle_each:       # steps (they move where the allocator puts its tensors)
                    settle()
        lr = optimizer.param_groups[0].get("lr", math.nan)
        lr = float(lr) if not isinstance(lr, torch.Tensor) else math.nan   # a tensor lr (capturable): not read each step
        if lr == lr:
            self._lr_changed = self._lr_changed or (index > 0 and lr != self._lr_first)
            self._lr_first = lr if index == 0 else self._lr_first
            self._lr_peak = max(self._lr_peak, lr)
        if index == 0 or index % self.every == 0:
            self.lrs.append((index, float(optimizer.param_groups[0].get("lr", math.nan))))
        self._loss_this_step = None
        self._depth = 0
        if getattr(self, "_closure_step", False):
            self.evidence.closure_step(index, optimizer, self._read_now, before=False)
        else:
            self.evidence.after_step(index, self.model, optimizer, read=self._read_now)
        self._arm(read_next)

    def _stepped_since_post(self) -> bool:
        """A pre-step not yet matched by a post-step (a host calling the two itself)."""
        return self._pre_count > self.step

    def _discover(self, optimizer) -> None:
        """The first step: the optimizer stepping first is the run's; the model is the root whose
        parameters it steps (most of them), else the root with most parameters."""
        self.optimizer = optimizer
        stepped = {id(p) for g in optimizer.param_groups for p in g["params"]}
        roots = [self._given_model] if self._given_model is not None else list(self._roots.values())
        scored = [(sum(id(p) in stepped for p in r.parameters()), sum(p.numel() for p in r.parameters()), r)
                  for r in roots]
        if scored:
            called = max(scored, key=lambda s: (s[0], s[1]))[2]
        else:  # no forward seen (a model called before watch began): a module holding the parameters
            called = nn.ParameterList([p for g in optimizer.param_groups for p in g["params"]])
        self.model = inner(called)      # torch.compile's wrapper: the user's module inside (names, probes)
        if called is not self.model:    # layer hooks would be traced into the compiled graph (compiled.py)
            self.tools = [t for t in self.tools if not isinstance(t, Activations)]
            self._on_backward, self._on_step = listeners(self.tools, "after_backward"), listeners(self.tools, "after_step")
        self._names = {id(m): (n or type(m).__name__) for n, m in self.model.named_modules()}
        if self.probes_on:   # before our own hooks are on it (a copy would copy them)
            self._kit_model = _copy_model(self.model)
        self._handles.append(called.register_forward_hook(self._model_forward))
        self._handles.append(called.register_forward_pre_hook(self._model_pre, with_kwargs=True))
        self.evidence.start(self.model, optimizer)
        for t in self.tools:
            t.before_fit(self)
        first = next((p for g in optimizer.param_groups for p in g["params"] if p.requires_grad), None)
        if first is None or first.is_cpu:   # a device's readings wait to be read in one transfer (instruments)
            self._settle_each = [t.settle for t in self.tools if hasattr(t, "settle")]
        if first is not None and self._optimizer_hooks:
            self._clip_param = first   # its hook is on for the backwards of read steps only (_arm)

    def _backward_end(self) -> None:
        """Every gradient of a backward is accumulated (before any clipping): its total norm, on read steps."""
        if self._read(self.step) and self.optimizer is not None and self._hand.optimizer is None:
            from babysitter.doctor.watch.clipping import total_norm

            norm = total_norm(p for g in self.optimizer.param_groups for p in g["params"])
            self.clipping.pre[self.step] = norm / self.clipping.scale   # a GradScaler's scale taken out

    def _run_probes(self) -> None:
        self._probed = True
        why = ("the model cannot be copied: " + str(self._kit_model) if isinstance(self._kit_model, Exception) else
               f"the model's input has {self._not_rows[0]} rows and its loss {self._not_rows[1]}: not one row per "
               "example, so the probes cannot split a batch into examples" if self._not_rows and not self._batches else
               "the loss's classes are the batch's own rows (an in-batch contrastive loss: square scores, each "
               "position the target once), so the probes cannot split a batch into examples" if self._classes_in_batch() else
               "no training batch with a loss was seen" if not self._batches or self._loss_fn is None else
               "budget 0" if self.budget <= 0 else None)
        if why:
            self._probes = {"skipped": why}
            return
        t0 = time.perf_counter()
        was = torch.is_grad_enabled()
        self._arm(False)       # the probes' own forwards are not the script's
        self._probing = True
        try:
            from babysitter.doctor.probes.kit import Kit   # the probes' imports: only when they run
            from babysitter.doctor.probes.runner import run_kit_probes
            from babysitter.doctor.watch.outputs import Replay, RowReplay, Rows

            layout = self._layout or Layout((), ())
            seen = self._loss_fn
            kit = Kit.from_run(self.model, self.optimizer, lambda out, y: seen(out, layout.loss_target(y)),
                               self._batches, self._loss_name, self._num_classes, copied=self._kit_model)
            kit.forward, kit.targets, kit.ignore_index = Replay(self._call or Call(), layout), layout.loss_target, self._ignore_index
            rows = Rows.of(self._call, self._batch_calls, kit.batches)
            if rows is not None:   # per-example arguments besides x: each row replayed with its own
                kit.batches, kit.forward, kit.inputs = rows.ids(kit.batches), RowReplay(rows, self._call, layout), rows.inputs
                kit.notes.append(f"the model takes per-example arguments besides x ({', '.join(map(str, rows.varying))}): "
                                 "each example is replayed with its own")
            kit.clip_norm, kit.summed, kit.floor = self.clipping.clip_norm(), self._loss_summed, self._loss_floor
            hand_lr = self.clipping.hand_lr() if self._hand.optimizer is not None else None
            peak = max(self._lr_peak, hand_lr or 0.0)
            if peak > (kit.lr or 0):   # judge (and train the copies at) the lr the run reached, not a warmup's
                first = kit.lr
                for g in kit.groups:      # groups keep their ratios (a decayed lr of 0 at the end: the peak)
                    g["lr"] = g["lr"] * peak / first if first else peak
            if self.evidence.loss_not_on_output:
                kit.notes.append("the loss's input is not the model's output (a function of it): probes use the output")
            self._probes, self._probe_findings = run_kit_probes(kit, self.budget)
            if kit.notes:   # what the probes did differently from the run, and why
                self._probes["notes"] = list(kit.notes)
        finally:
            self._probing = False
            torch.set_grad_enabled(was)
            self._arm(self._read(self.step))
        self._probes["seconds_total"] = round(time.perf_counter() - t0, 3)


RUN_DIR_TAKEN = ("run dir {out} already holds files; the doctor never replaces a run: "
                 "give out= (--out) a new folder")


def watch(out: str | Path | None = None, probes: bool = True, budget: float = 30.0, every: int = 25,
          tensorboard: bool = False) -> Watch:
    """The doctor on whatever trains in this process: ``with babysitter.watch() as doctor: train()``,
    then ``doctor.report`` (``{"healthy", "findings", "probes", "script", "steps", "run_dir"}``,
    docs/formats.md) and ``doctor.findings`` (most likely first). Nothing the loop computes changes.

    Args:
        out: the run dir to write when the block ends (diagnosis.json, doctor.json, metrics.jsonl, the
            plots, report.html); None writes nothing. Taken when the block starts: a folder that holds
            files is refused (``BadInput``, a ValueError) and another process's lock on it too ("in
            use by pid N"), before anything runs.
        probes: run the preflight probes (init loss vs ln C, overfit 20 examples, lr range test, ...)
            on copies of the model, from the first training batches; torch's RNG is restored.
        budget: seconds the probes may take (a safety cap; 0 skips them).
        every: read the instruments every ``every`` optimizer steps (the first steps are all read).
        tensorboard: write TensorBoard event files to ``<out>/tb`` too.

    In a notebook the verdict is displayed when the block ends (``%load_ext babysitter`` also gives
    the ``%%babysit`` cell magic).
    """
    return Watch(out=out, probes=probes, budget=budget, every=every, tensorboard=tensorboard)

"""The watch's capture: the forward hooks (roots, the model's call, loss modules, the layer order), the
losses (functional or modules, inside the model or outside), the backward passes. A mixin of
:class:`~babysitter.doctor.watch.host.Watch`, whose state it reads and writes; nothing here judges."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from babysitter.doctor.readers.code_faults import CLASS_LOSSES
from babysitter.doctor.watch.outputs import (Call, Layout, batch_input, ignore_index_of, logits_of, loss_floor, loss_of,
                                             per_row, summed)
from babysitter.doctor.thresholds import LOSS_EVERY
from babysitter.nn.init import WEIGHTED
from babysitter.doctor.watch.spy import LOSS_MODULES, Spy, _bottleneck  # noqa: F401
from babysitter.doctor.watch.compiled import CompiledRegion, inner, is_compiled

DISCOVERY = 3          # the first steps are all read (the model, the loss, the layer order)
EVAL_READS = 2         # no-grad passes per evaluation the Spy reads when the model returns its loss
SPY_FIRST, SPY_EVERY = 8, 4   # ... and its read steps: the first 8, then one in 4
KIT_BATCHES = 8        # training batches the probes get (the last quarter held out for labels_look_random)


class Scalars:
    """A value per step (a loss), in order. On the CPU the value itself (``float``: there is no device
    to wait for); on a device a detached view (no sync), stacked into one float32 tensor each ``CHUNK``.
    No 0-dim tensor is kept per step for the whole run: each pins a small block between the step's large
    buffers, and a long run's heap fragments (measured: +130 KB of RSS a step on a char LM)."""

    CHUNK = 256

    def __init__(self):
        self._slots: list[float | None] = []      # a value, or None: the next one held on the device
        self._chunks: list[torch.Tensor] = []
        self._pending: list[torch.Tensor] = []
        self.n = 0

    def add(self, t: torch.Tensor) -> int:
        """Keep ``t``'s value; its index."""
        if t.is_cpu:
            self._slots.append(t.item())
        else:
            self._slots.append(None)
            self._pending.append(t.detach())
            if len(self._pending) == self.CHUNK:
                self._flush()
        self.n += 1
        return self.n - 1

    def _flush(self) -> None:
        if self._pending:
            device = self._pending[0].device
            self._chunks.append(torch.stack([p.to(device, torch.float32) for p in self._pending]))
            self._pending = []

    def values(self) -> list[float]:
        """Every value added, in order (one transfer of those on a device)."""
        self._flush()
        held = iter(torch.cat([c.cpu() for c in self._chunks]).tolist() if self._chunks else [])
        return [v if v is not None else next(held) for v in self._slots]


@dataclass(frozen=True)
class Seen:
    """What a watch's hooks saw, read-only: the evidence its verdict (:func:`~babysitter.doctor.watch.report.finish`)
    reads besides the watch's public attributes (``step``, ``losses``, ``lrs``, ``evidence``, ...).

    ``batches``: the first training batches ``[(x: (B, ...), y: (B, ...))]`` (the probes' kit);
    ``loss_name``: e.g. "cross_entropy" (None: no loss seen); ``num_classes``: C of a classification
    loss, else None; ``ignore_index``: the target value no prediction is scored on; ``layout``: how the
    loss reshaped the model's output and targets; ``probes`` / ``probe_findings``: the probes' numbers
    and findings; ``nan_origin``: where a non-finite loss started (None: nowhere, or not seen);
    ``parameters_changed``: a hand-written update moved the parameters; ``gradients_seen``: a backward()
    filled a model's gradients; ``model_calls_seen``: a module with parameters was called; ``lr_peak``: the
    largest lr the run reached (after a warmup); ``in_batch``: every training loss read scored the batch's
    own rows as its classes (:func:`in_batch_targets`)."""

    batches: tuple = ()
    loss_name: str | None = None
    num_classes: int | None = None
    ignore_index: int | None = None
    layout: Layout | None = None
    probes: dict | None = None
    probe_findings: tuple = ()
    nan_origin: dict | None = None
    parameters_changed: bool = False
    gradients_seen: bool = False
    model_calls_seen: bool = False
    lr_peak: float = 0.0
    in_batch: bool = False

    @property
    def sequence(self) -> bool:
        """The targets are sequences (several scored positions per example: a language model)."""
        return bool(self.layout and self.layout.per_example > 1)


def in_batch_targets(scores: torch.Tensor, target: torch.Tensor) -> bool:
    """A cross entropy whose classes are the batch's own rows -- a contrastive or retrieval loss
    (SimCLR's NT-Xent, CLIP): square scores ``(N, N)``, N >= 8, and the targets a permutation of the
    batch's positions (each row's match, each once). Its accuracy has no fixed class set (chance
    1/(N-1)), and no example can be scored without its batch."""
    n = int(scores.shape[0])
    return (n >= 8 and tuple(scores.shape) == (n, n) and tuple(target.shape) == (n,)
            and torch.equal(target.sort().values, torch.arange(n, device=target.device, dtype=target.dtype)))


class Capture:
    def seen(self) -> Seen:
        """A read-only :class:`Seen` of what the hooks saw so far."""
        return Seen(batches=tuple(self._batches), loss_name=self._loss_name, num_classes=self._num_classes,
                    ignore_index=self._ignore_index, layout=self._layout, probes=dict(self._probes),
                    probe_findings=tuple(self._probe_findings), nan_origin=self._nan.origin(),
                    parameters_changed=self._hand.changed(), gradients_seen=self._hand.sentinel is not None,
                    model_calls_seen=bool(self._roots), in_batch=self._classes_in_batch(),
                    lr_peak=self._lr_peak)

    def _classes_in_batch(self) -> bool:
        """Every training loss read so far scored the batch's own rows as its classes (:func:`in_batch_targets`)."""
        return bool(self._in_batch) and all(self._in_batch)

    def _global_pre(self, module, inputs):
        if self._depth == 0:
            self._current_root = id(module)
            if self.model is None:
                self._last_call = (module, inputs, {})
        if self._depth == 0 and self.optimizer is None and self._hand.sentinel is not None:
            self._hand.check()   # the parameters moved with no optimizer step: a hand-written update
        if self._depth == 0 and is_compiled(module) and id(module) not in self._compiled:
            self._compiled[id(module)] = CompiledRegion(self, module)   # its forward runs unwatched (compiled.py)
            self._compiled[id(module)].enter()
        if self._depth == 0 and module not in self._roots.values():
            if isinstance(module, nn.modules.loss._Loss):
                if id(module) not in self._loss_modules:
                    self._loss_modules[id(module)] = module
                    self._handles.append(module.register_forward_hook(self._loss_module_hook))
            elif any(True for _ in module.parameters()):
                self._roots[id(module)] = module
        if self._depth == 0 and self.model is None and id(module) in self._roots:
            self._spare_evaluation()   # an evaluation before the first step (step 0's): its first passes are read
        self._depth += 1
        if isinstance(module, WEIGHTED) and inputs and isinstance(inputs[0], torch.Tensor):
            prev = self._linear_src(inputs[0])
            if (prev is not None and torch.is_grad_enabled()   # names are known after the first step
                    and self._layer_root.get(id(prev)) == self._current_root   # not across two models (a GAN)
                    and not _bottleneck(prev, module)):
                self._pairs[(id(prev), id(module))] = (prev, module)
            self._layer_root[id(module)] = self._current_root

    def _global_post(self, module, inputs, output):
        self._depth = max(0, self._depth - 1)
        if isinstance(module, WEIGHTED) and isinstance(output, torch.Tensor):
            self._keep_linear(output, module)

    def _keep_linear(self, output: torch.Tensor, layer: nn.Module) -> None:
        """``output`` carries ``layer``'s output with no non-linearity since. A weak reference: an output
        kept alive through the step's backward changes where the allocator puts the next steps' tensors
        (the steps after discovery ran ~2 % slower, bench/RESULTS.md)."""
        self._linear_outs[id(output)] = (layer, weakref.ref(output))

    def _linear_src(self, t: torch.Tensor) -> nn.Module | None:
        """The layer whose output ``t`` carries (:meth:`_keep_linear`), else None (also when ``t`` only
        reuses the id of a tensor since freed)."""
        entry = self._linear_outs.get(id(t))
        return entry[0] if entry is not None and entry[1]() is t else None

    def _name(self, module) -> str:
        return self._names.get(id(module), type(module).__name__)

    def _model_pre(self, module, inputs, kwargs):
        if self._post_spy:      # the Spy covered the loss after the last forward; the forward itself is not read
            self._post_spy = False
            self._arm(False)
        self._in_model = True
        # references kept past the script's own only where read (a NaN's call, read steps): anything the
        # watch holds from one step into the next moves where the allocator puts the next step's tensors
        self._last_call = (module, inputs, kwargs) if self._reading else None
        self._hand.before_forward()
        if self._loss_in_model and self.step >= DISCOVERY:
            self._spare_evaluation()
        if (len(self._batches) < KIT_BATCHES   # and its loss can be seen with its target (_saw_loss can run):
                and (self._spy is not None or self._loss_modules or not self._loss_in_model)
                and torch.is_grad_enabled() and (module.training or not self._ever_train)):
            x, key = batch_input(inputs, kwargs)
            if x is not None:   # the call as the script made it (a hidden state, the targets, a mask): the probes replay it
                self._pending_x = x.detach().clone()
                # the call as made, each kit batch's own: its other arguments may be per-example (Rows)
                self._pending_call = Call.record(inputs, kwargs, key) if self._call is None or not self._call.plain else None
        return None

    def _spare_evaluation(self) -> None:
        """Count an evaluation's no-grad passes (the Spy reads only the first EVAL_READS of them when
        the loss comes from the model's output: :meth:`_spy_rests`); a training pass ends it."""
        if not torch.is_grad_enabled():
            self._eval_calls += 1
            if self._eval_calls == EVAL_READS + 1:
                self._arm(self._reading)
        elif self._eval_calls:
            self._eval_calls = 0
            self._arm(self._read(self.step))

    def _spy_rests(self) -> bool:
        """Before the first step, the rest of an evaluation after its first EVAL_READS passes (step 0's
        validation losses fall in no epoch) runs without the Spy. With the loss computed in the model
        (read from its output on every pass), so does the rest of any evaluation -- most of a language
        model's read steps -- and a training read step, but one in SPY_EVERY after the first SPY_FIRST:
        the loss is seen anyway, the Spy adds its input (accuracy, scale), which changes slowly, at
        ~10 ms a step on a char LM."""
        if self.model is None:   # before the first step: the rest of an evaluation (its losses precede any epoch)
            return self._eval_calls > EVAL_READS
        if not self._loss_in_model or self.step < DISCOVERY or self._collecting() or self._hand.optimizer is not None:
            return False
        read = self.step // self.every
        return self._eval_calls > EVAL_READS or (read >= SPY_FIRST and read % SPY_EVERY != 0)

    def _model_forward(self, module, inputs, output):
        """On the model itself, always: training vs evaluation passes, epochs, the inputs."""
        self._in_model = False
        if self._output_kind is None:
            from babysitter.doctor.watch.outputs import output_kind

            self._output_kind = output_kind(output)
        if self._output_kind != "tensor":
            inner = loss_of(output)
            if inner is not None and self._loss_in_model and inner is not self._last_loss:
                self._saw_inner_loss(inner, module)
            output = logits_of(output)
        grad = torch.is_grad_enabled()
        self._ever_train = self._ever_train or (grad and module.training)
        # eval mode with gradients counts as training while the model was never in train mode (the fault
        # eval_mode_training); after that it is a validation pass run without no_grad
        train = grad and (module.training or not self._ever_train)
        self._train_pass = train
        if not train:
            if not self._in_eval_segment and self.step > 0:
                self.epoch_ends.append(self.step)
            self._in_eval_segment = True
            self.evidence.eval_passes += 1
        if (self._spy is None and not self._loss_modules and self.step >= DISCOVERY and not self._loss_in_model
                and (not train or self.step % LOSS_EVERY == 0)):   # a functional loss: see it and its target
            self._spy = Spy(self)
            self._spy.__enter__()
            self._post_spy = True
        if train:
            self._in_eval_segment = False
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].ndim else None
            if x is not None:   # a DataLoader's last batch is short: the next full one starts an epoch
                bs = x.shape[0]
                if self._short and bs >= self._full_bs and self.step > 0:
                    self.epoch_ends.append(self.step)
                self._short, self._full_bs = bs < self._full_bs, max(self._full_bs, bs)
            if len(self._batches) < KIT_BATCHES and self._pending_x is not None:
                self._pending_out = output

    def _loss_module_hook(self, module, inputs, output):
        if len(inputs) >= 2:
            self._saw_loss(output, inputs[0], inputs[1], LOSS_MODULES.get(type(module), type(module).__name__), {},
                           module)

    # ------------------------------------------------------------------ losses and backward
    def _saw_inner_loss(self, loss, module) -> None:
        """A loss the model computed in its own forward and returned (``(logits, loss)``, ``.loss``):
        seen on every step from the output, without the Spy."""
        self._saw_whole_loss(loss, torch.is_grad_enabled() and loss.requires_grad
                             and (module.training or not self._ever_train))

    def _saw_whole_loss(self, loss, train: bool) -> None:
        """A loss seen as a value, not through a loss function's inputs: the model's returned loss, or
        (no loss was ever recognised: a hand-written ``((pred - y) ** 2).mean()``) the 0-dim tensor
        ``backward()`` is called on -- the curve's point; such a loss cannot be replayed by the probes."""
        self._last_loss = loss
        self.losses.append((self.step, self.loss_values.add(loss), train, None))
        # in the units of the losses the Spy read (the loss's rows: B*T for a flattened sequence)
        self.loss_sizes.append(self._loss_rows or self._full_bs or 1)
        if train:
            self._loss_this_step = loss   # the script's own tensor (no new one a step), dropped after the step
            self._check_finite(loss)

    def _check_finite(self, loss) -> None:
        """On read steps: a non-finite training loss keeps the state and the call for NanOrigin."""
        if self._reading and self._nan.captured is None and self._last_call is not None \
                and not bool(torch.isfinite(loss.detach()).all()):
            module, args, kwargs = self._last_call
            self._nan.capture(module, args, kwargs, self.step, self._loss_name)

    def _saw_loss(self, loss, input, target, name: str, kwargs: dict, fn) -> None:
        if loss is self._last_loss or not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            return
        self._last_loss = loss
        if self._in_model and self.model is not None:
            self._loss_in_model = True
        train = (self._train_pass or self._in_model) and loss.requires_grad
        if train and isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor):
            self.evidence.loss_shapes(name, input, target)
        correct = None
        cls = self._reading and name in CLASS_LOSSES and isinstance(input, torch.Tensor) and input.ndim == 2 and not target.is_floating_point()
        if cls:   # read steps only: an argmax every step would cost more than the rest of the watch
            hit = input.detach().argmax(1) == target
            ignore = ignore_index_of(fn, kwargs)
            keep = target != ignore if ignore is not None else None   # padding is not scored (per-token accuracy)
            correct = self.acc_values.add(hit[keep].float().mean() if keep is not None else hit.float().mean())
            if train:
                self.evidence.loss_input(name, input.detach(), input.data_ptr() in self._softmax_no_dim)
                self._in_batch.append(in_batch_targets(input, target))
        elif (self._reading and isinstance(input, torch.Tensor) and input.ndim >= 1 and input.is_floating_point()
              and ((name == "binary_cross_entropy_with_logits" and input.data_ptr() in self._sigmoid_outs)
                   or (name in CLASS_LOSSES and input.ndim == 2))
              and self._train_pass and loss.requires_grad):   # a sigmoid before BCE with logits; soft targets
            self.evidence.loss_input(name, input.detach().reshape(input.shape[0], -1),
                                     input.data_ptr() in self._softmax_no_dim)
        value = per_row(loss, name, target, ignore_index_of(fn, kwargs)) if summed(fn, kwargs) else loss
        self.losses.append((self.step, self.loss_values.add(value), train, correct))
        self.loss_sizes.append(int(input.shape[0]) if isinstance(input, torch.Tensor) and input.ndim else 1)
        if train:
            self._loss_rows = self.loss_sizes[-1]
        if not train:
            return
        self._loss_this_step = loss
        if self._loss_name is None:
            self._loss_name = name
        self._check_finite(loss)
        if self._loss_fn is None:
            self._loss_name = name
            self._num_classes = (int(input.shape[1]) if name in CLASS_LOSSES and isinstance(input, torch.Tensor)
                                 and input.ndim >= 2 and not target.is_floating_point() else None)
            self._ignore_index = ignore_index_of(fn, kwargs) if self._num_classes else None
            if isinstance(fn, nn.Module):
                self._loss_fn = _hookless_copy(fn)
            else:
                self._loss_fn = lambda out, y, _f=fn, _k=dict(kwargs): _f(out, y, **_k)
            self._loss_summed = summed(fn, kwargs)
            self._loss_floor = loss_floor(fn, kwargs, self._num_classes)
        if self._pending_x is not None and len(self._batches) < KIT_BATCHES and isinstance(input, torch.Tensor):
            if not self._in_model and input is not getattr(self, "_pending_out", None):
                self.evidence.loss_not_on_output = True
            b = int(self._pending_x.shape[0]) if self._pending_x.ndim else 1
            rows = int(input.shape[0]) if input.ndim else 1
            if b and (rows < b or rows % b):   # x is not one row per example (token ids of all texts in one, with offsets)
                self._not_rows, self._pending_x = self._not_rows or (b, rows), None
                return
            if self._layout is None:
                self._layout = Layout.seen(input, target, b)
            if self._call is None and self._pending_call is not None:
                self._call = self._pending_call
                self._call.find_target(target)
            y = self._layout.example_targets(target.detach().clone(), b)
            first = self._batches[0] if self._batches else None
            if first is None or (first[0].shape[1:] == self._pending_x.shape[1:] and first[1].shape[1:] == y.shape[1:]):
                self._batches.append((self._pending_x, y))   # padded sequences of another length: left out of the kit
                self._batch_calls.append(self._pending_call)
            self._pending_x = None

    def _saw_backward(self, tensor) -> None:
        self.evidence.backwards += 1
        if (self._loss_name is None and not self._loss_in_model and not self._loss_modules
                and self._loss_this_step is None and isinstance(tensor, torch.Tensor) and tensor.ndim == 0
                and tensor.is_floating_point() and tensor.grad_fn is not None):   # no loss was ever recognised
            self._saw_whole_loss(tensor, True)
        loss = self._loss_this_step
        if isinstance(tensor, torch.Tensor) and tensor.ndim == 0 and loss is not None:
            from babysitter.doctor.watch.clipping import power_of_two

            value = float(loss.detach())
            r = 1.0 if tensor is loss or not value else float(tensor.detach()) / value   # GradScaler: loss x 2^k
            self.clipping.scale = r if power_of_two(r) else 1.0
        if self.optimizer is None:
            self._hand.saw_backward(tensor)
        if isinstance(tensor, torch.Tensor) and tensor.grad_fn is None:
            self.evidence.backward_without_graph += 1

    # ------------------------------------------------------------------ optimizer steps


def _hookless_copy(module: nn.Module) -> nn.Module:
    """A shallow copy of a loss module without its hooks: a deep copy would copy our own hook,
    bound to this Watch (and the tensors it holds, some not graph leaves), and the probes' losses
    must not reach the hook that records the run's."""
    import copy
    from collections import OrderedDict

    c = copy.copy(module)
    c._forward_hooks, c._forward_pre_hooks = OrderedDict(), OrderedDict()
    for k in ("_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs"):
        if hasattr(c, k):
            setattr(c, k, OrderedDict())
    return c

def _copy_model(model):
    """A deep copy for the probes; of a compiled model, the module inside (eager: no dynamo cache entry)."""
    import copy

    try:
        return copy.deepcopy(inner(model))
    except Exception as e:  # noqa: BLE001 - an uncopyable model: no probes, the rest still works
        return e

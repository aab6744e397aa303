"""What the watch's hooks keep (doctor/watch/capture.py): the losses of every step, and the Spy's
reads of a loss the model returns, which rest on most read steps once the first ones are seen."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import babysitter
from babysitter.doctor.thresholds import LOSS_EVERY
from babysitter.doctor.watch.capture import DISCOVERY, EVAL_READS, SPY_EVERY, SPY_FIRST, Scalars


def test_scalars_keep_every_value_in_order_across_chunks_and_dtypes():
    added = [torch.randn(()) * 10 for _ in range(2 * Scalars.CHUNK + 37)]
    added = [t.to(torch.bfloat16) if i % 5 == 0 else t for i, t in enumerate(added)]
    s = Scalars()
    assert [s.add(t) for t in added] == list(range(len(added)))
    expected = torch.stack([t.float() for t in added])
    assert torch.equal(torch.tensor(s.values()), expected)
    s.add(torch.tensor(2.5))   # values() flushed what was pending; adding goes on
    assert s.values()[-1] == 2.5 and len(s.values()) == len(added) + 1


def test_scalars_keep_no_cpu_tensor_alive():
    """On the CPU the value is kept, not the tensor: a 0-dim tensor (or a view of one) kept per step
    would pin a small block of the heap for the whole run."""
    def users(t):   # the tensors sharing t's storage (torch's own count)
        return torch._C._storage_Use_Count(t.untyped_storage()._cdata)

    s = Scalars()
    losses = [(torch.randn(3, requires_grad=True) ** 2).mean() for _ in range(3)]
    before = [users(t) for t in losses]
    for t in losses:
        s.add(t)
    assert [users(t) for t in losses] == before
    assert s.values() == [t.item() for t in losses]


class TinyLM(nn.Module):
    """A model that returns ``(logits, loss)``, as language models do."""

    def __init__(self, vocab=11, width=16):
        super().__init__()
        self.emb, self.head = nn.Embedding(vocab, width), nn.Linear(width, vocab)

    def forward(self, idx, targets):
        logits = self.head(torch.tanh(self.emb(idx)))
        return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def _train(steps, seed=0):
    torch.manual_seed(seed)
    model = TinyLM()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, 11, (4, 6))
        _, loss = model(idx, (idx + 1) % 11)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_a_loss_the_model_returns_is_seen_every_step_and_the_spy_reads_one_read_step_in_spy_every():
    steps, every = 400, 25
    plain = _train(steps)
    with babysitter.watch(probes=False, every=every) as w:
        _train(steps)
    train = [(step, k, correct) for step, k, is_train, correct in w.losses if is_train]
    values = w.loss_values.values()
    assert [s for s, _, _ in train] == list(range(steps))
    assert torch.allclose(torch.tensor([values[k] for _, k, _ in train]), torch.tensor(plain), rtol=0, atol=1e-6)
    # the Spy (which reads the loss's input: accuracy) is on for the first steps, the first SPY_FIRST read
    # steps, then one read step in SPY_EVERY
    spied = {s for s, _, correct in train if correct is not None}
    expected = {s for s in range(steps) if s < DISCOVERY or (
        s % every == 0 and (s // every < SPY_FIRST or (s // every) % SPY_EVERY == 0))}
    assert spied == expected
    # a read step's accuracy is kept as its value (an index into acc_values), not as a 0-dim tensor
    assert all(isinstance(j, int) for *_, j in w.losses if j is not None)
    assert all(0.0 <= a <= 1.0 for a in w.acc_values.values()) and len(w.acc_values.values()) == len(spied)


def test_an_evaluation_before_the_first_step_is_read_for_its_first_passes_only():
    """Step 0's validation (before any optimizer step, the model and its loss not known yet) is spied on
    for its first EVAL_READS passes: its losses fall in no epoch, and the Spy on every pass of a long
    evaluation cost a language model ~30 ms. The training steps after it are seen as before."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    passes = EVAL_READS + 5
    with babysitter.watch(probes=False) as w:
        with torch.no_grad():
            evaluated = [F.cross_entropy(model(x[i::passes]), y[i::passes]).item() for i in range(passes)]
        for step in range(2 * DISCOVERY):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    values = w.loss_values.values()
    before = [values[k] for step, k, is_train, _ in w.losses if step == 0 and not is_train]
    assert before == pytest.approx(evaluated[:EVAL_READS], abs=1e-6)
    assert [step for step, _, is_train, _ in w.losses if is_train][:DISCOVERY] == list(range(DISCOVERY))
    assert w.seen().loss_name == "cross_entropy" and w.seen().num_classes == 3


def _hand_written_mse(steps, lr, seed=0):
    """A regression whose loss no loss function makes, ``((pred - y) ** 2).mean()``; returns each step's loss."""
    torch.manual_seed(seed)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for i in range(steps):
        idx = torch.randint(0, 512, (32,))
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_a_hand_written_loss_is_the_tensor_backward_is_called_on():
    """No loss function seen: the curve is read from backward()'s tensor on the steps a functional
    loss is read (every LOSS_EVERY-th and the read steps), so a far too low lr shows as a flat curve
    instead of going unseen."""
    steps, every = 600, 25
    plain = _hand_written_mse(steps, 1e-2)
    with babysitter.watch(probes=False, every=every) as w:
        _hand_written_mse(steps, 1e-2)
    values = w.loss_values.values()
    seen = {step: values[k] for step, k, is_train, _ in w.losses if is_train}
    assert sorted(seen) == [s for s in range(steps) if s < DISCOVERY or s % every == 0 or s % LOSS_EVERY == 0]
    assert all(abs(seen[s] - plain[s]) < 1e-6 for s in seen)
    assert w.report["healthy"], w.report["findings"]
    with babysitter.watch(probes=False, every=every) as low:
        _hand_written_mse(steps, 1e-7)
    alarms = [f["id"] for f in low.report["findings"] if f["severity"] in ("warning", "error")]
    assert "lr_too_low" in alarms[:2], low.report["findings"]


class KeywordLM(nn.Module):
    """Called by keywords only and returning an object with ``.logits`` and ``.loss``, as a Hugging Face
    model is (``model(input_ids=..., labels=...)``)."""

    def __init__(self, vocab=11, width=16):
        super().__init__()
        self.emb, self.head = nn.Embedding(vocab, width), nn.Linear(width, vocab)

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        logits = self.head(torch.tanh(self.emb(input_ids)))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        return type("Output", (), {"logits": logits, "loss": loss})()


def test_a_call_by_keywords_only_is_replayed_for_the_probes():
    torch.manual_seed(0)
    model = KeywordLM()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with babysitter.watch(probes=True, budget=60) as w:
        for step in range(40):   # padded lines: two lengths (the kit keeps its first batch's)
            ids = torch.randint(0, 11, (8, 7 if step % 3 else 9))
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    probes = w.report["probes"]
    assert "skipped" not in probes and not probes.get("errors"), probes
    assert w.seen().batches and probes["expected_init_loss"] == pytest.approx(math.log(11))
    assert len({tuple(x.shape) for x, _ in w.seen().batches}) == 1 and len(w.seen().batches) >= 2
    x, y = w.seen().batches[0]
    logits = model(input_ids=x).logits   # the replayed call, by keyword, is the script's own call
    assert torch.equal(w._call(model, x).logits, logits) and w._call.x_key == "input_ids"


def test_no_tensor_of_the_forward_outlives_its_backward_into_the_optimizer_step():
    """The layer outputs the read steps follow (the layer order) are let go once the backward is
    done: at the optimizer's step only the script's own references keep a forward's tensors."""
    import weakref

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    hidden = []   # weak references to the first layer's output, one per step
    model[0].register_forward_hook(lambda m, i, out: hidden.append(weakref.ref(out)))
    alive_at_step = []
    with babysitter.watch(probes=False) as w:
        # registered after the watch's own pre-step hook, so it runs after it
        handle = register_optimizer_step_pre_hook(lambda o, a, k: alive_at_step.append(hidden[-1]() is not None))
        try:
            for _ in range(DISCOVERY + 1):   # the first steps are read: the layer order is followed
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        finally:
            handle.remove()
    assert w.step == DISCOVERY + 1
    # ReLU keeps its own output for the backward, not its input: nothing but a watch could hold it
    assert alive_at_step == [False] * (DISCOVERY + 1)


def test_the_watch_leaves_no_hook_on_the_parameters_it_read():
    """The read steps hook parameters (the gradient norm before clipping, fresh gradients); once
    removed, their hook dicts are gone too, as before the watch: torch would otherwise call into
    Python for the empty dict at every backward of the user's training after the watch."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    first = next(model.parameters())
    hooked = []
    with babysitter.watch(probes=False, every=2) as w:
        for _ in range(DISCOVERY + 4):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            hooked.append(first._post_accumulate_grad_hooks is not None or first._backward_hooks is not None)
            opt.step()
    assert w.step == DISCOVERY + 4 and any(hooked)   # the watch did hook it on its read steps
    assert [(p._backward_hooks, p._post_accumulate_grad_hooks) for p in model.parameters()] == [(None, None)] * 4


def test_on_the_cpu_the_instruments_readings_are_read_at_once():
    """A CPU model's readings are numbers as soon as a read step ends: no small tensor per reading is
    kept between the script's steps (on a device they wait, to be read in one transfer)."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    backlog = []
    with babysitter.watch(probes=False, every=2) as w:
        # registered after the watch's own post-step hook, so it runs after it
        handle = register_optimizer_step_post_hook(lambda o, a, k: backlog.append(sum(t.backlog() for t in w.tools)))
        try:
            for _ in range(8):
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        finally:
            handle.remove()
    assert backlog == [0] * 8
    acts = next(t for t in w.tools if type(t).__name__ == "Activations")
    assert acts.series.steps == [1, 3, 5, 7]   # the due steps 0, 2, 4, 6, recorded 1-based (steps done)


def test_the_activations_are_read_on_training_passes_not_on_a_no_grad_call_in_train_mode():
    """A call under no_grad with the model still in train mode (a language model sampling between
    steps) is not a training pass: the readings are those of the step's own batch (torch's op on it)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trained = []   # the ReLU's outputs on the training passes: the independent record
    model[1].register_forward_hook(lambda m, i, out: trained.append(out.detach().clone()) if torch.is_grad_enabled() else None)
    with babysitter.watch(probes=False, every=2) as w:
        for _ in range(6):
            x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
            loss = F.cross_entropy(model(x), y)
            with torch.no_grad():
                model(torch.randn(1, 8) * 100)    # the peek: one example, far larger activations
            opt.zero_grad()
            loss.backward()
            opt.step()
    s = next(t for t in w.tools if type(t).__name__ == "Activations").summary()
    assert s["steps"] == [1, 3, 5] and s["mean"]["1"][0] is None   # hooked from the first step's end
    for k, step in list(enumerate(s["steps"]))[1:]:
        assert s["mean"]["1"][k] == pytest.approx(trained[step - 1].mean().item(), rel=1e-5)
        assert s["std"]["1"][k] == pytest.approx(trained[step - 1].std().item(), rel=1e-5)


@pytest.mark.parametrize("style", ["parametrizations", "old"])
def test_weight_normalised_layers_are_read_through_the_parameter_that_trains(style):
    """weight_norm recomputes ``layer.weight`` from g and v on every forward: the instruments read v
    (the parameter of the weight's shape), not a snapshot of ``weight`` that never has a gradient (a
    healthy weight-normed MLP was called lr_too_low with vanishing gradients: every norm read 0)."""
    import warnings

    from babysitter.nn.init import layer_weight, weighted_layers

    if style == "old":
        warnings.simplefilter("ignore", FutureWarning)
        norm = torch.nn.utils.weight_norm
    else:
        norm = torch.nn.utils.parametrizations.weight_norm
    torch.manual_seed(0)
    model = nn.Sequential(norm(nn.Linear(6, 32)), nn.ReLU(), norm(nn.Linear(32, 3)))
    v = [m.parametrizations.weight.original1 if style != "old" else m.weight_v for m in (model[0], model[2])]
    assert [w for _, w in weighted_layers(model)] == v and layer_weight(nn.Linear(2, 2)) is not None
    X, Y = torch.randn(256, 6), torch.randint(0, 3, (256,))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with babysitter.watch(probes=False, every=5) as w:
        for s in range(60):
            i = (s * 32) % 256
            loss = F.cross_entropy(model(X[i:i + 32]), Y[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    watched = w.report["probes"]["watch"]
    alarms = {f["id"] for f in w.findings if f["severity"] != "info"}
    assert not alarms & {"lr_too_low", "vanishing_gradients"}, w.findings
    summaries = {type(t).__name__: t.summary() for t in w.tools}
    assert summaries["UpdateRatio"]["overall_median"] > 1e-4 and watched["steps"] == 60


def test_an_input_that_is_not_one_row_per_example_skips_the_probes_with_the_reason():
    """nn.EmbeddingBag over all texts' token ids in one 1-D tensor, with offsets: x has more rows than the
    loss. The probes cannot split such a batch into examples; they say so instead of failing four ways."""

    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.fc = nn.EmbeddingBag(50, 16), nn.Linear(16, 3)

        def forward(self, text, offsets):
            return self.fc(self.emb(text, offsets))

    torch.manual_seed(0)
    model = Bag()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with babysitter.watch(budget=30) as w:
        for _ in range(40):
            lengths = torch.randint(3, 9, (16,))
            text = torch.randint(0, 50, (int(lengths.sum()),))
            offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
            loss = F.cross_entropy(model(text, offsets), text[offsets] % 3)
            opt.zero_grad()
            loss.backward()
            opt.step()
    skipped = w.report["probes"]["skipped"]
    assert "not one row per example" in skipped and "and its loss 16" in skipped
    assert "errors" not in w.report["probes"]
    (f,) = [f for f in w.findings if f["id"] == "probe_failed"]
    assert f["severity"] == "info"

"""The doctor on code as people write it (issue 24): token ids, (logits, loss) outputs, forwards
that take a hidden state, (B, T) targets, hand-written updates, runs it did not see, softmax
without dim, residual streams, AdamW's decoupled decay, where a NaN starts. Small in-process
runs (1 thread); each number is checked against an independent computation."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import babysitter
from babysitter.doctor.probes.input_scale import input_kind
from babysitter.doctor.probes.overfit_tiny import reachable_accuracy
from babysitter.doctor.readers.baselines import unigram_loss
from babysitter.doctor.watch.outputs import Call, Layout, logits_of, loss_of

torch.set_num_threads(1)
V, T, B, H = 11, 8, 16, 24


def ids(data, g):
    ix = torch.randint(len(data) - T - 1, (B,), generator=g)
    return torch.stack([data[i:i + T] for i in ix]), torch.stack([data[i + 1:i + T + 1] for i in ix])


def sequence(n=4000, seed=0):
    """A learnable token stream: the next token is (previous + 1) mod V most of the time."""
    g = torch.Generator().manual_seed(seed)
    x = [0]
    for _ in range(n):
        x.append((x[-1] + 1) % V if torch.rand((), generator=g) < 0.9 else int(torch.randint(V, (), generator=g)))
    return torch.tensor(x)


class TupleLM(nn.Module):
    """forward(idx, hidden, targets) -> (logits, hidden, loss), as a GRU LM with the loss inside."""

    def __init__(self):
        super().__init__()
        self.emb, self.rnn, self.head = nn.Embedding(V, 16), nn.GRU(16, H, batch_first=True), nn.Linear(H, V)

    def forward(self, idx, hidden, targets=None):
        o, hidden = self.rnn(self.emb(idx), hidden)
        logits = self.head(o)
        loss = None if targets is None else F.cross_entropy(logits.view(-1, V), targets.view(-1))
        return logits, hidden, loss


# ------------------------------------------------------------------ pieces
def test_outputs_are_unpacked_the_ways_models_return_them():
    t, loss = torch.randn(2, 3), torch.tensor(1.5)
    assert logits_of((t, loss)) is t and loss_of((t, loss)) is loss
    assert logits_of({"loss": loss, "logits": t}) is t and loss_of({"loss": loss, "logits": t}) is loss

    out = type("Out", (), {"logits": t, "loss": loss})()
    assert logits_of(out) is t and loss_of(out) is loss
    assert loss_of(t) is None


def test_a_recorded_call_tiles_the_hidden_state_and_puts_the_probe_s_targets_in_their_slot():
    x, y, h = torch.zeros(4, T, dtype=torch.long), torch.arange(4 * T).reshape(4, T), torch.randn(1, 4, H)
    call = Call.record((x, h), {"targets": y})
    call.find_target(y.view(-1))
    assert call.target_at == "targets"
    seen = {}

    def model(xx, hh, targets=None):
        seen.update(x=xx, h=hh, y=targets)
    y6 = torch.ones(6, T, dtype=torch.long)
    call(model, torch.zeros(6, T, dtype=torch.long), y6)
    assert seen["h"].shape == (1, 6, H) and torch.equal(seen["h"][:, 4], h[:, 0]) and seen["y"] is y6


def test_a_flattened_sequence_loss_is_replayed_with_one_row_per_example():
    lay = Layout.seen(torch.zeros(B * T, V), torch.zeros(B * T, dtype=torch.long), B)
    assert lay.per_example == T
    y = torch.arange(B * T)
    assert lay.example_targets(y, B).shape == (B, T)
    assert lay.loss_input(torch.zeros(3, T, V)).shape == (3 * T, V)


def test_token_ids_into_an_embedding_are_not_features():
    emb = nn.Sequential(nn.Embedding(5, 3))
    assert input_kind(emb, torch.tensor([[1, 4]])) == "token_ids"
    assert input_kind(nn.Linear(3, 3), torch.tensor([[0.0, 1.0, 0.0]])) == "binary"
    assert input_kind(nn.Linear(3, 3), torch.tensor([[0.0, 255.0, 3.0]])) == "features"


def test_unigram_loss_is_the_entropy_of_the_label_frequencies():
    y = torch.tensor([0, 0, 1, 2, -100, 2, 2])
    p = np.array([2, 1, 3]) / 6
    assert math.isclose(unigram_loss([y], -100), float(-(p * np.log(p)).sum()), rel_tol=1e-9)


def test_identical_inputs_with_different_labels_cap_the_reachable_accuracy():
    x = torch.tensor([[1, 2], [1, 2], [1, 2], [3, 4]])
    assert reachable_accuracy(x, torch.tensor([0, 1, 1, 5])) == 0.75   # majority 2 of the 3 alike, + 1
    assert reachable_accuracy(torch.eye(3), torch.tensor([0, 1, 2])) == 1.0


# ------------------------------------------------------------------ watched runs
def test_a_language_model_returning_logits_hidden_and_loss_is_probed_without_errors():
    torch.manual_seed(0)
    data, g = sequence(), torch.Generator().manual_seed(1)
    model = TupleLM()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    with babysitter.watch(budget=60) as doctor:
        for _ in range(60):
            x, y = ids(data, g)
            _, _, loss = model(x, torch.zeros(1, B, H), targets=y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    p = doctor.report["probes"]
    assert "errors" not in p, p.get("errors")
    assert p["input_scale"]["kind"] == "token_ids"
    assert math.isclose(p["expected_init_loss"], math.log(V))
    assert abs(p["init_loss"] - math.log(V)) < 0.3          # a small init: ~ln V for V classes
    ids_found = {f["id"] for f in doctor.findings}
    assert not ids_found & {"data_not_normalized", "reg_too_strong", "underfitting", "probe_failed"}, doctor.findings


def hand_loop(lr, steps=40, clip=None):
    torch.manual_seed(0)
    X = torch.randn(256, 5)
    Y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * torch.randn(256)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    with babysitter.watch(probes=False) as doctor:
        for s in range(steps):
            i = (s * 32) % 256
            loss = F.mse_loss(model(X[i:i + 32]).squeeze(1), Y[i:i + 32])
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
    return doctor


def test_a_hand_written_update_is_followed_as_steps_at_its_lr():
    doctor = hand_loop(0.05)
    assert doctor.report["steps"] >= 38          # the first update reveals the loop; the rest are steps
    assert math.isclose(doctor.report["probes"]["watch"]["lr"], 0.05, rel_tol=1e-3)
    assert "no_training_seen" not in {f["id"] for f in doctor.findings}


def test_a_hand_written_update_with_a_hand_written_loss_leaves_one_spy_at_most():
    """The step of a hand-written update begins in a hook inside ``loss.backward()``, while torch has
    popped the Spy for its own ``__torch_function__``: disarming it there once left one more Spy on the
    mode stack per step (each op then paid for all of them: 25x the run's time)."""
    torch.manual_seed(0)
    X = torch.randn(256, 5)
    Y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * torch.randn(256)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    depth = []
    with babysitter.watch(probes=False) as doctor:
        for s in range(60):
            i = (s * 32) % 256
            loss = ((model(X[i:i + 32]).squeeze(1) - Y[i:i + 32]) ** 2).mean()   # no loss function
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.05 * p.grad
                    p.grad = None
            depth.append(torch._C._len_torch_function_stack())
    assert max(depth) <= 1 and torch._C._len_torch_function_stack() == 0
    assert doctor.report["steps"] >= 58


def test_a_run_the_doctor_did_not_see_is_not_called_healthy():
    model = nn.Linear(3, 2)
    with babysitter.watch(probes=False) as doctor:
        with torch.no_grad():
            model(torch.randn(4, 3))
    assert doctor.report["healthy"] is False
    (f,) = [f for f in doctor.findings if f["id"] == "no_training_seen"]
    assert f["severity"] == "warning" and f["facts"]["optimizer_steps"] == 0


def test_a_loop_that_never_steps_is_named_parameters_not_updated():
    """backward() fills the gradients step after step, optimizer.step() is never called: the doctor saw
    that the parameters never moved (parameters_not_updated, first), not only that it saw no training;
    a few backward() calls (a gradient computed once) are no loop."""
    from babysitter.doctor.thresholds import NEVER_STEPPED

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    for calls, named in ((NEVER_STEPPED + 20, True), (NEVER_STEPPED - 1, False)):
        with babysitter.watch(probes=False) as doctor:
            for _ in range(calls):
                opt.zero_grad()
                F.cross_entropy(model(torch.randn(16, 3)), torch.randint(0, 2, (16,))).backward()
        assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
        alarms = [f for f in doctor.findings if f["severity"] != "info"]
        assert doctor.report["healthy"] is False and alarms[-1]["id"] == "no_training_seen"
        if named:
            assert alarms[0]["id"] == "parameters_not_updated" and alarms[0]["facts"]["never_stepped"]
            assert alarms[0]["facts"]["backward_calls"] == calls and "optimizer.step()" in alarms[0]["advice"]
        else:
            assert [f["id"] for f in alarms] == ["no_training_seen"]


def test_softmax_without_dim_on_a_sequence_feeding_cross_entropy_is_named():
    torch.manual_seed(0)
    data, g = sequence(), torch.Generator().manual_seed(1)
    emb, head = nn.Embedding(V, 16), nn.Linear(16, V)
    model = nn.Sequential(emb, head)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with babysitter.watch(probes=False) as doctor:
        for _ in range(30):
            x, y = ids(data, g)
            probs = F.softmax(model(x))   # dim 0 of (B, T, V): the batch
            loss = F.cross_entropy(probs.view(-1, V), y.view(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    top = [f for f in doctor.findings if f["severity"] != "info"]
    assert top[0]["id"] == "softmax_before_loss" and top[0]["facts"]["input"] == "softmax_no_dim"


class Residual(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.stem, self.fc, self.proj, self.head = nn.Linear(5, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, 2)
        self.ln = nn.LayerNorm(d)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.proj(F.relu(self.fc(self.ln(x))))     # a block's output added back to the stream
        return self.head(x)


def test_a_residual_stream_is_not_two_linear_layers_in_a_row_but_a_plain_stack_is():
    for model, expected in ((Residual(), False), (nn.Sequential(nn.Linear(5, 16), nn.Linear(16, 2)), True)):
        torch.manual_seed(0)
        X, Y = torch.randn(64, 5), torch.randint(2, (64,))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with babysitter.watch(probes=False) as doctor:
            for _ in range(5):
                loss = F.cross_entropy(model(X), Y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        assert ("missing_activation" in {f["id"] for f in doctor.findings}) is expected, type(model).__name__


def test_adamw_decay_is_no_share_of_the_objective_but_adam_s_coupled_decay_is():
    from babysitter.doctor.instruments.reg_share import decoupled

    p = [nn.Parameter(torch.ones(2))]
    assert decoupled(torch.optim.AdamW(p, weight_decay=0.1), {"weight_decay": 0.1})
    assert not decoupled(torch.optim.Adam(p, weight_decay=0.1), {"weight_decay": 0.1})


class LogOfLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.out = nn.Linear(3, 3), nn.Linear(3, 1)

    def forward(self, x):
        return self.out(torch.log(self.fc(x)))      # log of negative values: NaN here


def test_a_non_finite_loss_says_where_it_started():
    torch.manual_seed(0)
    model = LogOfLinear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X, Y = torch.randn(32, 3), torch.randn(32, 1)
    with babysitter.watch(probes=False) as doctor:
        for _ in range(3):
            loss = F.mse_loss(model(X), Y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    (f,) = [f for f in doctor.findings if f["id"] == "loss_not_finite"]
    assert f["origin"]["op"] == "log" and f["origin"]["input_nonfinite"] is False
    assert f["origin"]["module"] == "LogOfLinear" and f["origin"]["pass"] == "forward"


def clipped_sgd_run(scale, clip, steps=12):
    torch.manual_seed(0)
    X, Y = torch.randn(64, 5) * scale, torch.randn(64, 1)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    with babysitter.watch(probes=False) as doctor:
        for _ in range(steps):
            loss = F.mse_loss(model(X), Y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
    return doctor


def test_the_clip_norm_is_read_and_an_explosion_before_clipping_is_not_hidden():
    doctor = clipped_sgd_run(scale=1e4, clip=0.5)
    assert math.isclose(doctor.clipping.clip_norm(), 0.5, rel_tol=1e-4)   # what clip_grad_norm_ was given
    (f,) = [f for f in doctor.findings if f["id"] == "exploding_gradients"]
    assert f["facts"]["max_norm_before_clip"] > 1e3 and f["severity"] == "warning"
    assert clipped_sgd_run(scale=1.0, clip=100.0).clipping.clip_norm() is None   # never reached: no clipping


def test_gradients_zeroed_between_backward_and_step_are_named_and_not_taken_for_a_clip_to_zero():
    """optimizer.zero_grad() after loss.backward(): the norm at the end of backward is > 0, at the step 0.
    That is no clipping (a clip to 0 made the probes' copies unable to learn: a false cannot_overfit_tiny),
    and no_gradient_flow says the gradients were zeroed before the step, with that remedy."""
    torch.manual_seed(0)
    X, Y = torch.randn(256, 6), torch.randint(0, 3, (256,))
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    with babysitter.watch(budget=60) as doctor:
        for s in range(120):
            i = (s * 32) % 256
            loss = F.cross_entropy(model(X[i:i + 32]), Y[i:i + 32])
            loss.backward()
            opt.zero_grad()   # BUG: between backward and step
            opt.step()
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))   # Adam on zero gradients: no move
    assert doctor.clipping.clip_norm() is None and len(doctor.clipping.zeroed()) == len(doctor.clipping.seen) > 2
    alarms = [f for f in doctor.findings if f["severity"] != "info"]
    assert alarms[0]["id"] == "no_gradient_flow" and alarms[0]["facts"]["zeroed_before_step"]
    assert "never between them" in alarms[0]["advice"]
    assert "cannot_overfit_tiny" not in {f["id"] for f in alarms}
    assert doctor.report["probes"]["overfit_tiny"]["train_acc"] == 1.0   # the copies, unclipped, memorise


@pytest.mark.parametrize("bug", [True, False])
def test_an_output_broadcast_against_its_target_is_named(bug):
    """MSELoss on a (B, 1) output and a (B,) target: torch broadcasts them to (B, B) (its own UserWarning) and
    the model learns the targets' mean only. The fixed twin (squeeze) learns and raises nothing of it."""
    import warnings

    torch.manual_seed(0)
    X = torch.randn(512, 5)
    Y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * torch.randn(512)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    crit = nn.MSELoss()
    with warnings.catch_warnings(), babysitter.watch(probes=False) as doctor:
        warnings.simplefilter("ignore", UserWarning)
        for s in range(200):
            i = (s * 32) % 512
            out = model(X[i:i + 32])
            loss = crit(out if bug else out.squeeze(1), Y[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    found = [f for f in doctor.findings if f["id"] == "labels_look_random"]
    if bug:
        assert torch.broadcast_shapes((32, 1), (32,)) == (32, 32)
        assert found[0]["facts"] == {"broadcast": True, "input_shape": [32, 1], "target_shape": [32]}
        assert doctor.findings[0]["id"] == "labels_look_random" and "squeeze" in found[0]["advice"]
    else:
        assert not found and doctor.report["healthy"], doctor.findings


def test_a_model_trained_by_no_optimizer_that_stepped_is_named():
    torch.manual_seed(0)
    G, D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)), nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    opt_d, opt_g = torch.optim.Adam(D.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)   # BUG: G's over D
    bce = nn.BCEWithLogitsLoss()
    with babysitter.watch(probes=False) as doctor:
        for _ in range(10):
            real, fake = torch.randn(16, 2), G(torch.randn(16, 2))
            d_loss = bce(D(real), torch.ones(16, 1)) + bce(D(fake.detach()), torch.zeros(16, 1))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = bce(D(G(torch.randn(16, 2))), torch.ones(16, 1))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
    (f,) = [f for f in doctor.findings if f["id"] == "parameters_not_updated"]
    assert f["facts"]["models"] == ["Sequential"]


def test_a_loop_over_raw_tensors_with_no_module_and_no_optimizer_is_followed():
    torch.manual_seed(0)
    X = torch.randn(200, 5)
    y = X @ torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    w, b = torch.randn(5, requires_grad=True), torch.zeros(1, requires_grad=True)
    with babysitter.watch(probes=False) as doctor:
        for _ in range(30):
            loss = ((X @ w + b - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= 0.05 * w.grad
                b -= 0.05 * b.grad
                w.grad.zero_()
                b.grad.zero_()
    assert doctor.report["steps"] == 28   # the first update reveals the loop, the second backward starts following
    assert math.isclose(doctor.report["probes"]["watch"]["lr"], 0.05, rel_tol=1e-4)
    assert doctor.report["healthy"] is True


def test_a_grad_scaler_s_scale_is_not_read_as_clipping():
    from babysitter.doctor.watch.clipping import loss_scaled

    assert loss_scaled(65536.0 * 3.1, 3.1) and loss_scaled(2.0 * 0.7, 0.7)
    assert not loss_scaled(4.3, 1.0) and not loss_scaled(1.0, 1.0)


def test_a_per_example_argument_besides_x_is_replayed_row_by_row():
    """model(categories, numbers, mask=..., hidden=..., targets=...): the numbers differ per batch and
    have its B rows -- per-example; the mask is one batch's, the hidden state is (layers, B, H), the
    targets have their own slot: none of them is. A probe's rows get their own numbers (torch's
    indexing of the concatenated batches is the independent record)."""
    from babysitter.doctor.watch.outputs import Rows, RowReplay

    g = torch.Generator().manual_seed(0)
    batches, calls, mask, hidden = [], [], torch.ones(4, 3), torch.zeros(1, 4, H)
    for _ in range(3):
        cat, num, y = torch.randint(0, 2, (4,), generator=g), torch.randn(4, 3, generator=g), torch.randint(0, 5, (4,), generator=g)
        call = Call.record((cat, num), {"mask": mask, "hidden": hidden, "targets": y})
        call.find_target(y)
        batches.append((cat, y))
        calls.append(call)
    rows = Rows.of(calls[0], calls, batches)
    assert list(rows.varying) == [0]                      # the numbers alone
    seen = {}

    def model(c, n, mask=None, hidden=None, targets=None):
        seen.update(c=c, n=n, mask=mask, hidden=hidden, targets=targets)
        return torch.zeros(len(c), 5)
    kit_batches = rows.ids(batches)
    assert [b[0].tolist() for b in kit_batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    pick = torch.tensor([9, 2, 5, 11, 0, 7])
    y6 = torch.arange(6)
    RowReplay(rows, calls[0], Layout((5,), ()))(model, pick, y6)
    all_cat = torch.cat([c for c, _ in batches])
    all_num = torch.cat([c.rest[0] for c in calls])
    assert torch.equal(seen["c"], all_cat[pick]) and torch.equal(seen["n"], all_num[pick])
    assert seen["mask"].shape == (6, 3) and seen["hidden"].shape == (1, 6, H) and seen["targets"] is y6
    assert torch.equal(rows.inputs(pick), all_cat[pick])
    assert Rows.of(calls[0], [calls[0]] * 3, batches) is None   # one batch's arguments every time: not per-example


class CatAndNumbers(nn.Module):
    def __init__(self):
        super().__init__()
        self.cat = nn.Embedding(2, 4)
        self.mlp = nn.Sequential(nn.Linear(4 + 6, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, cat, num):
        return self.mlp(torch.cat([self.cat(cat), num], dim=1))


def test_the_probes_learn_from_a_second_per_example_input():
    """The labels depend on the numbers only (the first input, a category, carries no signal): replayed
    with the first batch's numbers for every batch, the probes' copies could not learn the labels."""
    torch.manual_seed(0)
    num = torch.randn(512, 6)
    cat = torch.randint(0, 2, (512,))
    y = (num[:, 0] > 0).long() + (num[:, 1] > 0.5).long()
    model = CatAndNumbers()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with babysitter.watch(budget=60) as doctor:
        for epoch in range(3):
            for i in range(0, 512, 32):
                loss = F.cross_entropy(model(cat[i:i + 32], num[i:i + 32]), y[i:i + 32])
                opt.zero_grad()
                loss.backward()
                opt.step()
    p = doctor.report["probes"]
    assert "errors" not in p, p.get("errors")
    assert any("per-example arguments besides x" in n for n in p.get("notes", [])), p.get("notes")
    assert p["lr_range"]["seeds_read"] >= 1
    assert p["labels"]["real"]["held_out_acc"] > 0.6, p["labels"]   # chance 1/3
    assert not {f["id"] for f in doctor.findings} & {"labels_look_random", "lr_too_high", "lr_too_low"}, doctor.findings

"""doctor/probes/kit.py: a Kit made from a run copies its model and rebuilds its optimizer, and a
fresh copy steps exactly as torch's own optimizer steps the same copy; its scoring, its RNG guard."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from babysitter.doctor.probes.kit import Kit, accuracy, kept_rng, on_device
from babysitter.doctor.probes.overfit_tiny import probe_overfit_tiny


def _run(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(40, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return model, x, y


def test_from_run_keeps_the_groups_and_drops_parameters_outside_the_model():
    model, x, y = _run()
    stray = nn.Parameter(torch.zeros(5))   # stepped by the optimizer, but no copy of the model holds it
    opt = torch.optim.SGD([{"params": list(model[0].parameters()), "lr": 0.1},
                           {"params": [*model[2].parameters(), stray], "lr": 0.01, "momentum": 0.9}])
    kit = Kit.from_run(model, opt, F.cross_entropy, [(x, y)], "cross_entropy", 3)
    assert [g["params"] for g in kit.groups] == [[0, 1], [2, 3]]     # indices into list(model.parameters())
    assert [g["lr"] for g in kit.groups] == [0.1, 0.01] and kit.groups[1]["momentum"] == 0.9
    assert kit.lr == 0.1 and kit.optimizer_name == "SGD" and kit.classification and kit.per_example
    assert kit.model is not model and all(torch.equal(a, b) for a, b in zip(kit.model.parameters(), model.parameters()))
    assert kit.batches[0][0] is not x and torch.equal(kit.batches[0][0], x)   # the batches are copies too


def test_a_fresh_copy_steps_as_torch_s_optimizer_steps_the_same_copy():
    model, x, y = _run()
    kit = Kit.from_run(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), F.cross_entropy,
                       [(x, y)], "cross_entropy", 3)
    copied, opt, step = kit.fresh()
    ref = copy.deepcopy(kit.model)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        loss, logits = step(x, y)
        ref_opt.zero_grad()
        ref_logits = ref(x)
        ref_loss = F.cross_entropy(ref_logits, y)
        ref_loss.backward()
        ref_opt.step()
        assert loss == pytest.approx(float(ref_loss.detach()), rel=1e-6) and torch.allclose(logits, ref_logits.detach())
    assert all(torch.allclose(a, b) for a, b in zip(copied.parameters(), ref.parameters()))
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["momentum"] == 0.9
    # the kit's own model is never trained; a fresh copy at another lr starts from it again
    assert all(torch.equal(a, b) for a, b in zip(kit.model.parameters(), model.parameters()))
    assert kit.fresh(lr=1e-3)[1].param_groups[0]["lr"] == 1e-3


def test_clip_norm_clips_the_copy_s_step_as_the_run_does():
    """Plain SGD with the gradient clipped to c moves the parameters by lr * c in norm."""
    model, x, y = _run()
    kit = Kit.from_run(model, torch.optim.SGD(model.parameters(), lr=0.5), F.cross_entropy, [(x, y)], "cross_entropy", 3)
    kit.clip_norm = 1e-3
    copied, _, step = kit.fresh()
    before = [p.detach().clone() for p in copied.parameters()]
    step(x, y)
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(copied.parameters(), before)))
    assert float(moved) == pytest.approx(0.5 * 1e-3, rel=1e-4)


def test_correct_leaves_out_the_ignored_targets_and_xy_concatenates_the_batches():
    model, x, y = _run()
    kit = Kit.from_run(model, torch.optim.SGD(model.parameters(), lr=0.1), F.cross_entropy,
                       [(x[:20], y[:20]), (x[20:], y[20:])], "cross_entropy", 3)
    bx, by = kit.xy()
    assert torch.equal(bx, x) and torch.equal(by, y) and torch.equal(kit.xy(1)[1], y[:20])
    logits = torch.randn(40, 3)
    kit.ignore_index = 2
    keep = y != 2
    expected = (logits.argmax(1)[keep] == y[keep]).float().mean()
    assert kit.correct(logits, y) == pytest.approx(float(expected))
    assert accuracy(kit.model, x, y) == pytest.approx(float((kit.model(x).argmax(1) == y).float().mean()))
    assert kit.model.training                      # accuracy() scores in eval mode and puts train mode back


def test_kept_rng_leaves_torch_s_random_stream_where_it_was():
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    with kept_rng():
        torch.rand(100)                             # a probe's own draws
    assert torch.equal(torch.rand(4), expected)
    (moved,) = on_device(nn.Linear(2, 2), torch.ones(3))
    assert moved.device == torch.device("cpu")


def test_a_watched_lbfgs_run_s_kit_steps_its_copies_as_lbfgs_does():
    """L-BFGS steps only with a closure: the kit's step is exactly a plain L-BFGS step on a copy."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    x = torch.randn(40, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    kit = Kit.from_run(model, torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5), F.cross_entropy,
                         [(x[:20], y[:20]), (x[20:], y[20:])], "cross_entropy", 3)
    assert kit.closure
    copied, _, step = kit.fresh()
    loss, _ = step(x[:20], y[:20])
    ref = copy.deepcopy(kit.model)
    opt = torch.optim.LBFGS(ref.parameters(), lr=0.5, max_iter=5)

    def closure():
        opt.zero_grad()
        out = F.cross_entropy(ref(x[:20]), y[:20])
        out.backward()
        return out
    assert loss == float(opt.step(closure))
    assert all(torch.equal(a, b) for a, b in zip(copied.parameters(), ref.parameters()))
    numbers, found = probe_overfit_tiny(kit)
    assert numbers["overfit_tiny"]["train_acc"] == 1.0 and not found


def test_an_lr_far_below_the_range_test_s_is_slow_not_broken():
    """cannot_overfit_tiny at SGD lr 1e-4 (300 steps are too few at it); at the range test's suggested
    lr a fresh copy memorises the 20 examples, so the error is info; a suggestion under 3x the run's
    lr tries nothing again."""
    from babysitter.doctor.probes.overfit_tiny import slow_not_broken

    model, x, y = _run()
    kit = Kit.from_run(model, torch.optim.SGD(model.parameters(), lr=1e-4), F.cross_entropy, [(x, y)],
                       "cross_entropy", 3)
    numbers, found = probe_overfit_tiny(kit)
    assert [f.id for f in found] == ["cannot_overfit_tiny"] and numbers["overfit_tiny"]["lr"] == 1e-4
    probes = {**numbers, "lr_range": {"suggested": 0.5}}
    slow_not_broken(kit, probes, found)
    again = probes["overfit_tiny"]["at_suggested_lr"]
    assert again["lr"] == 0.5 and again["train_acc"] == 1.0
    assert found[0].severity == "info" and found[0].facts["memorised_at_lr"] == 0.5
    assert slow_not_broken(kit, {**numbers, "lr_range": {"suggested": 2e-4}}, found) is found   # < 3x: no retry


def test_label_smoothing_s_floor_is_where_a_sequence_model_memorises():
    """Cross entropy with label smoothing e cannot go below the entropy of its smoothed target (torch's
    own loss at the logits log q is that floor): overfit_tiny on sequence targets judges how far the
    loss fell towards the floor, not towards 0 (a transformer LM with label smoothing 0.1 was called
    unable to memorise 20 sequences)."""
    from babysitter.doctor.watch.outputs import loss_floor

    V, e = 50, 0.2
    q = torch.full((V,), e / V)
    q[7] += 1 - e
    assert loss_floor(F.cross_entropy, {"label_smoothing": e}, V) == pytest.approx(
        float(F.cross_entropy(q.log().unsqueeze(0), torch.tensor([7]), label_smoothing=e)), rel=1e-6)
    assert loss_floor(nn.CrossEntropyLoss(label_smoothing=e), {}, V) == loss_floor(F.cross_entropy, {"label_smoothing": e}, V)
    assert loss_floor(F.cross_entropy, {}, V) == 0.0

    class TokenMap(nn.Module):   # each token's next one is (7 t + 3) mod V, but token 0's is ambiguous
        def __init__(self):
            super().__init__()
            self.emb, self.head = nn.Embedding(V, 32), nn.Linear(32, V)

        def forward(self, x):
            return self.head(torch.tanh(self.emb(x))).reshape(-1, V)

    torch.manual_seed(0)
    x = torch.randint(0, V, (20, 12))
    y = (7 * x + 3) % V
    zeros = (x == 0).nonzero()
    y[zeros[::2, 0], zeros[::2, 1]] = 1      # half of token 0's targets differ: 100% is out of reach
    model = TokenMap()
    smoothed = lambda out, t: F.cross_entropy(out, t.reshape(-1), label_smoothing=e)   # noqa: E731
    kit = Kit.from_run(model, torch.optim.Adam(model.parameters(), lr=1e-2), smoothed, [(x, y)], "cross_entropy", V)
    kit.targets = lambda t: t.reshape(-1)
    assert probe_overfit_tiny(kit)[1] and kit.floor == 0.0   # judged towards 0, the floor (1.26) is never passed
    kit.floor = loss_floor(F.cross_entropy, {"label_smoothing": e}, V)
    numbers, found = probe_overfit_tiny(kit)
    assert found == [] and 0.9 < numbers["overfit_tiny"]["train_acc"] < 1.0
    assert numbers["overfit_tiny"]["loss"] - kit.floor < 0.2 * (numbers["overfit_tiny"]["first_loss"] - kit.floor)

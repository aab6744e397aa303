"""babysitter.watch() on code structured as people write it: a torch.compile'd model (watched from outside its
compiled graph: the script computes the same, torch warns of no hook of ours, the layers keep their names) and a
GAN's two optimizers (each mapped to its own model and judged by its own update/weight ratio; the losses of the
game are not a curve to judge). The clinic's scripts (babysitter/clinic/scripts) run the full-size cases."""

import math

import torch
from torch import nn

import babysitter


def alarms(doctor):
    return [f["id"] for f in doctor.findings if f["severity"] in ("error", "warning")]


def compiled_run(watched: bool):
    """A small MLP with dropout, compiled (aot_eager: dynamo's tracing and graph breaks without inductor's
    C++ build), trained 12 steps on random data; its losses and the module inside the wrapper."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 4))
    compiled = torch.compile(model, backend="aot_eager")
    opt = torch.optim.SGD(compiled.parameters(), lr=0.1)
    x, y = torch.randn(96, 16), torch.randint(0, 4, (96,))
    losses = []
    with babysitter.watch(budget=3 if watched else 0) if watched else _nothing() as doctor:
        for i in range(12):
            j = slice(8 * (i % 12), 8 * (i % 12) + 8)
            loss = nn.functional.cross_entropy(compiled(x[j]), y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, doctor, model


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_a_compiled_model_is_watched_from_outside_its_graph(recwarn):
    torch._dynamo.reset()
    plain, _, _ = compiled_run(watched=False)
    watched, doctor, model = compiled_run(watched=True)
    assert watched == plain                                  # the script computes exactly what it would
    assert not [w for w in recwarn if "global hooks" in str(w.message)]   # torch's warning about our hooks
    assert doctor.model is model                             # the user's module, not the OptimizedModule
    assert set(doctor.report["probes"]["init_grad_norms"]) == {"0", "3"}   # not "_orig_mod.0"
    assert doctor.report["steps"] == 12
    assert doctor.others == {}                               # the probes' own optimizers are not the script's
    torch._dynamo.reset()


def ring_gan(lr_g=1e-3, lr_d=1e-3, steps=300):
    """healthy--gan-2d-ring-two-optimizers, shortened: D steps first (the run's optimizer), then G."""
    torch.manual_seed(0)
    centers = torch.tensor([[math.cos(k * math.pi / 4), math.sin(k * math.pi / 4)] for k in range(8)]) * 2

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))

        def forward(self, z):
            return self.net(z)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

        def forward(self, x):
            return self.net(x)

    G, D = Generator(), Discriminator()
    opt_G = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    with babysitter.watch(probes=False) as doctor:
        for _ in range(steps):
            real = centers[torch.randint(0, 8, (64,))] + 0.05 * torch.randn(64, 2)
            fake = G(torch.randn(64, 8))
            opt_D.zero_grad()
            ((bce(D(real), ones) + bce(D(fake.detach()), zeros)) / 2).backward()
            opt_D.step()
            opt_G.zero_grad()
            bce(D(fake), ones).backward()
            opt_G.step()
    return doctor, G, D


def test_each_optimizer_of_a_gan_is_mapped_to_its_own_model():
    doctor, G, D = ring_gan()
    assert doctor.model is D                                 # the optimizer that steps first is the run's
    assert [o.model for o in doctor.others.values()] == [G]
    assert all(o.own_loss for o in doctor.others.values())   # G steps on a loss of its own: a game
    assert doctor.report["healthy"], doctor.findings


def test_a_generator_whose_lr_is_far_too_low_is_named_by_its_own_update_ratio():
    doctor, G, _ = ring_gan(lr_g=1e-7)
    assert alarms(doctor)[:1] == ["lr_too_low"]
    found = next(f for f in doctor.findings if f["id"] == "lr_too_low")
    assert found["layer"] == "Generator" and "lr=1e-07" in found["advice"]
    # Adam moves each weight by about lr a step (|m_hat / sqrt(v_hat)| ~ 1): ||dW|| / ||W|| ~ lr sqrt(n) / ||W||
    bound = sorted(1e-7 * math.sqrt(w.numel()) / float(w.detach().norm()) for w in (G.net[0].weight, G.net[2].weight))
    assert 0.1 * bound[0] <= found["facts"]["update_ratio"] <= 3 * bound[-1]
    # G's loss rises as D wins: a game's curve, not divergence (it said lr_too_high, the wrong way, before)
    assert "lr_too_high" not in alarms(doctor)
    assert all(f["severity"] == "info" and f["facts"]["adversarial"] for f in doctor.findings
               if f["facts"].get("source") == "curve")


def test_an_in_batch_contrastive_loss_is_not_judged_as_classification():
    """NT-Xent (SimCLR): cross entropy over a batch's (2N, 2N) similarity matrix, each row's target the
    other view of its example. Its 'accuracy' has no fixed class set, so the 0.8 of a 10-class toy does
    not apply, and no example can be scored without its batch: the probes say so instead of failing.
    Before: underfitting (train acc 0.57 < 0.8) and five probe errors on this healthy run."""
    from sklearn.datasets import load_digits

    from babysitter.doctor.watch.capture import in_batch_targets

    torch.manual_seed(0)
    x_all = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    enc = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    n, losses = 64, []
    with babysitter.watch(budget=5) as doctor:
        for step in range(60):
            x = x_all[torch.randint(0, len(x_all), (n,))]
            z = nn.functional.normalize(enc(torch.cat([x + 0.1 * torch.randn_like(x), x + 0.1 * torch.randn_like(x)])), dim=1)
            sim = (z @ z.t() / 0.5).fill_diagonal_(float("-inf"))
            labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
            loss = nn.functional.cross_entropy(sim, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert in_batch_targets(sim, labels) and not in_batch_targets(sim[:, :10], labels[:10] % 10)
    assert losses[-1] < losses[0] - 0.5 < math.log(2 * n - 1)   # it learns (ln(2N - 1) = 4.84 at chance)
    assert alarms(doctor) == []
    skipped = [f for f in doctor.findings if f["id"] == "probe_failed"]
    assert len(skipped) == 1 and "batch's own rows" in skipped[0]["evidence"]

"""Fault: the discriminator's Adam runs at learning rate 0.05 (fifty times the generator's 1e-3): each of
its steps moves its weights by a sizeable fraction of their norm, its loss jumps from step to step and the
generator chases a target that never settles. Otherwise identical to healthy--gan-2d-ring-two-optimizers."""
import math

import torch
import torch.nn as nn

torch.manual_seed(0)

latent_dim = 8
batch_size = 128
n_steps = 1200
centers = torch.tensor([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)]) * 2.0


def sample_real(n):
    return centers[torch.randint(0, 8, (n,))] + 0.05 * torch.randn(n, 2)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, x):
        return self.net(x)


G, D = Generator(), Discriminator()
opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
opt_D = torch.optim.Adam(D.parameters(), lr=0.05, betas=(0.5, 0.999))  # BUG: far too high for Adam
adversarial_loss = nn.BCEWithLogitsLoss()

for step in range(n_steps):
    real = sample_real(batch_size)
    valid = torch.ones(batch_size, 1)
    fake_label = torch.zeros(batch_size, 1)

    # discriminator: real -> 1, fake -> 0
    z = torch.randn(batch_size, latent_dim)
    fake = G(z)
    opt_D.zero_grad()
    d_loss = (adversarial_loss(D(real), valid) + adversarial_loss(D(fake.detach()), fake_label)) / 2
    d_loss.backward()
    opt_D.step()

    # generator: make D call the fakes real
    opt_G.zero_grad()
    g_loss = adversarial_loss(D(fake), valid)
    g_loss.backward()
    opt_G.step()

    if step % 200 == 0:
        print(f"step {step}: d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f}")

with torch.no_grad():
    samples = G(torch.randn(2000, latent_dim))
    dist = torch.cdist(samples, centers).min(dim=1).values
    covered = torch.cdist(samples, centers).argmin(dim=1).unique().numel()
print(f"fraction within 0.25 of a mode {(dist < 0.25).float().mean().item():.3f}, modes covered {covered}/8")

"""The watch's public face (STYLE.md: hosts use the doctor's public API, never its underscored names):
the verdict (doctor/watch/report.py) and the integrations read a Watch through its public attributes
and :meth:`Watch.seen`, a read-only view of what the hooks saw."""

import ast
import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import babysitter

SRC = Path(__file__).resolve().parents[3] / "src" / "babysitter"
READERS_OF_A_WATCH = [SRC / "doctor" / "watch" / "report.py", *sorted((SRC / "integrations").glob("*.py"))]


@pytest.mark.parametrize("path", READERS_OF_A_WATCH, ids=lambda p: p.name)
def test_no_private_field_of_a_watch_is_read_outside_it(path):
    """No ``w._x`` / ``watch._x`` / ``self.watch._x`` in the modules that read a Watch from outside."""
    private = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if name in ("w", "watch", "doctor"):
                private.append(f"{name}.{node.attr} (line {node.lineno})")
    assert private == []


def test_seen_is_a_read_only_view_of_what_the_hooks_saw():
    torch.manual_seed(0)
    x, y = torch.randn(64, 6), torch.randint(0, 4, (64,))
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with babysitter.watch(probes=False) as doctor:
        for i in range(0, 64, 16):
            opt.zero_grad()
            F.cross_entropy(model(x[i:i + 16]), y[i:i + 16]).backward()
            opt.step()
    seen = doctor.seen()
    assert seen.loss_name == "cross_entropy" and seen.num_classes == 4 and seen.ignore_index == -100
    script_batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    assert seen.batches and not seen.sequence           # training batches, as the script passed them
    assert all(any(torch.equal(bx, sx) and torch.equal(by, sy) for sx, sy in script_batches) for bx, by in seen.batches)
    assert seen.model_calls_seen and seen.nan_origin is None and seen.probes == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen.loss_name = "mse_loss"
    assert doctor.report["probes"]["watch"]["classes"] == 4 and math.isclose(doctor.report["probes"]["watch"]["lr"], 0.1)

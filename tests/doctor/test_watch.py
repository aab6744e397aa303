"""babysit watch and babysitter.watch(): a script run as python runs it, its output untouched, and
the code faults with their honest look-alikes (small digits runs, 1 thread)."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import babysitter

SCRIPTS = Path(__file__).parent / "scripts"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def babysit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "babysitter.cli", *map(str, args)], capture_output=True,
                          text=True, env=ENV, cwd=cwd)


def test_bad_input_is_one_line_and_overwrites_nothing(tmp_path):
    missing = babysit("watch", tmp_path / "nope.py")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such script" in missing.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    refused = babysit("watch", "--out", taken, SCRIPTS / "echo_argv.py")
    assert refused.returncode == 2 and refused.stdout == "" and os.listdir(taken) == ["keep.txt"]


def test_output_is_byte_identical_with_probes_on_and_json_keeps_stdout_clean(tmp_path):
    plain = subprocess.run([sys.executable, SCRIPTS / "tiny_dropout.py"], capture_output=True, text=True, env=ENV)
    watched = babysit("watch", "--quiet", "--out", tmp_path / "a", SCRIPTS / "tiny_dropout.py")
    assert plain.returncode == watched.returncode == 0
    assert watched.stdout == plain.stdout and len(plain.stdout.splitlines()) == 4
    as_json = babysit("watch", "--json", "--render", "now", "--out", tmp_path / "b", SCRIPTS / "tiny_dropout.py")
    report = json.loads(as_json.stdout)                 # stdout holds the JSON alone
    assert plain.stdout in as_json.stderr               # the script's own stdout went to stderr
    assert set(report) == {"healthy", "findings", "probes", "script", "steps", "run_dir"}
    assert report["steps"] == 3 * math.ceil(600 / 32) and report["healthy"], report["findings"]
    assert report["probes"]["overfit_tiny"]["train_acc"] == 1.0 and report["probes"]["lr_range"]["high"]
    assert report["probes"]["expected_init_loss"] == pytest.approx(math.log(10))
    run = Path(report["run_dir"])
    assert json.loads((run / "diagnosis.json").read_text()) == report
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [19, 38, 57]    # epochs end where a no_grad pass follows training steps
    assert {"doctor.json", "report.html", "curves.png"} <= set(os.listdir(run))


CLINIC_SCRIPTS = Path(babysitter.__file__).parent / "clinic" / "scripts"
AS_PEOPLE_WRITE_IT = [   # issue 24 item 5: code structured as people write it (the clinic's scripts)
    ("healthy--digits-model-from-package-beside-script.py", []),      # from digits_nets.model import Net
    ("healthy--mnist1d-nanogpt-style-config-file.py", ["--learning_rate=0.02", "--epochs=3"]),   # exec'd config + argv
    ("healthy--digits-torch-compile-mlp.py", []),                       # inductor: dropout's seeds drawn per graph
    ("healthy--digits-dataloader-two-workers-main-guard.py", []),      # __main__ guard, DataLoader workers
    ("healthy--digits-own-trainer-class-fit-evaluate.py", []),
    ("lr_too_low--gan-2d-generator-adam-lr-1e-7.py", []),              # two optimizers
]


def unstamped(text: str) -> str:
    """torch's logged warnings (``W1205 20:40:49.364000 27306 torch/...``) without their time and pid, the only
    parts two runs of one script may not share (inductor logs one in a bare environment)."""
    return re.sub(r"(?m)^([WIEF])\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ", r"\1 ", text)


@pytest.mark.parametrize("name, args", AS_PEOPLE_WRITE_IT, ids=[n.split("--")[1][:-3] for n, _ in AS_PEOPLE_WRITE_IT])
def test_output_is_identical_for_code_written_as_people_write_it(name, args, tmp_path):
    """Run from another folder: the package beside the script and the config files are found as python finds them;
    stdout and stderr (torch's warnings included) are the script's own, byte for byte, with the probes on."""
    script = CLINIC_SCRIPTS / name
    plain = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=ENV, cwd=tmp_path)
    watched = babysit("watch", "--quiet", "--render", "none", "--budget", "10", "--out", tmp_path / "run", script,
                      *args, cwd=tmp_path)
    assert plain.returncode == watched.returncode == 0, watched.stderr[-2000:]
    assert watched.stdout == plain.stdout and ("accuracy" in plain.stdout or "modes covered" in plain.stdout)
    assert unstamped(watched.stderr) == unstamped(plain.stderr)
    if args:
        assert "lr 0.02 " in plain.stdout and "epoch 2 " in plain.stdout and "epoch 3 " not in plain.stdout


def digits(n=640):
    x, y = load_digits(return_X_y=True)
    x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1e-8), dtype=torch.float32)
    return x[:n], torch.tensor(y)[:n]


def train(zero_every=1, step_every=1, frozen=False, head_only=False, softmax=False, regression=False,
          epochs=3, lr=0.05):
    """A plain loop on digits under babysitter.watch(); options make the faults and their look-alikes."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = digits()
    body = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
    head = nn.Linear(64, 1 if regression else 10)
    model = nn.Sequential(body, head)
    if frozen:
        body.requires_grad_(False)
    params = head.parameters() if (frozen or head_only) else model.parameters()
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9)
    # regression: a smooth function of the pixels (learnable), standardized
    r = torch.tanh(x[:, 20:28].sum(1, keepdim=True) / 4)
    target = (r - r.mean()) / r.std() if regression else y
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    with babysitter.watch(budget=5) as doctor:
        k = 0
        for _ in range(epochs):
            for i in range(0, len(x), 32):
                out = model(x[i:i + 32])
                out = out.softmax(1) if softmax else out
                loss_fn(out, target[i:i + 32]).backward()
                k += 1
                if k % step_every == 0:
                    opt.step()
                if k % zero_every == 0:
                    opt.zero_grad()
    return doctor


def alarms(doctor):
    return [f["id"] for f in doctor.findings if f["severity"] in ("error", "warning")]


def test_missing_zero_grad_is_named_and_accumulation_on_purpose_is_not():
    bad = train(zero_every=10 ** 9)
    assert alarms(bad)[:1] == ["grad_not_zeroed"]
    acc = train(zero_every=4, step_every=4, lr=0.05 / 4)   # zero_grad and step every 4 backwards (4x the gradient)
    assert "grad_not_zeroed" not in alarms(acc) and acc.report["healthy"], acc.findings
    assert acc.report["steps"] == 3 * 20 // 4


def test_frozen_backbone_is_not_parameters_not_updated_but_a_forgotten_one_is():
    frozen = train(frozen=True)
    assert frozen.report["healthy"], frozen.findings
    forgotten = train(head_only=True)                    # body requires grad and gets it, but is in no group
    assert alarms(forgotten)[0] == "parameters_not_updated"
    assert "0.0.weight" in forgotten.findings[0]["evidence"]


def test_softmax_before_cross_entropy_is_named():
    assert alarms(train(softmax=True))[:1] == ["softmax_before_loss"]


def test_mse_regression_gets_no_class_check_and_no_alarm():
    doctor = train(regression=True, lr=0.01)
    assert doctor.report["healthy"], doctor.findings
    p = doctor.report["probes"]
    assert p["watch"]["loss"] == "mse_loss" and p["watch"]["classes"] is None
    assert p["expected_init_loss"] is None and "overfit_tiny" not in p and "labels" not in p


def test_missing_activation_names_the_layers_and_a_functional_relu_counts():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = digits(320)

    class Net(nn.Module):
        def __init__(self, relu):
            super().__init__()
            self.fc1, self.fc2, self.relu = nn.Linear(64, 32), nn.Linear(32, 10), relu

        def forward(self, v):
            h = self.fc1(v.flatten(1))
            return self.fc2(torch.relu(h) if self.relu else h.view(len(h), -1))

    for relu in (False, True):
        model = Net(relu)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        with babysitter.watch(probes=False) as doctor:
            for i in range(0, 320, 32):
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32]).backward()
                opt.step()
        missing = [f for f in doctor.findings if f["id"] == "missing_activation"]
        assert bool(missing) is not relu
        if missing:
            assert "fc1 -> fc2" in missing[0]["evidence"]


def test_a_sum_reduced_loss_is_judged_per_example_at_init(tmp_path):
    """nn.CrossEntropyLoss(reduction="sum"): the init loss is the batch's sum (~64 ln 10 here), so
    compared with ln C as it stands every such run was init_loss_off. Per example it is ln 10 for a
    healthy init, and a far too large output layer is still named."""
    healthy = babysit("watch", "--json", "--render", "none", "--out", tmp_path / "a",
                      SCRIPTS / "digits_summed_cross_entropy.py")
    report = json.loads(healthy.stdout)
    assert healthy.returncode == 0 and report["healthy"], report["findings"]
    assert abs(report["probes"]["init_loss"] - math.log(10)) < 0.5 * math.log(10)
    off = babysit("watch", "--json", "--render", "none", "--out", tmp_path / "b",
                  SCRIPTS / "digits_summed_cross_entropy.py", "--init-std", "3", "--epochs", "1")
    found = json.loads(off.stdout)["findings"]
    assert "init_loss_off" in [f["id"] for f in found if f["severity"] in ("warning", "error")][:2], found


def test_a_summed_validation_loss_is_on_the_train_loss_s_scale(tmp_path):
    """pytorch/examples' mnist test(): ``F.nll_loss(output, target, reduction='sum')`` over a batch of
    the whole test set. The curve's validation loss is per example, the script's own printed average."""
    run = babysit("watch", "--json", "--render", "none", "--out", tmp_path / "a", SCRIPTS / "digits_examples_mnist_style.py")
    report = json.loads(run.stdout)
    assert run.returncode == 0 and report["healthy"], report["findings"]
    printed = [float(m) for m in re.findall(r"Test set: Average loss: ([0-9.]+)", run.stderr)]
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert len(printed) == 3 and [round(r["val_loss"], 4) for r in rows] == printed

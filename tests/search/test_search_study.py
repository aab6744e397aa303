"""Coarse -> fine search on real Optuna journal storages, with worker processes, and a killed worker."""

import json
import math
import signal
import subprocess
import time

import optuna
import pytest
import yaml

from babysitter.spec import load_spec
from tests.conftest import BABYSIT, run_main

# Tiny and fast: a 16-unit MLP on sklearn's digits, Adam, one epoch of batch 8 (~160 steps).
SPEC = {"name": "digits-tiny", "data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16], "norm": "none"},
        "optim": {"name": "adam"}, "schedule": {"name": "constant"}, "train": {"epochs": 1, "batch_size": 8},
        "doctor": {"enabled": False}}
SPACE = {"optim.lr": {"low": 1.0e-6, "high": 1.0e-3, "log": True}}


@pytest.fixture
def files(tmp_path, write_spec):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    return write_spec(SPEC), space, tmp_path / "journal.log"


def test_coarse_then_fine(files, tmp_path, monkeypatch, capsys):
    spec, space, journal = files
    monkeypatch.chdir(tmp_path)
    # seed 4: worker samplers RandomSampler(4000), RandomSampler(4001); 12 lrs up to 9.85e-4
    code, out, err = run_main(monkeypatch, capsys, "search", spec, "--space", space, "--trials", 12, "--epochs", 1,
                              "--workers", 2, "--storage", journal, "--study", "coarse", "--seed", 4, "--json")
    assert code in (0, None), err
    coarse = json.loads(out)
    trials = coarse["trials"]
    assert len(trials) == 12 and {t["state"] for t in trials} == {"complete"}
    assert all(t["epochs"] == 1 for t in trials)
    # two processes shared the study: two worker pids recorded in the journal itself
    study = optuna.load_study(study_name="coarse", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    accs = [t["val_acc"] for t in trials]
    assert accs == sorted(accs, reverse=True) and coarse["best"] == trials[0]
    # the best lr: learning is lr-limited at 1 epoch, so the largest lr wins; its log position
    best_lr = coarse["best"]["params"]["optim.lr"]
    assert best_lr == max(t["params"]["optim.lr"] for t in trials)
    assert (math.log10(best_lr) + 6) / 3 > 0.9
    assert coarse["warnings"] == [f"optim.lr: best {best_lr:.3g} is at the upper edge of [1e-06, 0.001]; widen high"]
    assert (tmp_path / "runs" / "search" / "coarse" / "optim_lr.png").stat().st_size > 1000

    # the fine stage needs no SPEC: the coarse study stored its base spec
    assert study.user_attrs["spec"] == load_spec(spec).to_dict()
    code, out, err = run_main(monkeypatch, capsys, "search", "--refine", "coarse", "--trials", 6,
                              "--workers", 2, "--storage", journal, "--seed", 4, "--json")
    assert code in (0, None), err
    fine = json.loads(out)
    assert fine["study"] == "coarse-fine" and len(fine["trials"]) >= 6
    lo, hi = fine["space"]["optim.lr"]["low"], fine["space"]["optim.lr"]["high"]
    # top 5 coarse lrs, margin 0.3 decades, clipped at 1e-3
    top5 = sorted((t["params"]["optim.lr"] for t in trials[:5]))
    assert lo == pytest.approx(10 ** (math.log10(top5[0]) - 0.3)) and hi == pytest.approx(1e-3)
    assert math.log10(hi / lo) < 3 - 1  # more than a decade narrower
    assert all(lo <= t["params"]["optim.lr"] <= hi for t in fine["trials"])
    stored = optuna.load_study(study_name="coarse-fine", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    assert stored.user_attrs["space"] == fine["space"] and stored.user_attrs["refined_from"] == "coarse"


def test_killed_worker_loses_no_trial(files, tmp_path, monkeypatch, capsys):
    spec, space, journal = files
    args = [*BABYSIT, "search", spec, "--space", space, "--trials", 4, "--workers", 1, "--storage", journal,
            "--study", "killed", "--out", tmp_path / "plots", "--quiet", "--set", "train.batch_size=32"]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    p = subprocess.Popen([*map(str, args), "--epochs", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                trials = optuna.load_study(study_name="killed", storage=storage).trials
            except KeyError:
                continue
            # the running trial has said whose it is (a worker killed before its first line leaves a
            # trial that is nobody's: failed only after --stale-after)
            if any(t.state.name == "COMPLETE" for t in trials) and any(
                    t.state.name == "RUNNING" and "worker" in t.user_attrs for t in trials):
                break
        else:
            pytest.fail(f"no trial completed in time: {p.stderr.read().decode()[-2000:] if p.poll() is not None else ''}")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    before = optuna.load_study(study_name="killed", storage=storage).trials
    done = {t.number: t.params for t in before if t.state.name == "COMPLETE"}
    running = [t.number for t in before if t.state.name == "RUNNING"]
    assert done and len(running) == 1
    # restart (1 epoch per trial now, to be quick): the dead worker's trial fails, the study goes on to 4
    code, out, err = run_main(monkeypatch, capsys, *args[len(BABYSIT):], "--epochs", 1, "--json")
    assert code in (0, None), err
    after = {t["number"]: t for t in json.loads(out)["trials"]}
    assert json.loads(out)["stale_failed"] == running
    assert after[running[0]]["state"] == "fail"
    assert all(after[n]["state"] == "complete" and after[n]["params"] == params for n, params in done.items())
    assert len(after) == 4 and sum(t["state"] == "complete" for t in after.values()) == 3


def test_a_coarse_search_needs_a_spec(files, tmp_path, monkeypatch, capsys):
    _, space, journal = files
    code, out, err = run_main(monkeypatch, capsys, "search", "--space", space, "--storage", journal)
    assert code == 2 and "give a SPEC for a coarse search" in err and "Traceback" not in err
    code, out, err = run_main(monkeypatch, capsys, "search", "--refine", "nothing", "--storage", journal)
    assert code == 2 and "--refine nothing: no such study" in err
    assert not journal.exists() or "nothing" not in journal.read_text()

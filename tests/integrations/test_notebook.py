"""Real notebooks (built with nbformat) executed by nbclient in a real IPython kernel: the
``%%babysit`` magic, ``with babysitter.watch()``, a loaded run, and the progress lines, asserted on the
HTML and text the cells produce."""

import math
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SRC = str(Path(__file__).resolve().parents[2] / "src")

SETUP = """\
import torch, numpy as np
from torch import nn
from sklearn.datasets import load_digits
torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
X = (X - X.mean(0)) / (X.std(0) + 1e-8)
X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
BATCHES = [(X[i:i + 64], y[i:i + 64]) for i in range(0, 1280, 64)]
def train(epochs, zero_grad=True):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(epochs):
        for xb, yb in BATCHES:
            if zero_grad:
                opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    return model
"""


def execute(cells: list[str], tmp_path) -> list:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for cell in nb.cells:   # a bad option is the one cell expected to fail
        if cell.source.startswith("%%babysit --every zero"):
            cell.metadata["tags"] = ["raises-exception"]
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "OMP_NUM_THREADS")}
    os.environ["PYTHONPATH"] = os.pathsep.join([SRC, saved["PYTHONPATH"] or ""])   # the kernel imports this checkout
    os.environ["OMP_NUM_THREADS"] = "1"
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name=NATIVE_KERNEL_NAME,
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb.cells


def html_of(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs
                   if o.output_type in ("display_data", "execute_result"))


def stream(cell, name: str) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == name)


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb")
    return execute([
        SETUP,
        "%load_ext babysitter",
        "%%babysit --budget 10 --as faulty\ntrain(4, zero_grad=False)",          # the planted fault
        "%%babysit --budget 10\ntrain(4)",                                       # healthy
        "import babysitter\nwith babysitter.watch(budget=10) as doctor:\n    train(4)",
        "print(repr(doctor)); print(repr(faulty.report))\nfaulty.report",
        "%%babysit --every zero\n1",
        f"run = babysitter.fit({{'data': {{'source': 'digits', 'subset': 600}}, 'model': {{'kind': 'mlp', "
        f"'hidden': [32]}}, 'train': {{'epochs': 2}}, 'doctor': {{'enabled': False}}}}, {str(tmp / 'run')!r})\n"
        f"babysitter.load({str(tmp / 'run')!r})",
    ], tmp)


def test_babysit_magic_names_the_planted_fault(cells):
    html = html_of(cells[2])
    assert 'data-finding="grad_not_zeroed"' in html
    assert "NOT healthy" in html and 'data-healthy="false"' in html
    steps = 4 * math.ceil(1280 / 64)                       # the loop's own count of optimizer steps
    assert f"({steps} steps)" in html
    assert html.count("data:image/png;base64,") == 2       # the loss curve and the instruments, embedded
    assert "http" not in html.split("data:image")[0]       # nothing fetched


def test_healthy_cell_says_healthy(cells):
    for cell in (cells[3], cells[4]):                      # the magic, and `with babysitter.watch()`
        html = html_of(cell)
        assert 'data-healthy="true"' in html and "data-finding=" not in html, html[:3000]
        assert "data:image/png;base64," in html


def test_compact_repr(cells):
    out = stream(cells[5], "stdout").splitlines()
    assert out[0] == "<babysitter watch: healthy: no findings; 80 steps>"
    assert out[1].startswith("Report(NOT healthy: grad_not_zeroed") and out[1].endswith("; 80 steps)")
    assert len(out[1]) < 200
    html = html_of(cells[5])                               # the report itself displays as the findings table
    assert 'data-finding="grad_not_zeroed"' in html and "data:image" not in html


def test_bad_magic_option_is_one_line(cells):
    errors = [o for o in cells[6].outputs if o.output_type == "stream" and o.name == "stderr"]
    text = "".join(o.text for o in errors)
    assert "UsageError: %%babysit: --every takes a number, got 'zero'" in text
    assert len(text.strip().splitlines()) == 1


def test_loaded_run_and_progress_without_widgets(cells):
    cell = cells[7]
    err = stream(cell, "stderr")
    assert "ipywidgets" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1/2", "2/2"]
    html = html_of(cell)
    assert "Predictor(" in html and "test_acc" in html and "curves.png" in html

"""report.html: `babysit run` on the default writes a self-contained page that renders in Chromium."""

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from babysitter.doctor.spec_run import diagnose
from babysitter.report.html import write_report
from babysitter.train.history import History
from babysitter.train.run import train
from tests.conftest import run_main

PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _embedded(page: str) -> list[bytes]:
    return [base64.b64decode(b64, validate=True) for b64 in PNG.findall(page)]


def _screenshot(page, tmp_path) -> np.ndarray:
    """Render ``page`` in headless Chromium; the screenshot as an (H, W, 3) uint8 array."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (`make chromium` installs Debian's)")
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1280,2000", page.resolve().as_uri()],
                   capture_output=True, timeout=60)
    assert shot.is_file(), "chromium wrote no screenshot"
    return np.asarray(Image.open(shot).convert("RGB"))


def test_run_on_the_default_writes_a_report_that_renders(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    # the built-in default spec (mnist1d CNN, full doctor check), shortened: 2 epochs on 600 examples
    code, stdout, _ = run_main(monkeypatch, capsys, "run", "--out", out, "--json",
                               "--set", "train.epochs=2", "--set", "data.subset=600")
    assert code == 0
    result = json.loads(stdout)
    page = out / "report.html"
    assert result["report"] == str(page)
    html = page.read_text()

    # self-contained: no script, no stylesheet link, nothing fetched from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html
    # the embedded images are the run's PNGs, byte for byte, and PIL reads them
    images = _embedded(html)
    assert len(images) >= 2
    assert images[0] == (out / "curves.png").read_bytes() and images[1] == (out / "instruments.png").read_bytes()
    for png in images:
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.size[0] > 500
    # the diagnosis: every finding id of diagnosis.json, and the verdict
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    section = html.split("<h2>Diagnosis</h2>")[1].split("<h2>")[0]
    assert all(f["id"] in section for f in diagnosis["findings"])
    assert ("NOT healthy" in section) == (not diagnosis["healthy"])
    # final metrics and the check's probes, as the files hold them
    final = json.loads((out / "final.json").read_text())
    probes = json.loads((out / "check.json").read_text())["probes"]
    for value in (final["test_acc"], final["test_loss"], probes["init_loss"], probes["lr_range"]["suggested"],
                  probes["gradcheck_max_rel_error"]):
        assert f">{value:.4g}<" in html
    assert f"ln C = {probes['expected_init_loss']:.4g}" in html
    for row in History.read(out / "metrics.jsonl"):
        assert f">{row['val_loss']:.4g}<" in html and f">{row['lr']:.4g}<" in html
    assert "<b>missing</b>" not in html  # a full `babysit run` dir lacks nothing

    # `babysit report DIR` rewrites it (derived output) and counts what it holds
    code, stdout, _ = run_main(monkeypatch, capsys, "report", out, "--json")
    assert code == 0 and json.loads(stdout) == {"report": str(page), "figures": 2,
                                                "findings": len(diagnosis["findings"])}

    # Chromium draws it: many colours (the plots) and a good part of the page not white
    # (measured 0.27 of a 1280x2000 screenshot of this report)
    pixels = _screenshot(page, tmp_path)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
    assert (pixels.min(axis=2) < 250).mean() > 0.08


def _killed_run(tmp_path, name="tiny"):
    """A `babysit train`-style run dir (no doctor, no check) whose final.json is gone, as if killed."""
    out = tmp_path / "run"
    train({"name": name, "data": {"source": "digits"}, "model": {"kind": "mlp", "hidden": [16]},
           "train": {"epochs": 2}}, out, progress=False)
    (out / "final.json").unlink()
    return out


def test_a_partial_run_dir_gets_a_report_that_says_what_is_missing(tmp_path):
    out = _killed_run(tmp_path)
    html = write_report(out).read_text()
    missing = html.split("<b>missing</b>")[1].split("</div>")[0]
    for name in ("final.json", "diagnosis.json", "check.json", "doctor.json"):
        assert f"no {name}" in missing
    assert "spec.yaml" not in missing and "metrics.jsonl" not in missing
    # the curves are drawn for the report; there is nothing for the instruments plot
    images = _embedded(html)
    assert images == [(out / "curves.png").read_bytes()] and not (out / "instruments.png").exists()
    # the diagnosis is made now, the way `babysit diagnose` makes it, and not written
    assert not (out / "diagnosis.json").exists()
    section = html.split("<h2>Diagnosis</h2>")[1].split("<h2>")[0]
    assert all(f["id"] in section for f in diagnose(out)["findings"])


def test_strings_from_the_run_dir_are_escaped(tmp_path):
    out = _killed_run(tmp_path, name="<script>alert(1)</script>")
    html = write_report(out).read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.split("</h1>")[0]


def test_a_dir_that_is_not_a_run_dir_is_bad_input(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("not a run")
    code, stdout, err = run_main(monkeypatch, capsys, "report", tmp_path)
    assert code == 2 and stdout == ""
    assert err.startswith("babysit: error:") and "not a run dir" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

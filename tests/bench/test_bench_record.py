"""bench/record.py: every bench's JSON recorded, a missing or failing bench recorded with its
error while the others go on, and only the part of RESULTS.md between the markers regenerated."""

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_record():
    spec = importlib.util.spec_from_file_location("bench_record", ROOT / "bench" / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_record_runs_benches_keeps_prose_and_records_failures(tmp_path, monkeypatch):
    record = load_record()
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "good.py").write_text('import json, sys\nassert sys.argv[1:] == ["--n", "3", "--json"]\n'
                                   'print(json.dumps({"ratio": 1.004, "nested": [{"name": "m", "speedup": 1.3}]}))\n')
    (bench / "boom.py").write_text('raise SystemExit("boom: no data")\n')
    (bench / "chatty.py").write_text('print("not json")\n')
    monkeypatch.setattr(record, "BENCH", bench)
    (bench / "two.py").write_text('import json, sys\nassert sys.argv[1:] == ["--case", "b", "--json", "--", "--x=1"]\n'
                                  'print(json.dumps({"ratio": 1.02}))\n')
    monkeypatch.setattr(record, "INVOCATIONS", {"good": ["--n", "3"], "two_b": ["--case", "b", "--", "--x=1"]})
    monkeypatch.setattr(record, "SCRIPTS", {"two_b": "two"})   # a second invocation of two.py
    md = tmp_path / "RESULTS.md"
    md.write_text(f"# Results\n\nprose before\n\n{record.BEGIN}\nold table\n{record.END}\n\nprose after\n")
    results = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["record.py", "good", "two_b", "boom", "chatty", "missing",
                                      "--results-md", str(md), "--results-dir", str(results)])
    assert record.main() == 1   # some failed

    good = json.loads((results / "good.json").read_text())
    assert good["result"]["ratio"] == 1.004 and good["returncode"] == 0 and "error" not in good
    assert json.loads((results / "two_b.json").read_text())["result"]["ratio"] == 1.02   # "--json" before "--"
    assert "boom: no data" in json.loads((results / "boom.json").read_text())["error"]
    assert "no JSON" in json.loads((results / "chatty.json").read_text())["error"]
    assert "no bench/missing.py" in json.loads((results / "missing.json").read_text())["error"]

    text = md.read_text()
    assert text.startswith("# Results\n\nprose before\n\n") and text.endswith("\n\nprose after\n")
    assert "old table" not in text
    table = text.split(record.BEGIN)[1].split(record.END)[0]
    assert "ratio 1.004" in table and "m.speedup 1.3" in table
    assert table.count("**failed**") == 3


def test_discover_lists_the_real_benches_not_the_helpers():
    names = load_record().discover()
    assert "overhead" in names and "inference" in names
    assert "record" not in names and "machine" not in names

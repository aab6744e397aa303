"""The finding vocabulary for people: every id has its meaning and remedy, `babysit list --findings`
prints them, and the project's own docs hold them and every spec key (nothing lives only in the
design notes a user never sees)."""

import json
import re
from pathlib import Path

from babysitter.doctor.findings import VOCABULARY
from babysitter.doctor.vocabulary import MEANINGS, markdown

ROOT = Path(__file__).resolve().parents[2]


def test_every_id_has_a_meaning_and_a_remedy():
    assert set(MEANINGS) == set(VOCABULARY)
    for i, (source, meaning, remedy) in MEANINGS.items():
        assert set(source.split("/")) <= {"probe", "instrument", "curve", "code"}, i
        assert len(meaning) > 20 and len(remedy) > 10, i


def test_list_findings_json(monkeypatch, capsys):
    from tests.conftest import run_main

    code, out, err = run_main(monkeypatch, capsys, "list", "--findings", "--json")
    assert code == 0 and err == ""
    rows = json.loads(out)["findings"]
    assert [r["id"] for r in rows] == list(VOCABULARY)
    assert rows[VOCABULARY.index("no_training_seen")]["meaning"] == MEANINGS["no_training_seen"][1]


def test_docs_hold_the_vocabulary_and_every_spec_key():
    assert markdown() in (ROOT / "docs" / "findings.md").read_text()
    spec_doc = (ROOT / "docs" / "spec.md").read_text()
    from babysitter.spec import RunSpec

    def leaves(model, prefix=""):
        for name, field in model.model_fields.items():
            sub = getattr(field.annotation, "model_fields", None)
            yield from leaves(field.annotation, f"{prefix}{name}.") if sub else [f"{prefix}{name}"]

    keys = list(leaves(RunSpec))
    assert len(keys) > 60
    missing = [k for k in keys if not re.search(rf"(^|[\s{{,]){re.escape(k.split('.')[-1])}:", spec_doc, re.M)]
    assert missing == []
    readme = (ROOT / "README.md").read_text()
    assert "DESIGN.md" not in readme and "shared/" not in readme

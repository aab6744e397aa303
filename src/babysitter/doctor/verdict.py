"""The one verdict pipeline: merge -> causes -> (an experiment) -> rank -> remedies -> report.

Every host goes through :func:`verdict`: ``check``, ``diagnose``, ``run`` and ``treat`` with a
:class:`~babysitter.doctor.remedies.SpecHost`, ``babysit watch`` and the Lightning callback with a
:class:`~babysitter.doctor.remedies.ScriptHost`. The same findings with the same facts therefore
rank the same on every host; only the remedy's form (a spec edit or a code change) differs.
"""

from __future__ import annotations

from typing import Callable

from babysitter.doctor import causes, remedies
from babysitter.doctor.findings import SEVERITIES, Finding, rank, report


def merge(findings: list[Finding]) -> list[Finding]:
    """One finding per id: the strongest evidence wins (its layer and facts too; the other's facts
    fill in what it lacks, causes are joined), the other evidence is appended and the most severe
    severity kept."""
    best: dict[str, Finding] = {}
    for f in findings:
        if f.id not in best:
            best[f.id] = f
            continue
        keep, other = (f, best[f.id]) if f.score > best[f.id].score else (best[f.id], f)
        if other.evidence not in keep.evidence:
            keep.evidence = f"{keep.evidence}; {other.evidence}"
        keep.severity = min((keep.severity, other.severity), key=SEVERITIES.index)
        joined = keep.causes + [c for c in other.causes if c not in keep.causes]
        keep.facts = {**other.facts, **keep.facts, **({"causes": joined} if joined else {})}
        best[f.id] = keep
    return list(best.values())


def verdict(findings: list[Finding], host, probes: dict,
            experiment: Callable[[list[Finding]], list[Finding]] | None = None) -> dict:
    """The report ``{"healthy", "findings", "probes"}`` of ``findings`` on ``host``.

    ``experiment(findings) -> findings``: a cheap experiment that settles competing causes
    (``check``'s :func:`~babysitter.doctor.spec_run.settle_lr`), run after the causal rules."""
    found = causes.explain(merge(list(findings)))
    if experiment is not None:
        found = experiment(found)
    ranked = rank(found)
    remedies.attach(ranked, host)
    return report(ranked, probes)

"""What the doctor says: findings with an id from the fixed vocabulary, evidence, facts and advice.

``Finding(id, severity, evidence, advice, layer, score, changes, facts)``: ``evidence`` states the
measured numbers for a person; ``facts`` holds them for the rules (``at_init``, ``non_finite``,
``fraction``, ``batch_size``, ``causes``: the ids of the findings that explain this one, ...);
``advice`` and ``changes`` are written by the remedy table (doctor/remedies.py) from the facts and
the host, never by a reader; ``score`` in [0, 1] is how strongly the evidence points at this cause
(findings are ranked by severity, then score). ``healthy`` is false when any finding is an error or
a warning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from babysitter.files import json_safe  # noqa: F401  (the one NaN -> null cleaner; the doctor imports it here)

VOCABULARY = (
    "data_not_normalized", "init_loss_off", "reg_does_not_raise_loss", "cannot_overfit_tiny",
    "gradient_check_failed", "lr_too_high", "lr_too_low", "loss_not_finite", "vanishing_gradients",
    "exploding_gradients", "dead_relu", "saturated_units", "symmetric_weights", "bad_init_plateau",
    "overfitting", "underfitting", "reg_too_strong", "noisy_loss", "unshuffled_data",
    "class_imbalance",
    # faults of a user's own code (babysit watch, the Lightning callback): advice is the code change
    "grad_not_zeroed", "softmax_before_loss", "eval_mode_training", "labels_look_random",
    "parameters_not_updated", "no_gradient_flow", "missing_activation",
    # the doctor saw no optimizer step and no parameter update: it cannot judge the run
    "no_training_seen",
    # a probe (an experiment on a copy) could not run: the verdict says which and why (info)
    "probe_failed",
)
CODE_FAULTS = ("grad_not_zeroed", "softmax_before_loss", "eval_mode_training", "labels_look_random",
               "parameters_not_updated", "no_gradient_flow", "missing_activation", "no_training_seen")

# Ranking prior: a finding that names a cause outranks one that is its symptom. Tier 0: the data
# or the code is wrong; tier 1: a setting is wrong; tier 2: symptoms the others explain
# (a net that cannot overfit 20 examples, underfits, or whose loss became NaN has a reason above).
TIER = {"data_not_normalized": 0, "gradient_check_failed": 0, "symmetric_weights": 0,
        "reg_does_not_raise_loss": 0, "unshuffled_data": 0, **{k: 0 for k in CODE_FAULTS},
        "underfitting": 2, "cannot_overfit_tiny": 2, "loss_not_finite": 2, "class_imbalance": 2}
SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    id: str
    severity: str
    evidence: str
    advice: str = ""   # written from the chosen remedy (doctor/remedies.py)
    layer: str | None = None
    score: float = 0.5
    changes: dict = field(default_factory=dict)  # the remedy as spec edits {key: [old, new]} (doctor/remedies.py)
    # the structured numbers the rules read (e.g. at_init, non_finite, batch_size); rules never read
    # evidence or advice text. loss_not_finite's facts["origin"] = {module, op, pass, input_nonfinite}
    facts: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.id not in VOCABULARY:
            raise ValueError(f"unknown finding id '{self.id}'; vocabulary: {', '.join(VOCABULARY)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got '{self.severity}'")
        self.score = float(min(max(self.score, 0.0), 1.0))

    def adjust(self, delta: float, evidence: str = "", severity: str | None = None, cause: str | None = None) -> None:
        """Move the score by ``delta`` (kept in [0, 1]), add evidence, optionally change severity;
        ``cause``: the id of a finding that explains this one (``facts["causes"]``: :func:`rank` puts it first)."""
        self.score = float(min(max(self.score + delta, 0.0), 1.0))
        if cause is not None and cause not in self.causes:
            self.facts["causes"] = [*self.causes, cause]
        if evidence:
            self.evidence = f"{self.evidence}; {evidence}"
        if severity is not None:
            self.severity = severity

    @property
    def causes(self) -> list[str]:
        """The ids of the findings that explain this one (its facts, never its wording)."""
        return list(self.facts.get("causes", ()))

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(self.facts.get("origin"), dict):   # where a non-finite value started (DESIGN: `origin`)
            d["origin"] = self.facts["origin"]
        return d


def _cited(f: Finding, ids: set[str]) -> list[str]:
    """The other findings ``f``'s facts name as its cause (``facts["causes"]``)."""
    return [i for i in f.causes if i in ids and i != f.id]


def rank(findings: list[Finding]) -> list[Finding]:
    """Most likely first: warnings and errors before info; then causes before symptoms (TIER);
    then errors before warnings; then by score. Finally a finding whose facts name X among its
    causes comes after X."""
    ordered = sorted(findings, key=lambda f: (f.severity == "info", TIER.get(f.id, 1),
                                              SEVERITIES.index(f.severity), -f.score))
    ids = {f.id for f in ordered}
    for _ in range(len(ordered)):  # move each cited cause just before its first symptom; no cycles expected
        moved = False
        for i, f in enumerate(ordered):
            later = [j for j in range(i + 1, len(ordered)) if ordered[j].id in _cited(f, ids)]
            if later:
                ordered.insert(i, ordered.pop(later[0]))
                moved = True
                break
        if not moved:
            break
    return ordered


def report(findings: list[Finding], probes: dict) -> dict:
    """The doctor's JSON: ``{"healthy", "findings": [...], "probes": {...}}``."""
    ranked = rank(findings)
    healthy = not any(f.severity in ("error", "warning") for f in ranked)
    return {"healthy": healthy, "findings": [f.to_dict() for f in ranked], "probes": probes}

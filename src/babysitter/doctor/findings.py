"""What the doctor says: findings with an id from the fixed vocabulary, evidence and advice.

``Finding(id, severity, layer, evidence, advice, score)``: ``evidence`` states the measured
numbers, ``advice`` says what to change in spec keys ("optim.lr: 0.5 -> 0.05"); ``score`` in
[0, 1] is how strongly the evidence points at this cause (findings are ranked by severity,
then score). ``healthy`` is false when any finding is an error or a warning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

VOCABULARY = (
    "data_not_normalized", "init_loss_off", "reg_does_not_raise_loss", "cannot_overfit_tiny",
    "gradient_check_failed", "lr_too_high", "lr_too_low", "loss_not_finite", "vanishing_gradients",
    "exploding_gradients", "dead_relu", "saturated_units", "symmetric_weights", "bad_init_plateau",
    "overfitting", "underfitting", "reg_too_strong", "noisy_loss", "unshuffled_data",
)
SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    id: str
    severity: str
    evidence: str
    advice: str
    layer: str | None = None
    score: float = 0.5

    def __post_init__(self):
        if self.id not in VOCABULARY:
            raise ValueError(f"unknown finding id '{self.id}'; vocabulary: {', '.join(VOCABULARY)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got '{self.severity}'")
        self.score = float(min(max(self.score, 0.0), 1.0))

    def to_dict(self) -> dict:
        return asdict(self)


def rank(findings: list[Finding]) -> list[Finding]:
    """Most likely first: errors before warnings before info, then by score."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), -f.score))


def report(findings: list[Finding], probes: dict) -> dict:
    """The doctor's JSON: ``{"healthy", "findings": [...], "probes": {...}}``."""
    ranked = rank(findings)
    healthy = not any(f.severity in ("error", "warning") for f in ranked)
    return {"healthy": healthy, "findings": [f.to_dict() for f in ranked], "probes": probes}

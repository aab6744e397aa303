"""Old name of :mod:`babysitter.doctor.spec_run` (check / diagnose / monitors on a spec), kept for imports."""

from babysitter.doctor.spec_run import (  # noqa: F401
    Budget, DoctorLog, check, diagnose, monitor_steps, monitors, read_findings, settle_lr,
)
from babysitter.doctor.verdict import merge  # noqa: F401

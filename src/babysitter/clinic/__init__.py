"""The public clinic, shipped with the package (``babysit clinic`` scores the doctor on it):
``faulty/<expected id>--<what>.yaml``, ``healthy/*.yaml``, ``scripts/<expected id | healthy>--<what>.py``
and :mod:`babysitter.clinic.models` (the faulty user models its python-factory specs name)."""

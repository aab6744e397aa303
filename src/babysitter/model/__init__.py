"""After training: load a run dir (load.py), read inputs (inputs.py), export it (export.py)."""

"""Machine facts recorded with every benchmark result."""

import os
import platform

import torch


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def guarded(main) -> None:
    """Run a bench's ``main`` as the CLI runs a verb: bad input, such as a data set that is not
    installed, is one line on stderr and exit 2, never a traceback."""
    import sys
    from pathlib import Path

    from babysitter.errors import BadInput

    try:
        sys.exit(main())
    except BadInput as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        sys.exit(2)

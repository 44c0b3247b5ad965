"""``python -m epilepsy_suite`` and ``Slicer --python-script Core/epilepsy_suite/__main__.py``."""

import signal
import sys
from pathlib import Path

_interrupted = False


def _interrupt(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupt)  # from the start: Ctrl-C while torch and numpy load
try:
    if __package__ in (None, ""):
        # Run as a script (Slicer --python-script): make the package importable.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from epilepsy_suite.cli import main
    else:
        from .cli import main
except KeyboardInterrupt:
    print("cancelled", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except Exception:
        # A Ctrl-C inside an import can leave a module half-initialised (numpy then raises
        # RecursionError later): still a cancellation, not a crash.
        if not _interrupted:
            raise
        print("cancelled", file=sys.stderr)
        status = 130
    sys.exit(status)

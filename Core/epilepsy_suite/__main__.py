"""``python -m epilepsy_suite`` and ``Slicer --python-script Core/epilepsy_suite/__main__.py``."""

import sys
from pathlib import Path

try:
    if __package__ in (None, ""):
        # Run as a script (Slicer --python-script): make the package importable.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from epilepsy_suite.cli import main
    else:
        from .cli import main
except KeyboardInterrupt:  # Ctrl-C while torch and friends load
    print("cancelled", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``python -m epilepsy_suite`` and ``Slicer --python-script Core/epilepsy_suite/__main__.py``."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (Slicer --python-script): make the package importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from epilepsy_suite.cli import main
else:
    from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

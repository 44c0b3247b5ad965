"""Static checks of the Slicer modules: UI names, CMake listings and import boundaries."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
MODULES = ("FCDSegmentation", "CavitySegmentation", "SemiologyViz", "SeizureVideo")
QT_MODULES = {"qt", "ctk", "PythonQt", "qSlicerBaseQTCorePython"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _ui_names(path: Path) -> set[str]:
    root = ElementTree.parse(path).getroot()
    return {element.get("name") for element in root.iter() if element.tag in ("widget", "layout", "action", "spacer")}


def _ui_attributes_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    used = set()
    for node in ast.walk(tree):
        # self.ui.<name>
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
        ):
            used.add(node.attr)
    return used


@pytest.mark.parametrize("module", MODULES)
def test_module_has_the_slicer_layout(module: str) -> None:
    folder = REPOSITORY / module
    for relative in (
        f"{module}.py",
        f"{module}Lib/__init__.py",
        f"{module}Lib/logic.py",
        f"Resources/UI/{module}.ui",
        f"Resources/Icons/{module}.png",
        "CMakeLists.txt",
    ):
        assert (folder / relative).is_file(), f"{module}/{relative} is missing"
    source = (folder / f"{module}.py").read_text()
    for class_name in (module, f"{module}Widget", f"{module}Test"):
        assert re.search(rf"^class {class_name}\(", source, re.MULTILINE), f"{module}.py lacks class {class_name}"
    assert 'categories = ["Epilepsy"]' in source


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_name_used_by_the_widget_exists(module: str) -> None:
    folder = REPOSITORY / module
    names = _ui_names(folder / "Resources" / "UI" / f"{module}.ui")
    missing = _ui_attributes_used(folder / f"{module}.py") - names
    assert not missing, f"{module}.py uses self.ui.{sorted(missing)} which {module}.ui does not define"


@pytest.mark.parametrize("module", MODULES)
def test_parameter_names_in_ui_are_declared(module: str) -> None:
    folder = REPOSITORY / module
    root = ElementTree.parse(folder / "Resources" / "UI" / f"{module}.ui").getroot()
    bound = {prop.findtext("string") for prop in root.iter("property") if prop.get("name") == "SlicerParameterName"}
    source = (folder / f"{module}.py").read_text()
    wrapper = re.search(r"@parameterNodeWrapper\s+class \w+:\n((?:    .*\n|\n)+)", source)
    assert wrapper, f"{module}.py has no parameterNodeWrapper class"
    declared = set(re.findall(r"^    (\w+)\s*:", wrapper.group(1), re.MULTILINE))
    assert bound <= declared, f"{module}.ui binds undeclared parameters {sorted(bound - declared)}"


@pytest.mark.parametrize("module", MODULES)
def test_cmake_lists_every_script_and_resource(module: str) -> None:
    folder = REPOSITORY / module
    cmake = (folder / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"^\s+([\w./${}-]+\.(?:py|ui|png|svg|json|csv|txt))\s*$", cmake, re.MULTILINE))
    listed = {entry.replace("${MODULE_NAME}", module) for entry in listed}
    files = {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix in {".py", ".ui", ".png", ".svg", ".json", ".csv"}
    }
    assert not files - listed, f"{module}/CMakeLists.txt does not list {sorted(files - listed)}"
    assert not listed - files, f"{module}/CMakeLists.txt lists missing files {sorted(listed - files)}"
    assert "slicerMacroBuildScriptedModule(" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert "slicer_add_python_unittest" in cmake


def test_top_level_cmake_adds_every_module() -> None:
    cmake = (REPOSITORY / "CMakeLists.txt").read_text()
    for required in (
        "project(EpilepsySuite)",
        "EXTENSION_HOMEPAGE",
        'EXTENSION_CATEGORY "Epilepsy"',
        "EXTENSION_CONTRIBUTORS",
        "EXTENSION_DESCRIPTION",
        "EXTENSION_ICONURL",
        "EXTENSION_SCREENSHOTURLS",
        "EXTENSION_DEPENDS",
        "find_package(Slicer REQUIRED)",
        "include(${Slicer_USE_FILE})",
        "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
        "include(${Slicer_EXTENSION_CPACK})",
    ):
        assert required in cmake, f"top-level CMakeLists.txt lacks {required}"
    for module in (*MODULES, "EpilepsySuiteMRML"):
        assert f"add_subdirectory({module})" in cmake


def test_qt_is_imported_only_by_module_entry_files() -> None:
    offenders = []
    for path in REPOSITORY.rglob("*.py"):
        relative = path.relative_to(REPOSITORY)
        if relative.parts[0] in (".venv", "Testing") or "__pycache__" in relative.parts:
            continue
        is_entry = len(relative.parts) == 2 and relative.parts[0] in MODULES and relative.stem == relative.parts[0]
        if not is_entry and _imports(path) & QT_MODULES:
            offenders.append(str(relative))
    assert not offenders, f"Qt imported outside the module entry files: {offenders}"


def test_core_never_imports_slicer_or_vtk() -> None:
    offenders = [
        str(path.relative_to(REPOSITORY))
        for path in (REPOSITORY / "Core").rglob("*.py")
        if _imports(path) & {"slicer", "vtk", "vtkmodules", *QT_MODULES}
    ]
    assert not offenders, f"Core imports Slicer, VTK or Qt: {offenders}"

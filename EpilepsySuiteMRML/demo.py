"""The suite's demo: every module on the embedded default data, in one real MRML scene.

``python -m epilepsy_suite demo`` builds a scene with the MNI template and its
Neuromorphometrics parcellation, runs each module's demo step (``<Module>Lib.demo.run``),
then writes the scene bundle (.mrb), the pictures (PNG) and a summary page (HTML).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk
from epilepsy_suite.data import LabelTable, mni_template, neuromorphometrics_labels, neuromorphometrics_parcellation
from epilepsy_suite.errors import InputError

from .rendering import screenshot_3d, screenshot_slice
from .report import SummaryPage
from .scene import create_scene
from .scene_io import save_scene_bundle
from .segmentations import segmentation_from_labelmap
from .volumes import volume_node_from_sitk

LOG = logging.getLogger("epilepsy_suite.demo")
REPOSITORY = Path(__file__).resolve().parents[1]
MODULE_STEPS = ("SemiologyViz", "FCDSegmentation", "CavitySegmentation", "SeizureVideo")
DEFAULT_SEMIOLOGY_DATABASE = REPOSITORY.parent / "shared" / "data" / "semio2brain"


@dataclass
class DemoContext:
    """What each module's demo step receives (see the module ``<Module>Lib/demo.py``)."""

    scene: object
    out_dir: Path
    device: str
    template: sitk.Image
    template_node: object
    parcellation: sitk.Image
    labels: LabelTable
    page: SummaryPage
    semiology_database: Path | None = None
    quick: bool = False
    models_dir: Path | None = None  # `demo --models DIR`: published weights to use instead of training
    timings: dict[str, float] = field(default_factory=dict)

    def add_section(self, title: str, text: str, images=(), records=None) -> None:
        self.page.add_section(title, text, images, records)

    def screenshot_slice(
        self,
        name: str,
        background_node,
        overlay_node=None,
        segmentation_node=None,
        orientation="axial",
        ras=None,
        **options,
    ) -> Path:
        return screenshot_slice(
            self.scene,
            self.out_dir / f"{name}.png",
            background_node,
            overlay_node,
            segmentation_node,
            orientation,
            ras,
            **options,
        )

    def screenshot_3d(self, name: str, segmentation_node, **options) -> Path:
        return screenshot_3d(self.scene, self.out_dir / f"{name}.png", segmentation_node, **options)


def build_base(
    out_dir: Path, device: str = "auto", semiology_database: Path | None = None, quick: bool = False
) -> DemoContext:
    """The scene with the template volume and the parcellation segmentation, and their pictures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = create_scene()
    template = mni_template()
    template_node = volume_node_from_sitk(scene, template, "MNI152 2009c T1 brain")
    parcellation = neuromorphometrics_parcellation(on_template_grid=True)
    labels = neuromorphometrics_labels()
    page = SummaryPage("EpilepsySuite demo")
    context = DemoContext(
        scene, out_dir, device, template, template_node, parcellation, labels, page, semiology_database, quick
    )
    segmentation = segmentation_from_labelmap(
        scene, parcellation, labels, "Neuromorphometrics parcellation", reference_volume=template_node
    )
    segmentation.GetDisplayNode().SetOpacity2DFill(0.5)
    images = [
        context.screenshot_slice(
            "template_parcellation_axial", template_node, segmentation_node=segmentation, ras=(0.0, 0.0, 10.0)
        ),
        context.screenshot_slice(
            "template_parcellation_coronal",
            template_node,
            segmentation_node=segmentation,
            orientation="coronal",
            ras=(0.0, -10.0, 0.0),
        ),
        context.screenshot_3d("parcellation_3d", segmentation),
    ]
    context.add_section(
        "Embedded default data",
        f"MNI ICBM152 2009c T1 brain template ({'x'.join(map(str, template.GetSize()))}, 1 mm) with the "
        f"Neuromorphometrics parcellation ({segmentation.GetSegmentation().GetNumberOfSegments()} structures) "
        "resampled to it, shown as a segmentation with 3D surfaces.",
        images,
    )
    return context


def run_module_steps(context: DemoContext, modules: tuple[str, ...] = MODULE_STEPS) -> list[str]:
    """Run each module's demo step; return the names of the steps that failed."""
    for module in MODULE_STEPS:
        folder = str(REPOSITORY / module)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    failed = []
    for module in modules:
        try:
            step = importlib.import_module(f"{module}Lib.demo")
        except ModuleNotFoundError:
            LOG.warning("%s has no demo step yet", module)
            continue
        LOG.info("demo step %s", module)
        start = time.perf_counter()
        try:
            step.run(context)
        except Exception as error:  # one failing module must not hide the others' results
            failed.append(module)
            LOG.error("demo step %s failed: %s", module, error)
            context.add_section(f"{module}: failed", "".join(traceback.format_exception_only(error)).strip())
            LOG.debug("%s", traceback.format_exc())
        context.timings[module] = time.perf_counter() - start
    return failed


def main(arguments: argparse.Namespace) -> int:
    start = time.perf_counter()
    out_dir = Path(arguments.out).resolve()
    database = arguments.semiology_database
    if database is None and DEFAULT_SEMIOLOGY_DATABASE.is_dir():
        database = DEFAULT_SEMIOLOGY_DATABASE
    modules = tuple(arguments.only) if arguments.only else MODULE_STEPS
    unknown = sorted(set(modules) - set(MODULE_STEPS))
    if unknown:  # before anything is written
        raise InputError("--only", f"unknown demo step(s) {', '.join(unknown)}; choose from {', '.join(MODULE_STEPS)}")
    context = build_base(out_dir, arguments.device, database)
    context.models_dir = getattr(arguments, "models", None)
    failed = run_module_steps(context, modules)
    scene_path = save_scene_bundle(context.scene, out_dir / "EpilepsySuiteDemo.mrb")
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in context.timings.items())
    context.add_section("Run", f"Total {time.perf_counter() - start:.0f} s. {timing}")
    page_path = context.page.write(out_dir / "index.html")
    pictures = sorted(out_dir.glob("*.png"))
    print(f"Slicer scene bundle: {scene_path}")
    print(f"Summary page:        {page_path}")
    print("Pictures:")
    for picture in pictures:
        print(f"  {picture}")
    if failed:
        print(f"error: demo step(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0

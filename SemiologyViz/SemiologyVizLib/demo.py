"""SemiologyViz demo step: Head Version (right) with a left-dominant hemisphere on the MNI template."""

from __future__ import annotations

import time

from epilepsy_suite.semiology.database import WHERE_TO_GET

from .logic import SemiologyVizLogic

SEMIOLOGIES = ["Head Version:right"]
DOMINANT = "left"


def run(context) -> None:
    if context.semiology_database is None:
        context.add_section(
            "Semiology Visualization",
            "No Semio2Brain database was given, so there is no semiology result. To add one, "
            f"{WHERE_TO_GET} (`python -m epilepsy_suite demo --semiology-database DIR`).",
        )
        return
    start = time.perf_counter()
    logic = SemiologyVizLogic(context.scene, context.semiology_database)
    logic.set_parcellation(reference_node=context.template_node)
    result = logic.update(SEMIOLOGIES, dominant=DOMINANT)
    segmentation = logic.parcellation.segmentation_node
    top = result.records[0]
    images = [
        context.screenshot_slice(
            f"semiology_{orientation}",
            context.template_node,
            segmentation_node=segmentation,
            orientation=orientation,
            ras=result.top_ras,
            title=f"Head Version right, dominant left ({orientation})",
        )
        for orientation in ("axial", "coronal")
    ]
    images.append(context.screenshot_3d("semiology_3d_left", segmentation, view="left"))
    context.add_section(
        "Semiology Visualization",
        f"Semio2Brain query {', '.join(SEMIOLOGIES)} with the {DOMINANT} hemisphere dominant (the published tool's "
        f"GUI defaults): {len(result.records)} structures with data, coloured with viridis, 2D opacity linear in "
        f"the score (minimum 25%), structures without data hidden in 2D and grey in 3D. Top structure: "
        f"{top['name']} (score {top['score']:.4f}). {time.perf_counter() - start:.0f} s.",
        images,
        [{key: record[key] for key in ("name", "hemisphere", "datapoints", "score")} for record in result.records[:10]],
    )

"""Evaluation over subjects and runs, reported as CSV and as a markdown table like Table 1."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..io import atomic_output
from .metrics import SubjectMetrics, subject_metrics
from .postprocess import PostprocessSettings, postprocess_mask

COLUMNS = ("dice", "sensitivity", "precision", "nfpc", "subject_sensitivity")


def evaluate_masks(
    probabilities: Iterable[tuple[str, np.ndarray, np.ndarray]],
    threshold: float = 0.5,
    settings: PostprocessSettings = PostprocessSettings(),
) -> list[dict[str, object]]:
    """Per-subject metrics without and with post-processing.

    ``probabilities`` yields (subject, probability (D, H, W), lesion mask); returns one row per
    subject and setting with the metric values.
    """
    rows = []
    for subject, probability, lesion in probabilities:
        raw = probability >= threshold
        for post, mask in (("no", raw), ("yes", postprocess_mask(raw, settings))):
            metrics: SubjectMetrics = subject_metrics(mask, lesion)
            rows.append({"subject": subject, "postprocessing": post, **metrics.as_dict()})
    return rows


def summary_table(rows_by_run: dict[str, list[dict[str, object]]]) -> list[dict[str, object]]:
    """Mean and std over subjects and runs, per (method, post-processing)."""
    table = []
    for method, rows in rows_by_run.items():
        for post in ("no", "yes"):
            selected = [row for row in rows if row["postprocessing"] == post]
            if not selected:
                continue
            entry: dict[str, object] = {"method": method, "postprocessing": post, "subjects": len(selected)}
            for name, key in (
                ("dice", "dice"),
                ("sensitivity", "sensitivity"),
                ("precision", "precision"),
                ("nfpc", "false_positive_clusters"),
            ):
                values = np.array([float(row[key]) for row in selected])  # type: ignore[arg-type]
                entry[f"{name}_mean"], entry[f"{name}_std"] = float(values.mean()), float(values.std())
            entry["subject_sensitivity"] = float(np.mean([bool(row["detected"]) for row in selected]))
            table.append(entry)
    return table


def write_report(
    table: list[dict[str, object]], rows: list[dict[str, object]], out_prefix: str | os.PathLike[str]
) -> tuple[Path, Path, Path]:
    """Write ``<prefix>_subjects.csv``, ``<prefix>_summary.csv`` and ``<prefix>.md``."""
    prefix = Path(out_prefix)
    subjects_path, summary_path, markdown_path = (
        prefix.with_name(prefix.name + "_subjects.csv"),
        prefix.with_name(prefix.name + "_summary.csv"),
        prefix.with_name(prefix.name + ".md"),
    )
    for path, records in ((subjects_path, rows), (summary_path, table)):
        with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    lines = [
        "| Method | Post-processing | Dice | Sensitivity | Precision | nFPC | Subject sensitivity |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in table:
        cells = [
            f"{entry[f'{name}_mean']:.4f} ± {entry[f'{name}_std']:.4f}" for name in ("dice", "sensitivity", "precision")
        ]
        cells.append(f"{entry['nfpc_mean']:.2f} ± {entry['nfpc_std']:.2f}")
        lines.append(
            f"| {entry['method']} | {entry['postprocessing']} | "
            + " | ".join(cells)
            + f" | {100 * float(entry['subject_sensitivity']):.1f}% |"
        )  # type: ignore[arg-type]
    with atomic_output(markdown_path) as temporary:
        temporary.write_text("\n".join(lines) + "\n")
    return subjects_path, summary_path, markdown_path

"""Probability-over-time curves of a recording: CSV and PNG writers shared by prediction and
cross-validation (written atomically)."""

from __future__ import annotations

import csv
from os import PathLike
from pathlib import Path

import numpy as np

from ..io import atomic_output


def write_probability_csv(times: np.ndarray, probability: np.ndarray, path: str | PathLike[str]) -> Path:
    """Two columns, ``time_s`` and ``probability``, one row per snippet."""
    with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "probability"])
        writer.writerows((f"{t:.3f}", f"{p:.5f}") for t, p in zip(times, probability, strict=True))
    return Path(path)


def plot_probability_png(
    times: np.ndarray, probability: np.ndarray, path: str | PathLike[str], title: str = "",
    generalisation_time: float | None = None, threshold: float = 0.5, label: str = "annotated tG",
) -> Path:  # fmt: skip
    """Probability over time with the threshold and, when given, a vertical line at ``tG``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 2.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.fill_between(times, probability, color="tab:red", alpha=0.25, linewidth=0)
    axes.plot(times, probability, color="tab:red", label="P(generalising)")
    axes.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    if generalisation_time is not None:
        axes.axvline(generalisation_time, color="black", linestyle="--", linewidth=1, label=label)
        axes.legend(loc="upper left", fontsize=8)
    axes.set(xlabel="time (s)", ylabel="probability", ylim=(0, 1), title=title)
    if len(times):
        axes.set_xlim(min(0.0, float(times[0])), float(times[-1]))
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")
    return Path(path)

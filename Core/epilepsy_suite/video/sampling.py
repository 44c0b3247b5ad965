"""Temporal segment sampling (thesis section 2.2.4.1).

A video's ``N`` snippet positions are split into ``n`` contiguous, non-overlapping segments of
equal length; one position is drawn per segment at ``start + u * length`` with
``u ~ Beta(gamma, gamma)``. ``gamma = 1`` is uniform within the segment, larger values
concentrate around its centre and ``gamma = inf`` always takes the centre (evaluation).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError


class SegmentSampler:
    """Draws one snippet index per segment.

    Args:
        segments: number of segments ``n``.
        gamma: dispersion of the symmetric Beta distribution (> 0, ``math.inf`` for the centre).
        seed: seed or generator for reproducible draws.
    """

    def __init__(self, segments: int, gamma: float = 2.0, seed: int | np.random.Generator | None = None) -> None:
        if not isinstance(segments, int) or segments < 1:
            raise InputError("segment sampler", f"the number of segments must be a positive integer, not {segments!r}")
        if not gamma > 0:
            raise InputError("segment sampler", f"gamma must be positive (or inf), not {gamma!r}")
        self.segments = segments
        self.gamma = float(gamma)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def boundaries(self, positions: int) -> np.ndarray:
        """Segment edges, ``(segments + 1,)`` from 0 to ``positions``: segment ``i`` holds the
        positions ``edges[i] <= p < edges[i + 1]``. Integers when every segment gets at least one
        position; with fewer positions than segments the edges are fractional."""
        if positions < 1:
            raise InputError("segment sampler", "the video has no snippet to sample")
        edges = np.linspace(0.0, float(positions), self.segments + 1)
        return np.round(edges) if positions >= self.segments else edges

    def relative_positions(self) -> np.ndarray:
        """Draws of ``u`` in [0, 1], one per segment."""
        if math.isinf(self.gamma):
            return np.full(self.segments, 0.5)
        return self.rng.beta(self.gamma, self.gamma, size=self.segments)

    def __call__(self, positions: int) -> np.ndarray:
        """Indices in ``[0, positions)``, one per segment, non-decreasing. ``(segments,)`` int64.

        With fewer positions than segments, neighbouring segments can share a position.
        """
        edges = self.boundaries(positions)
        lengths = np.diff(edges)
        chosen = np.floor(edges[:-1] + self.relative_positions() * lengths).astype(np.int64)
        return np.clip(chosen, 0, positions - 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(segments={self.segments}, gamma={self.gamma})"

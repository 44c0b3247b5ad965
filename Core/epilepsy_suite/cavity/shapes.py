"""Cavity shapes: a simplex-noise-perturbed icosphere, and its voxelisation.

The perturbed icosphere is star-shaped around its centre: each vertex is moved along its own
direction, so the cone of directions of every face is the one of the unperturbed icosphere.
A point ``q`` (in the unit frame, before rotation and scaling) is inside the mesh when ``|q|``
is at most the distance to the face hit by the ray through ``q``; the face of each direction
comes from a lookup table on a (polar, azimuth) grid computed once per frequency.
"""

from __future__ import annotations

import functools

import numpy as np
from noise import snoise3


@functools.cache
def icosphere(frequency: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Unit geodesic sphere from an icosahedron whose faces are subdivided ``frequency`` times.

    Returns (vertices (V, 3) float64 with norm 1, faces (F, 3) int). Frequency 4 gives 2562
    vertices and 5120 faces.
    """
    if frequency < 0:
        raise ValueError("frequency must be >= 0")
    golden = (1 + 5**0.5) / 2
    vertices = [
        (-1, golden, 0), (1, golden, 0), (-1, -golden, 0), (1, -golden, 0),
        (0, -1, golden), (0, 1, golden), (0, -1, -golden), (0, 1, -golden),
        (golden, 0, -1), (golden, 0, 1), (-golden, 0, -1), (-golden, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
        (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
        (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    points = [np.asarray(vertex, float) / np.linalg.norm(vertex) for vertex in vertices]
    for _ in range(frequency):
        midpoints: dict[tuple[int, int], int] = {}

        def midpoint(a: int, b: int, midpoints: dict[tuple[int, int], int] = midpoints) -> int:
            key = (min(a, b), max(a, b))
            if key not in midpoints:
                middle = points[a] + points[b]
                points.append(middle / np.linalg.norm(middle))
                midpoints[key] = len(points) - 1
            return midpoints[key]

        subdivided = []
        for a, b, c in faces:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            subdivided += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = subdivided
    return np.array(points), np.array(faces, dtype=np.int64)


def _directions(polar: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=-1)


@functools.cache
def face_lookup(frequency: int = 4, resolution: int = 180) -> np.ndarray:
    """Face index of the icosphere hit by the direction at each cell centre of a
    (resolution, 2 * resolution) grid of (polar angle, azimuth)."""
    from scipy.spatial import cKDTree

    vertices, faces = icosphere(frequency)
    polar = (np.arange(resolution) + 0.5) * np.pi / resolution
    azimuth = (np.arange(2 * resolution) + 0.5) * np.pi / resolution
    directions = _directions(*np.meshgrid(polar, azimuth, indexing="ij")).reshape(-1, 3)
    # The face hit by a direction is incident to the vertex nearest to it: test those (<= 6).
    incident = [[] for _ in range(len(vertices))]
    for index, face in enumerate(faces):
        for vertex in face:
            incident[vertex].append(index)
    width = max(len(entry) for entry in incident)
    incident_faces = np.array([entry + entry[:1] * (width - len(entry)) for entry in incident])
    nearest = cKDTree(vertices).query(directions)[1]
    candidates = incident_faces[nearest]  # (N, width)
    a, b, c = (vertices[faces[candidates, index]] for index in range(3))  # (N, width, 3)
    # A direction lies in a face's cone when it is on the inner side of its three edge planes.
    sides = np.stack(
        [np.einsum("nwd,nd->nw", np.cross(p, q), directions) for p, q in ((a, b), (b, c), (c, a))], axis=-1
    ).min(axis=-1)
    return candidates[np.arange(len(directions)), sides.argmax(axis=1)].reshape(resolution, 2 * resolution)


def simplex_displacement(
    vertices: np.ndarray, offset: np.ndarray, scale: float = 3.0, octaves: int = 4, persistence: float = 0.5
) -> np.ndarray:
    """Simplex noise (in [-1, 1]) at ``(vertex + offset) / scale`` for every vertex (eq. 4.6)."""
    points = (np.asarray(vertices) + np.asarray(offset)) / scale
    return np.array([snoise3(x, y, z, octaves=octaves, persistence=persistence) for x, y, z in points])


def star_radius(
    directions: np.ndarray, vertices: np.ndarray, faces: np.ndarray, frequency: int, resolution: int = 180
) -> np.ndarray:
    """Distance from the centre to the (perturbed) mesh along each unit direction (N, 3)."""
    polar = np.arccos(np.clip(directions[:, 2], -1.0, 1.0))
    azimuth = np.mod(np.arctan2(directions[:, 1], directions[:, 0]), 2 * np.pi)
    row = np.minimum((polar / np.pi * resolution).astype(np.int64), resolution - 1)
    column = np.minimum((azimuth / np.pi * resolution).astype(np.int64), 2 * resolution - 1)
    face = face_lookup(frequency, resolution)[row, column]
    a, b, c = (vertices[faces[face, index]] for index in range(3))
    normal = np.cross(b - a, c - a)
    # Ray t * u meets the plane of the face where t = (n . a) / (n . u).
    return np.einsum("nd,nd->n", normal, a) / np.einsum("nd,nd->n", normal, directions)


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """R_x(a) R_y(b) R_z(c) for angles (a, b, c) in radians."""
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


def semiaxes(volume_mm3: float, ratio: float) -> np.ndarray:
    """Semi-axes (r, lambda r, r / lambda) of an ellipsoid of ``volume_mm3``: r = (3 v / (4 pi))^(1/3)."""
    radius = (3 * volume_mm3 / (4 * np.pi)) ** (1 / 3)
    return np.array([radius, ratio * radius, radius / ratio])

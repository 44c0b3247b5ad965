"""Seizure semiology -> brain structure likelihood from the Semio2Brain literature database.

``load_database`` reads the user's database folder (cached on disk by checksum), ``SemiologyEngine``
runs the published Semiology Visualisation Tool's query method on it (METHOD.md of the data folder),
``maps`` puts the scores on a GIF or Neuromorphometrics parcellation.
"""

from .database import Semio2BrainDatabase, load_database, resolve_folder
from .query import (
    NoDataError,
    QueryOptions,
    QueryTrace,
    SemiologyEngine,
    SemiologyQuery,
    SemiologyScores,
    TermResult,
)
from .terms import Side, TermDictionary, TermRule

__all__ = [
    "NoDataError",
    "QueryOptions",
    "QueryTrace",
    "Semio2BrainDatabase",
    "SemiologyEngine",
    "SemiologyQuery",
    "SemiologyScores",
    "Side",
    "TermDictionary",
    "TermResult",
    "TermRule",
    "load_database",
    "resolve_folder",
]

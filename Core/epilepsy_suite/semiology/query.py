"""Semiology -> GIF label scores: the published tool's method (METHOD.md), vectorised and cached.

One :class:`SemiologyQuery` (term + symptom side) gives a :class:`TermResult` (raw datapoints per GIF
label, section 3 of METHOD.md); :meth:`SemiologyEngine.scores` combines several into a
:class:`SemiologyScores` (pooled datapoints and a 0-1 score for all reachable labels, section 4).
With the default :class:`QueryOptions` the numbers are those of the tool's Slicer GUI.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_output
from .database import Semio2BrainDatabase, default_cache_dir, load_database
from .terms import EMPTY_TERM, POSTICTAL_PATTERNS, Side, rows_matching

LOG = logging.getLogger(__name__)

LOBAR_REGIONS = (
    "TL",
    "FL",
    "CING",
    "PL",
    "OL",
    "INSULA",
    "Hypothalamus",
    "Sub-Callosal Cortex",
    "Cerebellum",
    "Perisylvian",
    "FT",
    "TO",
    "TP",
    "FTP",
    "TPO Junction",
    "PO",
    "FP",
)
# "TERM:SIDE": the last ':' not written '\\:' followed by one word (or nothing) is the side separator.
_SIDE_SUFFIX = re.compile(r"(?P<term>.*)(?<!\\):\s*(?P<side>[^\W\d_]*)\s*", re.DOTALL)
SEIZURE_FREEDOM, CONCORDANCE, SEEG = 0, 1, 2
CORTICAL_STIMULATION, SPONTANEOUS, TOPOLOGY = 0, 1, 2


class NoDataError(InputError):
    """The query matched no row with lateralising or localising data."""


@dataclass(frozen=True)
class QueryOptions:
    """Row filters and region handling (defaults = the published tool's effective GUI defaults).

    Publication approaches (a row must pass all of its own flags): ``spontaneous_semiology`` (SS),
    ``epilepsy_topology`` (ET), ``cortical_stimulation`` (CS). Ground truths (a row stays if one of the
    ticked ones remains): ``seizure_freedom``, ``concordance``, ``seeg`` (an exact ``y`` counts as sEEG;
    ES values always stay). Age: ``only_paediatric`` (< 7 years), ``paediatric_and_adult``, or adults
    when both are off. ``granular`` reverses the region hierarchy; ``top_level_lobes`` keeps only
    lobes and mixed regions; ``normalise_to_localising`` rescales each row's regions to its Localising.
    """

    spontaneous_semiology: bool = True
    epilepsy_topology: bool = False
    cortical_stimulation: bool = False
    seizure_freedom: bool = True
    concordance: bool = True
    seeg: bool = True
    only_paediatric: bool = False
    paediatric_and_adult: bool = True
    granular: bool = True
    top_level_lobes: bool = False
    normalise_to_localising: bool = True

    def key(self) -> tuple:
        return dataclasses.astuple(self)

    @classmethod
    def from_choices(cls, age: str = "all", regions: str = "granular", normalise: bool = True, **studies: bool):
        """Options as the command line and the panels offer them: ``age`` (all, adult, paediatric),
        ``regions`` (granular, lobar, raw; raw never normalises), ``normalise`` to Localising, and
        the study/ground-truth flags by field name.

        Raises:
            InputError: an unknown age or regions choice.
        """
        if age not in AGE_CHOICES:
            raise InputError("age", f"unknown choice {age!r}; choose one of {', '.join(AGE_CHOICES)}")
        if regions not in REGION_CHOICES:
            raise InputError("regions", f"unknown choice {regions!r}; choose one of {', '.join(REGION_CHOICES)}")
        return cls(
            **studies,
            only_paediatric=age == "paediatric",
            paediatric_and_adult=age == "all",
            granular=regions == "granular",
            top_level_lobes=regions == "lobar",
            normalise_to_localising=normalise and regions != "raw",
        )


AGE_CHOICES = ("all", "adult", "paediatric")
REGION_CHOICES = ("granular", "lobar", "raw")


@dataclass(frozen=True)
class SemiologyQuery:
    """One observed semiology: a pre-defined term (or free text) and the side of the symptom.

    ``typed`` is the user's text (e.g. ``"head version :left"``), quoted by error messages; it takes no
    part in equality, so the same term and side typed differently is the same query. The engine
    matches ``term`` to the listed names regardless of case and spacing (:meth:`SemiologyEngine.resolve`).
    """

    term: str
    side: Side = Side.NONE
    typed: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.term, str):
            raise InputError("semiology", f"the term must be text, not {self.term!r}")
        if not self.term.strip():
            raise InputError(self.source, EMPTY_TERM)
        object.__setattr__(self, "side", Side.parse(self.side, self.source))

    @property
    def source(self) -> str:
        """``semiology '<text as typed>'``: how messages name this query."""
        return f"semiology {(self.term if self.typed is None else self.typed)!r}"

    @classmethod
    def parse(cls, text: str) -> SemiologyQuery:
        """``"Head Version:right"`` -> term ``Head Version``, side right (no side = none).

        A last ``:`` followed by one word (or nothing) separates the side, which must be left, right or
        none (also l, r, other, unknown, neutral); free text that needs such a colon writes it ``\\:``.

        Raises:
            InputError: an unknown side or an empty term, quoting ``text`` as typed.
        """
        if not isinstance(text, str):
            raise InputError("semiology", f"the term must be text, not {text!r}")
        match = _SIDE_SUFFIX.fullmatch(text)
        if match is None:
            return cls(text, Side.NONE, typed=text)
        try:
            side = Side.parse(match["side"])
        except InputError:
            raise InputError(
                f"semiology {text!r}",
                f"unknown side {match['side']!r}; use left, right or none, e.g. 'Head Version:left'",
            ) from None
        return cls(match["term"], side, typed=text)


@dataclass
class TermResult:
    """Raw datapoints of one query: ``labels`` (K,) GIF labels with ``datapoints`` (K,) > 0."""

    query: SemiologyQuery
    labels: np.ndarray
    datapoints: np.ndarray
    matched_rows: np.ndarray  # Excel rows of sheet Main that matched (after de-duplication)

    @property
    def total(self) -> float:
        return float(self.datapoints.sum())


@dataclass
class QueryTrace:
    """The working of one query. ``M`` matched rows, ``P`` region columns present among them,
    ``J`` GIF labels those regions reach.

    Attributes:
        pool_rows: Excel rows left by the filters (section 3.2); ``matched_rows`` (M,) after matching
            and de-duplication (3.3).
        region_names: the P present region columns; ``entered``, ``reversed``, ``normalised`` (M, P)
            their cells as entered, after hierarchy reversal (3.4) and after normalisation (3.5), NaN =
            empty; ``totals`` (P,) the column sums (3.6).
        labels, label_values: (J,) GIF labels and the sum of their regions' totals (3.6).
        right, left: lateralising datapoints per hemisphere (3.7); ``lateralised`` (J,) the label values
            after lateralisation; ``result`` the labels with a positive value (3.8).
    """

    query: SemiologyQuery
    dominant: Side
    pool_rows: np.ndarray
    matched_rows: np.ndarray
    region_names: list[str]
    entered: np.ndarray
    reversed: np.ndarray
    normalised: np.ndarray
    totals: np.ndarray
    labels: np.ndarray
    label_values: np.ndarray
    right: float
    left: float
    lateralised: np.ndarray
    result: TermResult


@dataclass
class SemiologyScores:
    """Combined result over all reachable GIF labels (L,), sorted by label number.

    ``datapoints``: pooled raw datapoints (sum over the queries); ``scores``: in [0, 1], summing to 1.
    """

    queries: tuple[SemiologyQuery, ...]
    dominant: Side
    labels: np.ndarray
    datapoints: np.ndarray
    scores: np.ndarray
    hemispheres: list[str]
    names: list[str]
    terms: list[TermResult]
    free_text: tuple[SemiologyQuery, ...] = ()  # queries whose term is no listed term, searched as text

    def as_dict(self) -> dict[int, float]:
        return {int(label): float(score) for label, score in zip(self.labels, self.scores, strict=True)}

    def records(self, only_positive: bool = True) -> list[dict]:
        """Rows ``label, name, hemisphere, datapoints, score`` sorted by score (highest first)."""
        order = np.lexsort((self.labels, -self.scores))
        return [
            {
                "label": int(self.labels[index]),
                "name": self.names[index],
                "hemisphere": str(self.hemispheres[index]),
                "datapoints": float(self.datapoints[index]),
                "score": float(self.scores[index]),
            }
            for index in order
            if not only_positive or self.scores[index] > 0
        ]


class SemiologyEngine:
    """Runs queries on a loaded database; every result is cached in memory and on disk.

    Args:
        database: a :class:`Semio2BrainDatabase` or the folder to load it from.
        cache_dir: folder of the on-disk caches (default ``$EPILEPSY_SUITE_CACHE`` or ~/.cache).
        disk_cache: keep query results on disk (key: query + options + database checksum).
    """

    def __init__(
        self,
        database: Semio2BrainDatabase | str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        disk_cache: bool = True,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        if not isinstance(database, Semio2BrainDatabase):
            database = load_database(database, self.cache_dir)
        self.database = database
        self.disk_cache = disk_cache
        self._memory: dict[tuple, TermResult | NoDataError] = {}
        self._term_masks: dict[str, np.ndarray] = {}
        self._pools: dict[tuple, np.ndarray] = {}
        db = database
        self._sides = np.array([db.label_sides[int(label)] for label in db.labels])
        self._label_index = {int(label): index for index, label in enumerate(db.labels)}
        self._region_to_labels = np.zeros((len(db.region_names), len(db.labels)))
        for region_index, name in enumerate(db.region_names):
            for label in db.region_labels[name]:
                self._region_to_labels[region_index, self._label_index[label]] = 1.0
        self._column = {name: index for index, name in enumerate(db.region_names)}
        self._lobar = np.array([name in LOBAR_REGIONS for name in db.region_names])

    # ------------------------------------------------------------------------------------ caches

    @property
    def query_cache_dir(self) -> Path:
        return self.cache_dir / f"queries-{self.database.checksum[:32]}"

    def clear_cache(self) -> None:
        """Forget every cached query result, in memory and on disk."""
        self._memory.clear()
        shutil.rmtree(self.query_cache_dir, ignore_errors=True)

    def _disk_path(self, key: tuple) -> Path:
        text = json.dumps([str(part) for part in key] + [self.database.checksum])
        return self.query_cache_dir / f"{hashlib.sha256(text.encode()).hexdigest()[:40]}.pickle"

    # ------------------------------------------------------------------------------------ terms

    def resolve(self, query: SemiologyQuery) -> tuple[SemiologyQuery, bool]:
        """``(query with its term as listed, True)`` or ``(query with checked free text, False)``.

        The term is matched to the listed names regardless of case and spacing (``"head version "`` ->
        ``"Head Version"``); any other text is free text, a case-insensitive regular expression.

        Raises:
            InputError: free text that is empty, not a valid expression or matches empty text (it would
                match every row), quoting the term as typed.
        """
        terms = self.database.terms
        typed = query.term if query.typed is None else query.typed
        listed = terms.listed_name(query.term, query.source)
        if listed is not None:
            return dataclasses.replace(query, term=listed, typed=typed), True
        pattern = terms.free_text_pattern(query.term, query.source)
        return dataclasses.replace(query, term=pattern, typed=typed), False

    def _resolve_noting_free_text(self, query: SemiologyQuery) -> tuple[SemiologyQuery, bool]:
        resolved, listed = self.resolve(query)
        if not listed:
            suggestions = [term for term, _ in self.database.terms.suggest(resolved.term, 3)]
            hint = f"; listed terms like it: {', '.join(suggestions)}" if suggestions else ""
            LOG.warning(
                "%s: not a listed term, queried as free text (a case-insensitive regular expression on the "
                "literature's reported semiologies)%s",
                query.source,
                hint,
            )
        return resolved, listed

    # ------------------------------------------------------------------------------------ rows

    def term_mask(self, term: str) -> np.ndarray:
        """(R,) bool: rows whose reported semiology or category matches the term (section 3.3)."""
        mask = self.database.term_masks.get(term) if term in self.database.terms else None
        if mask is None:
            if term not in self._term_masks:
                db = self.database
                self._term_masks[term] = rows_matching(db.terms.patterns_of(term), (db.reported, db.category), term)
            mask = self._term_masks[term]
        return mask

    def _postictal_mask(self) -> np.ndarray:
        db = self.database
        if db.postictal_rows is None:
            db.postictal_rows = rows_matching(POSTICTAL_PATTERNS, (db.reported, db.category), "postictal")
        return db.postictal_rows

    def _first_of_duplicates(self, rows: np.ndarray, ground_truth: np.ndarray) -> np.ndarray:
        """The rows (sorted indices) left after collapsing rows identical in every column."""
        if len(rows) == 0:
            return rows
        codes = ground_truth[rows].astype(np.int64)
        keys = np.column_stack([self.database.row_groups[rows], codes])
        _, first = np.unique(keys, axis=0, return_index=True)
        return rows[np.sort(first)]

    def _pool(self, options: QueryOptions, postictal: bool) -> tuple[np.ndarray, np.ndarray]:
        """(R,) bool pool of rows and (R, 3) ground-truth codes after the filters of section 3.2."""
        cache_key = (options.key(), postictal)
        if cache_key in self._pools:
            return self._pools[cache_key]
        db = self.database
        ground_truth = db.ground_truth_codes.copy()
        pool = np.ones(db.number_of_rows, dtype=bool)
        postictal_rows = self._postictal_mask()

        def postictal_removed(current: np.ndarray) -> np.ndarray:
            removed = np.zeros_like(current)
            removed[self._first_of_duplicates(np.flatnonzero(current & postictal_rows), ground_truth)] = True
            return removed

        found = postictal_removed(pool)
        pool = found if postictal else pool & ~found
        if options.only_paediatric:
            pool &= db.paediatric_yes
        elif not options.paediatric_and_adult:
            pool &= ~db.paediatric_yes
        if not options.concordance:
            # The original re-runs the postictal exclusion here for every term, which empties
            # postictal-only queries; only the non-postictal pool gets it (its leaked duplicates go).
            if not postictal:
                pool &= ~postictal_removed(pool)
            ground_truth[:, CONCORDANCE] = 0
        if not options.seizure_freedom:
            ground_truth[:, SEIZURE_FREEDOM] = 0
        if not options.epilepsy_topology:
            pool &= ~db.approach_flags[:, TOPOLOGY]
        if not options.seeg:
            seeg_values = db.ground_truth_values[SEEG]
            exact_y = [code for code, value in enumerate(seeg_values) if value == "y"]
            ground_truth[np.isin(ground_truth[:, SEEG], exact_y), SEEG] = 0
        if not options.cortical_stimulation:
            pool &= ~db.approach_flags[:, CORTICAL_STIMULATION]
        if not options.spontaneous_semiology:
            pool &= ~db.approach_flags[:, SPONTANEOUS]
        if not (options.concordance and options.seizure_freedom and options.seeg):
            pool &= ground_truth.any(axis=1)
        self._pools[cache_key] = (pool, ground_truth)
        return pool, ground_truth

    # ------------------------------------------------------------------------------------ one term

    def query(
        self, query: SemiologyQuery, dominant: Side = Side.NONE, options: QueryOptions | None = None
    ) -> TermResult:
        """Raw datapoints per GIF label of one semiology (METHOD.md section 3).

        The term is matched to the listed ones regardless of case and spacing; other text is free text
        (logged as a warning).

        Raises:
            InputError: the side is not allowed for the term, or a custom text is not a valid pattern.
            NoDataError: no matched row has lateralising/localising data or any region value.
        """
        query, _ = self._resolve_noting_free_text(query)
        return self._query(query, dominant, options)

    def _query(self, query: SemiologyQuery, dominant: Side | str, options: QueryOptions | None) -> TermResult:
        """:meth:`query` of a resolved query."""
        options = options or QueryOptions()
        dominant = Side.parse(dominant, "dominant hemisphere")
        self.database.terms.check(query.term, query.side, query.source)
        key = (query.term, query.side.value, dominant.value, options.key())
        if key not in self._memory and self.disk_cache:
            path = self._disk_path(key)
            if path.is_file():
                try:
                    with open(path, "rb") as stream:
                        self._memory[key] = pickle.load(stream)
                except Exception:  # a damaged cache entry is recomputed
                    LOG.debug("recomputing damaged cache entry %s", path)
        if key not in self._memory:
            try:
                self._memory[key] = self._compute(query, dominant, options)
            except NoDataError as error:
                self._memory[key] = error
            if self.disk_cache:
                try:
                    path = self._disk_path(key)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
                        pickle.dump(self._memory[key], stream, protocol=pickle.HIGHEST_PROTOCOL)
                except OSError as error:
                    LOG.warning("could not cache a semiology query (%s)", error)
        result = self._memory[key]
        if isinstance(result, NoDataError):
            raise NoDataError(query.source, result.problem)
        return result

    def trace(
        self, query: SemiologyQuery, dominant: Side | str = Side.NONE, options: QueryOptions | None = None
    ) -> QueryTrace:
        """Every intermediate of one query (METHOD.md sections 3.2-3.8), uncached: the method's working.

        Raises the same errors as :meth:`query`.
        """
        query, _ = self._resolve_noting_free_text(query)
        return self._trace(query, dominant, options)

    def _trace(self, query: SemiologyQuery, dominant: Side | str, options: QueryOptions | None) -> QueryTrace:
        """:meth:`trace` of a resolved query."""
        options = options or QueryOptions()
        dominant = Side.parse(dominant, "dominant hemisphere")
        self.database.terms.check(query.term, query.side, query.source)
        db = self.database
        postictal = db.terms.rule(query.term).postictal
        pool, ground_truth = self._pool(options, postictal)
        rows = self._first_of_duplicates(np.flatnonzero(pool & self.term_mask(query.term)), ground_truth)
        source = query.source
        no_data = f"no data: no matching literature row has lateralising or localising values (side {query.side})"
        if len(rows) == 0:
            raise NoDataError(source, no_data)
        counts = {name: values[rows] for name, values in db.counts.items()}
        if np.nansum(counts["Localising"]) + np.nansum(counts["Lateralising"]) == 0:
            raise NoDataError(source, no_data)
        regions = db.regions[rows].copy()
        present = ~np.all(np.isnan(regions), axis=0)
        if not present.any():
            raise NoDataError(source, "no data: the matching literature rows name no brain region")
        entered = regions.copy()
        if options.granular:
            self._reverse_hierarchy(regions)
        elif options.top_level_lobes:
            present &= self._lobar
            regions[:, ~self._lobar] = np.nan
        reversed_regions = regions.copy()
        if (options.granular or options.top_level_lobes) and options.normalise_to_localising:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = counts["Localising"] / np.nansum(regions, axis=1)
                regions = regions * ratio[:, None]
            regions[~np.isfinite(regions)] = np.nan
        totals = np.where(present, np.nansum(regions, axis=0), 0.0)
        label_values = totals[present] @ self._region_to_labels[present]
        reached = self._region_to_labels[present].any(axis=0)
        right, left = self._hemisphere_counts(counts, query.side, dominant)
        lateralised = self._lateralise(label_values, counts, query.side, dominant)
        positive = lateralised > 0
        return QueryTrace(
            query=query,
            dominant=dominant,
            pool_rows=db.excel_rows[pool],
            matched_rows=db.excel_rows[rows],
            region_names=[name for name, kept in zip(db.region_names, present, strict=True) if kept],
            entered=entered[:, present],
            reversed=reversed_regions[:, present],
            normalised=regions[:, present],
            totals=totals[present],
            labels=db.labels[reached],
            label_values=label_values[reached],
            right=right,
            left=left,
            lateralised=lateralised[reached],
            result=TermResult(query, db.labels[positive], lateralised[positive], db.excel_rows[rows]),
        )

    def _compute(self, query: SemiologyQuery, dominant: Side, options: QueryOptions) -> TermResult:
        return self._trace(query, dominant, options).result

    def _reverse_hierarchy(self, regions: np.ndarray) -> None:
        """In place: parent := max(parent - sum of its direct children, 0), entries in file order."""
        for parent, children in self.database.hierarchy:
            if parent not in self._column:
                continue
            columns = [self._column[child] for child in children if child in self._column]
            subtracted = np.nansum(regions[:, columns], axis=1) if columns else np.zeros(len(regions))
            current = regions[:, self._column[parent]]
            regions[:, self._column[parent]] = np.where(subtracted > current, 0.0, current - subtracted)

    @staticmethod
    def _hemisphere_counts(counts: dict, side: Side, dominant: Side) -> tuple[float, float]:
        """(right, left) lateralising datapoints from IL/CL with the symptom side and DomH/NonDomH."""
        ipsilateral, contralateral = np.nansum(counts["IL"]), np.nansum(counts["CL"])
        dominant_count, non_dominant_count = np.nansum(counts["DomH"]), np.nansum(counts["NonDomH"])
        right = left = 0.0
        if side == Side.RIGHT:
            right, left = right + ipsilateral, left + contralateral
        elif side == Side.LEFT:
            right, left = right + contralateral, left + ipsilateral
        if dominant == Side.RIGHT:
            right, left = right + dominant_count, left + non_dominant_count
        elif dominant == Side.LEFT:
            right, left = right + non_dominant_count, left + dominant_count
        return float(right), float(left)

    def _lateralise(self, values: np.ndarray, counts: dict, side: Side, dominant: Side) -> np.ndarray:
        right, left = self._hemisphere_counts(counts, side, dominant)
        if np.nansum(counts["Lateralising"]) <= 0 or right + left == 0 or right == left:
            return values / 2
        lower_ratio = min(right, left) / (right + left)
        lower_side = "right" if right < left else "left"
        factors = np.where(self._sides == lower_side, lower_ratio, 1 - lower_ratio)
        factors[self._sides == "midline"] = 1.0
        return values * factors

    # ------------------------------------------------------------------------------------ several terms

    def scores(
        self,
        queries: list[SemiologyQuery] | tuple[SemiologyQuery, ...],
        dominant: Side | str = Side.NONE,
        options: QueryOptions | None = None,
    ) -> SemiologyScores:
        """Combine several semiologies into one 0-1 score per label (METHOD.md section 4).

        The same term with the same side given twice (in any case or spacing) counts once. Free text is
        logged as a warning and listed in ``free_text`` of the result. Raises :class:`NoDataError` when
        no query has data; queries without data are skipped otherwise (see ``terms`` of the result).
        """
        dominant = Side.parse(dominant, "dominant hemisphere")
        resolved = [self._resolve_noting_free_text(query) for query in queries]
        unique = tuple(dict.fromkeys(query for query, _ in resolved))
        free_text = tuple(dict.fromkeys(query for query, listed in resolved if not listed))
        if not unique:
            raise InputError("semiology", "select at least one semiology")
        results, failures = [], []
        for query in unique:
            try:
                results.append(self._query(query, dominant, options))
            except NoDataError as error:
                failures.append(error)
        if not results:
            raise failures[0] if len(failures) == 1 else NoDataError("semiology", "no data for any selected semiology")
        db = self.database
        pooled = np.zeros(len(db.labels))
        total = 0.0
        for result in results:
            indices = [self._label_index[int(label)] for label in result.labels]
            pooled[indices] += result.datapoints
            total += result.total
        combined = pooled / total
        scores = combined / combined.sum()
        return SemiologyScores(
            queries=unique,
            dominant=dominant,
            labels=db.labels.copy(),
            datapoints=pooled,
            scores=scores,
            hemispheres=[str(side) for side in self._sides],
            names=[db.label_name(label) for label in db.labels],
            terms=results,
            free_text=free_text,
        )

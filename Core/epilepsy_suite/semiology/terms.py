"""Pre-defined semiology terms, their laterality rules, and free-text suggestions.

All of it is data of the database folder: ``semiology_dictionary.yaml`` (nested groups whose leaves
are lists of regular expressions) and the four ``semiologies_*.txt`` lists that say which sides a term
takes and which terms are postictal.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.text import read_text

# The term files of the Semio2Brain folder (the database module lists the rest).
DICTIONARY_NAME = "semiology_dictionary.yaml"
LATERALITY_NAMES = (
    "semiologies_neutral_only.txt",
    "semiologies_neutral_also.txt",
    "semiologies_postictalsonly_neutral_only.txt",
    "semiologies_postictalsonly_neutral_also.txt",
)

POSTICTAL_PATTERNS = ("post-ictal", "postictal", "post ictal", "post_ictal")
MIN_SUGGESTION_CHARACTERS = 3
EMPTY_TERM = "empty term: it would match every literature row; give a listed term or free text"
# Patterns that change meaning inside an alternation: inline flags, numbered or named back-references.
_STANDALONE = re.compile(r"\(\?[aiLmsux-]+\)|\\[1-9]|\(\?P=")


class Side(enum.StrEnum):
    """Side of a symptom, or the dominant hemisphere; ``NONE`` = not lateralised / unknown."""

    LEFT = "left"
    RIGHT = "right"
    NONE = "none"

    @classmethod
    def parse(cls, value: str | Side | None, what: str = "side") -> Side:
        if isinstance(value, Side):
            return value
        text = (value or "none").strip().lower()
        aliases = {"l": "left", "r": "right", "other": "none", "unknown": "none", "neutral": "none", "": "none"}
        text = aliases.get(text, text)
        try:
            return cls(text)
        except ValueError:
            raise InputError(what, f"{value!r} is not left, right or none") from None


@dataclass(frozen=True)
class TermRule:
    """What a pre-defined term allows: its sides and whether it queries postictal rows only."""

    sides: tuple[Side, ...]
    postictal: bool

    @property
    def lateralisable(self) -> bool:
        return len(self.sides) > 1


def name_key(name: str) -> str:
    """A term name compared regardless of case and spacing: ``"head  version "`` -> ``"headversion"``."""
    return "".join(name.split()).casefold()


def compile_patterns(patterns: list[str] | tuple[str, ...], source: str) -> list[re.Pattern]:
    """Case-insensitive compiled patterns, or an :class:`InputError` naming the bad one."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile("(?i)" + pattern))
        except re.error as error:
            raise InputError(source, f"invalid regular expression {pattern!r} ({error})") from None
    return compiled


def rows_matching(patterns: list[str] | tuple[str, ...], columns, source: str) -> np.ndarray:
    """(R,) bool: rows where any pattern is found (case-insensitive search) in any of the text columns.

    ``columns`` are sequences of R texts (``None`` never matches). Each distinct text is searched once,
    with the patterns joined into one alternation (same result as searching them one by one) unless
    a pattern needs to stand alone (inline global flags, back-references).
    """
    compiled = compile_patterns(patterns, source)
    searchers = compiled
    if compiled and not any(_STANDALONE.search(pattern) for pattern in patterns):
        try:
            searchers = [re.compile("(?i)" + "|".join(f"(?:{pattern})" for pattern in patterns))]
        except re.error:
            searchers = compiled
    columns = [list(column) for column in columns]
    rows = len(columns[0]) if columns else 0
    mask = np.zeros(rows, dtype=bool)
    verdicts: dict[str, bool] = {}
    single = searchers[0].search if len(searchers) == 1 else None
    for column in columns:
        for index, text in enumerate(column):
            if text is None or mask[index]:
                continue
            verdict = verdicts.get(text)
            if verdict is None:
                if single is not None:
                    verdict = verdicts[text] = single(text) is not None
                else:
                    verdict = verdicts[text] = any(searcher.search(text) for searcher in searchers)
            mask[index] = verdict
    return mask


@dataclass
class TermDictionary:
    """The terms of ``semiology_dictionary.yaml`` with their patterns and laterality rules.

    ``patterns``: leaf term -> list of regular expressions (as written, without the ``(?i)`` prefix).
    ``groups``: every key of the YAML (groups and leaves) -> the leaf terms under it.
    ``rules``: leaf term -> :class:`TermRule`.
    """

    patterns: dict[str, tuple[str, ...]]
    groups: dict[str, tuple[str, ...]]
    rules: dict[str, TermRule]
    _compiled: dict[str, list[re.Pattern]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return list(self.patterns)

    def __contains__(self, term: object) -> bool:
        return term in self.patterns

    def listed_name(self, text: str, source: str) -> str | None:
        """The pre-defined term that ``text`` names regardless of case and spacing, or ``None`` (free text).

        ``"head version"`` and ``"Head  Version "`` give ``"Head Version"``. Raises an :class:`InputError`
        (from ``source``) when the text names two listed terms that differ only in case or spacing.
        """
        if text in self.patterns:
            return text
        key = name_key(text)
        found = [name for name in self.patterns if name_key(name) == key]
        if len(found) > 1:
            raise InputError(source, f"names several listed terms ({', '.join(map(repr, found))}); type one exactly")
        return found[0] if found else None

    def free_text_pattern(self, text: str, source: str) -> str:
        """Free text (not a listed term) checked as the regular expression it is queried with.

        Surrounding spaces are dropped. Raises an :class:`InputError` (from ``source``) for an invalid
        expression and for one that matches empty text, since it would match every literature row.
        """
        pattern = text.strip()
        if not pattern:
            raise InputError(source, EMPTY_TERM)
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise InputError(
                source, f"free text (not a listed term) is not a valid regular expression pattern ({error})"
            ) from None
        if compiled.search("") is not None:
            raise InputError(
                source,
                f"free text (not a listed term) {pattern!r} matches empty text, so it would match every literature row",
            )
        return pattern

    def rule(self, term: str) -> TermRule:
        """The rule of a pre-defined term, or the custom-term rule (any side, not postictal)."""
        return self.rules.get(term, TermRule((Side.LEFT, Side.RIGHT, Side.NONE), postictal=False))

    def patterns_of(self, term: str) -> tuple[str, ...]:
        """A term's patterns; a custom text is its own single pattern, unescaped (as the original)."""
        return self.patterns.get(term, (term,))

    def compiled(self, term: str) -> list[re.Pattern]:
        """Compiled patterns of a term; a custom text is its own single pattern (as the original)."""
        if term not in self._compiled:
            self._compiled[term] = compile_patterns(self.patterns.get(term, (term,)), f"semiology term {term!r}")
        return self._compiled[term]

    def check(self, term: str, side: Side, source: str | None = None) -> None:
        """Raise an :class:`InputError` (from ``source``, default the term) if ``side`` is not allowed."""
        rule = self.rule(term)
        if side not in rule.sides:
            allowed = ", ".join(value.value for value in rule.sides)
            raise InputError(
                source or f"semiology {term!r}", f"side {side.value!r} is not allowed (allowed: {allowed})"
            )

    @classmethod
    def from_folder(cls, folder: Path) -> TermDictionary:
        import yaml

        path = folder / DICTIONARY_NAME
        try:
            # All scalars as strings, like the original loader (patterns such as "1" stay text).
            loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
            content = yaml.load(read_text(path), Loader=loader)
        except (OSError, yaml.YAMLError) as error:
            raise InputError(path, f"cannot be read as YAML ({error})") from None
        if not isinstance(content, dict) or not content:
            raise InputError(path, "expected nested groups of terms with lists of regular expressions")
        patterns: dict[str, tuple[str, ...]] = {}
        groups: dict[str, tuple[str, ...]] = {}

        def walk(key: str, value) -> tuple[str, ...]:
            if isinstance(value, list):
                if not all(isinstance(item, str) for item in value):
                    raise InputError(path, f"term {key!r}: every pattern must be a string")
                patterns[key] = tuple(value)
                groups[key] = (key,)
            elif isinstance(value, dict):
                groups[key] = tuple(leaf for child, inner in value.items() for leaf in walk(str(child), inner))
            else:
                raise InputError(path, f"key {key!r}: expected a list of patterns or a group, not {value!r}")
            return groups[key]

        for key, value in content.items():
            walk(str(key), value)
        for term, term_patterns in patterns.items():
            compile_patterns(term_patterns, f"{path}: term {term!r}")

        lists = {}
        for name in LATERALITY_NAMES:
            lines = read_text(folder / name).splitlines()
            lists[name] = [line.strip() for line in lines if line.strip()]
        neutral_only, neutral_also, postictal_only, postictal_also = (lists[name] for name in LATERALITY_NAMES)
        rules = {}
        for term in patterns:
            postictal = term in postictal_only or term in postictal_also
            if term in neutral_only or term in postictal_only:
                rules[term] = TermRule((Side.NONE,), postictal)
            elif term in neutral_also or term in postictal_also:
                rules[term] = TermRule((Side.LEFT, Side.RIGHT, Side.NONE), postictal)
            else:
                raise InputError(
                    folder / LATERALITY_NAMES[0], f"term {term!r} is in none of the semiologies_*.txt lists"
                )
        return cls(patterns, groups, rules)

    # ------------------------------------------------------------------------------------ suggestions

    def suggest(self, text: str, limit: int | None = None) -> list[tuple[str, float]]:
        """Pre-defined terms for a user's words, best first, as ``(term, relevance)``.

        A term is suggested (from the third character on) when, case-insensitively, the text is found
        in the name of the term or of a group holding it, such a name is found in the text, one of the
        term's patterns is found in the text, or the text is found in a pattern's source. Relevance is
        the length of the longest such agreement (a whole-name or pattern hit in the user's words weighs
        more than the text being a fragment of a pattern), so "a butterfly feeling" ranks Epigastric
        (pattern ``butterfl``) first.
        """
        text = text or ""
        if len(text.strip()) < MIN_SUGGESTION_CHARACTERS:
            return []
        try:
            as_pattern = re.compile("(?i)" + text)
        except re.error:
            as_pattern = re.compile("(?i)" + re.escape(text))
        relevance: dict[str, float] = {}

        def credit(term: str, value: float) -> None:
            relevance[term] = max(relevance.get(term, 0.0), value)

        for key, leaves in self.groups.items():
            score = 0.0
            if as_pattern.search(key):
                score = len(text) + 0.5
            elif re.search(re.escape(key), text, flags=re.IGNORECASE):
                score = 2.0 * len(key)
            if score:
                # A leaf's own name counts fully, a group's name less (it is less specific).
                for leaf in leaves:
                    credit(leaf, score if leaves == (key,) else 0.5 * score)
        for term, compiled in ((term, self.compiled(term)) for term in self.patterns):
            for pattern, source in zip(compiled, self.patterns[term], strict=True):
                match = pattern.search(text)
                if match:
                    credit(term, 1.5 * max(len(match.group(0)), 1))
                elif as_pattern.search(source):
                    credit(term, 0.5 * len(text))
        ranked = sorted(relevance.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:limit] if limit else ranked

"""Command-line values checked at the door, before any work starts.

A numeric option takes a :class:`Number` as its argparse ``type=``: it parses the text, refuses
NaN, infinity and values outside its range, and describes that range. :class:`CheckedParser`
(the class of every leaf command's parser) writes the description into the option's help, so
help and check cannot disagree, and reports a refused value as one line naming the option
(exit status 2, as argparse does for its own errors). Configuration dataclasses carry the same
objects as field metadata (:func:`ranged`): :func:`epilepsy_suite.options.add_config_options`
turns them into the options' types and :func:`check_fields` refuses a bad configuration built in
code.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .errors import InputError

_CHECK_KEY = "check"
_ORDERED_KEY = "ordered"


def _shown(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclasses.dataclass(frozen=True)
class Number:
    """A whole number (``kind=int``) or a finite number (``kind=float``) in a range.

    ``minimum``/``maximum`` are included, ``above``/``below`` excluded; ``multiple_of`` asks for
    multiples of a whole number. Called with an option's text, returns the value or raises
    ``argparse.ArgumentTypeError`` saying what the option accepts.
    """

    kind: type = int
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    multiple_of: int | None = None

    def describe(self) -> str:
        """The accepted values in words, e.g. ``a whole number from 0 to 15``, ``a number in (0, 1)``."""
        noun = "a whole number" if self.kind is int else "a number"
        if self.multiple_of:
            noun = f"a multiple of {self.multiple_of}"
        low = self.minimum if self.minimum is not None else self.above
        high = self.maximum if self.maximum is not None else self.below
        if low is not None and high is not None:
            if self.above is None and self.below is None and self.kind is int:
                return f"{noun} from {_shown(low)} to {_shown(high)}"
            opening = "[" if self.above is None else "("
            closing = "]" if self.below is None else ")"
            return f"{noun} in {opening}{_shown(low)}, {_shown(high)}{closing}"
        if low is not None:
            return f"{noun} {'>=' if self.above is None else '>'} {_shown(low)}"
        if high is not None:
            return f"{noun} {'<=' if self.below is None else '<'} {_shown(high)}"
        return noun

    def problem(self, value: object) -> str | None:
        """Why ``value`` is refused (``must be ..., not ...``), or None when it is accepted."""
        return f"must be {self.describe()}, not {value}" if self._refuses(value) else None

    def _refuses(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return True
        if self.kind is int and not isinstance(value, numbers.Integral):
            return True
        below_range = (self.minimum is not None and value < self.minimum) or (
            self.above is not None and value <= self.above
        )
        above_range = (self.maximum is not None and value > self.maximum) or (
            self.below is not None and value >= self.below
        )
        return below_range or above_range or bool(self.multiple_of and value % self.multiple_of)

    def __call__(self, text: str) -> Any:
        try:
            value = self.kind(text)
        except ValueError:
            value = None
        if value is None or self._refuses(value):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, not {text if text.strip() else repr(text)}")
        return value


#: Seeds numpy and torch both accept.
SEED = Number(int, minimum=0, maximum=2**32 - 1)
#: Counts of epochs, batches, snippets...
AT_LEAST_ONE = Number(int, minimum=1)
#: Worker processes, test-time augmentations: 0 means none.
AT_LEAST_ZERO = Number(int, minimum=0)
#: A probability threshold: 0 would keep every voxel, 1 none.
THRESHOLD = Number(float, above=0, below=1)
#: Learning rates: above 1 nothing trains.
LEARNING_RATE = Number(float, above=0, maximum=1)
#: Weights of loss terms, weight decay.
NOT_NEGATIVE = Number(float, minimum=0)


@dataclasses.dataclass(frozen=True)
class Text:
    """Text of at least ``minimum_characters`` characters, not counting surrounding spaces."""

    minimum_characters: int

    def describe(self) -> str:
        return f"at least {self.minimum_characters} characters"

    def __call__(self, text: str) -> str:
        if len(text.strip()) < self.minimum_characters:
            raise argparse.ArgumentTypeError(f"type {self.describe()}, not {text!r}")
        return text


def _problem_of(error: ValueError) -> str:
    return error.problem if isinstance(error, InputError) else str(error)


def parsed_by(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type=`` calling ``parse``; the ``ValueError`` it raises becomes the option's error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(_problem_of(error)) from None

    convert.__name__ = name
    return convert


def built_by(build: Callable[..., Any], description: str) -> type[argparse.Action]:
    """An action for an option of several values storing ``build(*values)``; a ``ValueError``
    raised by ``build`` (say, a rectangle that does not fit) becomes the option's error."""

    class Built(argparse.Action):
        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: Any,
            option_string: str | None = None,
        ) -> None:
            try:
                result = build(*values)
            except ValueError as error:
                raise argparse.ArgumentError(self, _problem_of(error)) from None
            setattr(namespace, self.dest, result)

    Built.describe = staticmethod(lambda: description)  # type: ignore[attr-defined]
    return Built


def ordered_pair(low: float, high: float) -> tuple[float, float]:
    """``(low, high)``, refused when ``low`` is above ``high``."""
    if low > high:
        raise ValueError(f"MIN {_shown(low)} is above MAX {_shown(high)}")
    return low, high


#: The action of ``MIN MAX`` options.
OrderedPair = built_by(ordered_pair, "MIN <= MAX")


def video_encoder(name: str) -> str:
    """An argparse ``type=``: a video encoder of PyAV's FFmpeg that writes yuv420p (as the suite does)."""
    import av

    known = name in av.codecs_available
    codec = av.Codec(name, "w") if known else None
    if codec is None or codec.type != "video" or "yuv420p" not in {form.name for form in codec.video_formats or ()}:
        raise argparse.ArgumentTypeError(f"{name!r} is not {video_encoder.describe()}")  # type: ignore[attr-defined]
    return name


video_encoder.describe = lambda: "a yuv420p video encoder of PyAV (libx264, libx265, mpeg4...)"  # type: ignore[attr-defined]


def _description(action: argparse.Action) -> str | None:
    """What the option's type accepts (``each ...`` for several values), then what its action asks of them."""
    describers = (getattr(action.type, "describe", None), getattr(action, "describe", None))
    parts = [describe() if callable(describe) else "" for describe in describers]
    several = action.nargs in ("*", "+") or (isinstance(action.nargs, int) and action.nargs > 1)
    if parts[0] and several:
        parts[0] = f"each {parts[0]}"
    return ", ".join(part for part in parts if part) or None


def state_range(action: argparse.Action) -> None:
    """Write what ``action`` accepts into its help (once), before a trailing ``(default ...)``."""
    description = _description(action)
    text = action.help or ""
    if not description or text == argparse.SUPPRESS or description in text:
        return
    start = text.rfind("(")
    head, tail = (text[:start].rstrip(), " " + text[start:]) if start >= 0 and "default" in text[start:] else (text, "")
    action.help = f"{head}, {description}{tail}" if head else f"{description}{tail}"


class CheckedParser(argparse.ArgumentParser):
    """Parser of a leaf command: its help states each option's range, and a refused value is one
    line (``<command>: error: argument --option: must be ..., not ...``), exit status 2."""

    def format_help(self) -> str:
        for action in self._actions:
            state_range(action)
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def ranged(default: Any, check: Number, ordered: bool = False) -> Any:
    """A dataclass field of ``default`` whose value (each value, for a tuple) must pass ``check``;
    ``ordered``: a two-value ``(MIN, MAX)`` must not have MIN above MAX."""
    return dataclasses.field(default=default, metadata={_CHECK_KEY: check, _ORDERED_KEY: ordered})


def field_check(field: dataclasses.Field) -> tuple[Number | None, bool]:
    """The check and the ordering :func:`ranged` gave ``field`` (None, False without)."""
    return field.metadata.get(_CHECK_KEY), bool(field.metadata.get(_ORDERED_KEY))


def check_fields(config: object, source: str = "training configuration") -> None:
    """Raise InputError naming the first field of the dataclass ``config`` outside its range
    (None is left to the field's own meaning: "none", "the default")."""
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        check, ordered = field_check(field)
        value = getattr(config, field.name)
        if check is None or value is None:
            continue
        values: Sequence[Any] = value if isinstance(value, tuple | list) else (value,)
        for item in values:
            problem = check.problem(item)
            if problem:
                raise InputError(source, f"{field.name} {problem}")
        if ordered and len(values) == 2:
            try:
                ordered_pair(*values)
            except ValueError as error:
                raise InputError(source, f"{field.name}: {error}") from None


def require_best_checkpoint(result: Any) -> Any:
    """The best checkpoint of a training ``result`` (``epilepsy_suite.fitting.TrainingResult``),
    refused when no epoch of the run wrote it (no finite validation loss, say), so that a command
    never names a file that is not there, or one left by another run."""
    if result.best_epoch < 0 or not result.best_checkpoint.is_file():
        raise InputError(
            result.best_checkpoint,
            "not written: no epoch reached a finite validation loss (see log.csv next to it)",
        )
    return result.best_checkpoint

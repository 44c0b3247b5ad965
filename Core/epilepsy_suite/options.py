"""Command-line options backed by a configuration dataclass, so each default has one source.

``add_config_options(parser, FCDTrainingConfig(), {"max_epochs": "--epochs", ...})`` adds one
option per field with the field's value in ``defaults`` as its default (and in its help), and
records which fields the parser fills; :func:`config_from_arguments` builds the configuration back
from the parsed arguments. A field declared with :func:`epilepsy_suite.validation.ranged` gets its
range check as the option's type (and a ``MIN MAX`` pair its ordering), and the range in its help.
Each subcommand gets its own option objects: argparse shares the
actions of a ``parents=`` parser between its children, so a ``set_defaults`` on one subcommand
would silently change another's defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from .validation import OrderedPair, field_check, state_range

Config = TypeVar("Config")

_FIELDS_KEY = "config_fields"


def add_config_options(
    parser: argparse.ArgumentParser,
    defaults: object,
    options: Mapping[str, str | tuple[str, str] | tuple[str, str, dict[str, Any]]],
) -> None:
    """Add ``--flag`` options for fields of the dataclass instance ``defaults``.

    Args:
        options: field name -> its flag, ``(flag, help)`` or ``(flag, help, extra add_argument
            keywords)``. The type (and ``nargs`` for tuples) follows the default value's.
    """
    hints = typing.get_type_hints(type(defaults))
    fields = {field.name: field for field in dataclasses.fields(defaults)}  # type: ignore[arg-type]
    for name, spec in options.items():
        if name not in fields:
            raise ValueError(f"{type(defaults).__name__} has no field {name!r}")
        flag, help_text, extra = (spec, "", {}) if isinstance(spec, str) else (*spec, {})[:3]  # type: ignore[misc]
        value = getattr(defaults, name)
        keywords: dict[str, Any] = {"dest": name, "default": value}
        if isinstance(value, tuple):
            keywords.update(nargs=len(value), type=type(value[0]))
        elif isinstance(value, bool):
            keywords["action"] = argparse.BooleanOptionalAction
        elif value is not None:
            keywords["type"] = type(value)
        else:
            keywords["type"] = next((kind for kind in typing.get_args(hints[name]) if kind in (int, float, str)), str)
        check, ordered = field_check(fields[name])
        if check is not None and not isinstance(value, bool):
            keywords["type"] = check
        if ordered and isinstance(value, tuple) and len(value) == 2:
            keywords["action"] = OrderedPair
        shown = "none" if value is None else " ".join(map(str, value)) if isinstance(value, tuple) else value
        keywords["help"] = f"{help_text} (default {shown})".strip()
        keywords.update(extra)
        state_range(parser.add_argument(flag, **keywords))
    parser.set_defaults(**{_FIELDS_KEY: (*(parser.get_default(_FIELDS_KEY) or ()), *options)})


def config_from_arguments(arguments: argparse.Namespace, defaults: Config, **overrides: object) -> Config:
    """``defaults`` with the fields its options filled taken from ``arguments``, then ``overrides``."""
    filled = {name: getattr(arguments, name) for name in getattr(arguments, _FIELDS_KEY, ())}
    for name, value in filled.items():
        if isinstance(getattr(defaults, name), tuple) and isinstance(value, list):
            filled[name] = tuple(value)
    return dataclasses.replace(defaults, **{**filled, **overrides})  # type: ignore[type-var]

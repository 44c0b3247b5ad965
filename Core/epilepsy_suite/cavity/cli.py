"""Command line of the cavity method (filled by issue 4)."""

from __future__ import annotations

import argparse

from ..errors import InputError


def register(subparsers: argparse._SubParsersAction, name: str, summary: str) -> None:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    parser.set_defaults(handler=_not_yet)


def _not_yet(arguments: argparse.Namespace) -> int:
    raise InputError("cavity", "this command is not available yet (see issue 4)")

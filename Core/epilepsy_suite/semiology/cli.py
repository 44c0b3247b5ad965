"""Command line of the semiology method: ``terms``, ``match``, ``query``, ``map``, ``clear-cache``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..validation import AT_LEAST_ONE, CheckedParser, Text, parsed_by

DATABASE_HELP = (
    "Semio2Brain database folder (xlsx + companion files); remembered for later commands "
    "(default: $EPILEPSY_SUITE_SEMIO2BRAIN or the folder used last time)"
)


def register(subparsers: argparse._SubParsersAction, name: str, summary: str) -> None:
    from ..cli import common_parser

    parser = subparsers.add_parser(name, help=summary, description=summary)
    commands = parser.add_subparsers(
        dest="semiology_command", metavar="<subcommand>", required=True, parser_class=CheckedParser
    )

    def leaf(command: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(command, parents=[common_parser()], help=text, description=text)
        sub.add_argument("--database", type=Path, default=None, help=DATABASE_HELP)
        return sub

    terms = leaf("terms", "list the pre-defined semiology terms with the sides each allows")
    terms.set_defaults(handler=_terms)

    match = leaf("match", "suggest pre-defined terms for free text, best first (e.g. 'butterflies')")
    match.add_argument("text", type=Text(3), help="the user's words")
    match.add_argument("--limit", type=AT_LEAST_ONE, default=10, help="at most this many suggestions (default 10)")
    match.set_defaults(handler=_match)

    query = leaf(
        "query",
        "datapoints and 0-1 score per GIF structure for the observed semiologies, as a table (CSV with --out)",
    )
    _query_arguments(query)
    query.add_argument("--out", type=Path, default=None, help="CSV file: label, name, hemisphere, datapoints, score")
    query.add_argument("--all", action="store_true", help="also list structures with score 0")
    query.set_defaults(handler=_query, outputs={"out": "table"})

    map_ = leaf("map", "write a score volume: each voxel of a parcellation gets the score of its structure")
    _query_arguments(map_)
    map_.add_argument("--parcellation", type=Path, required=True, help="GIF or Neuromorphometrics label image")
    map_.add_argument(
        "--atlas", choices=("auto", "gif", "nmm"), default="auto", help="label numbering of the parcellation"
    )
    map_.add_argument("--out", type=Path, required=True, help="output image (e.g. scores.nii.gz)")
    map_.set_defaults(handler=_map, outputs={"out": "image"})

    clear = leaf("clear-cache", "forget the cached query results of the database")
    clear.set_defaults(handler=_clear_cache)


def _query_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--semiology",
        action="append",
        required=True,
        metavar="TERM[:SIDE]",
        help="an observed semiology and the side of the symptom (left, right or none), e.g. "
        "'Head Version:right'; repeat for several. Listed terms ('semiology terms') match regardless of case "
        "and spacing; other text is queried as free text (a regular expression, with a warning saying so)",
    )
    parser.add_argument(
        "--dominant",
        type=parsed_by(_dominant_side, "side"),
        default="none",
        help="dominant hemisphere: left, right or none/unknown (default none)",
    )
    group = parser.add_argument_group("literature filters (defaults = the published tool's GUI defaults)")
    group.add_argument("--include-et", action="store_true", help="include epilepsy-topology (ET) studies")
    group.add_argument("--include-cs", action="store_true", help="include cortical-stimulation (CS) studies")
    group.add_argument("--exclude-ss", action="store_true", help="exclude spontaneous-semiology (SS) studies")
    group.add_argument("--no-seizure-freedom", action="store_true", help="do not accept post-op seizure freedom")
    group.add_argument("--no-concordance", action="store_true", help="do not accept concordant imaging/EEG")
    group.add_argument("--no-seeg", action="store_true", help="do not accept sEEG (y) as ground truth")
    group.add_argument(
        "--age", choices=("all", "adult", "paediatric"), default="all", help="all, adults only, or <7 years only"
    )
    group.add_argument(
        "--regions",
        choices=("granular", "lobar", "raw"),
        default="granular",
        help="granular (hierarchy reversal), lobar (top-level lobes) or raw as entered",
    )
    group.add_argument("--no-normalise", action="store_true", help="do not normalise regions to Localising")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the query cache")


def _dominant_side(text: str) -> str:
    from .terms import Side

    return Side.parse(text, "dominant hemisphere").value


def _engine(arguments: argparse.Namespace):
    from .database import resolve_folder
    from .query import SemiologyEngine

    return SemiologyEngine(resolve_folder(arguments.database), disk_cache=not getattr(arguments, "no_cache", False))


def _options(arguments: argparse.Namespace):
    from .query import QueryOptions

    return QueryOptions.from_choices(
        arguments.age,
        arguments.regions,
        not arguments.no_normalise,
        spontaneous_semiology=not arguments.exclude_ss,
        epilepsy_topology=arguments.include_et,
        cortical_stimulation=arguments.include_cs,
        seizure_freedom=not arguments.no_seizure_freedom,
        concordance=not arguments.no_concordance,
        seeg=not arguments.no_seeg,
    )


def _scores(arguments: argparse.Namespace):
    from .query import SemiologyQuery

    engine = _engine(arguments)
    queries = [SemiologyQuery.parse(text) for text in arguments.semiology]
    return engine, engine.scores(queries, arguments.dominant, _options(arguments))


def _terms(arguments: argparse.Namespace) -> int:
    engine = _engine(arguments)
    for term in engine.database.terms.names:
        rule = engine.database.terms.rule(term)
        sides = "/".join(side.value for side in rule.sides)
        print(f"{term}\t{sides}{' (postictal)' if rule.postictal else ''}")
    return 0


def _match(arguments: argparse.Namespace) -> int:
    engine = _engine(arguments)
    suggestions = engine.database.terms.suggest(arguments.text, arguments.limit)
    if len(arguments.text.strip()) < 3:
        raise InputError(repr(arguments.text), "type at least 3 characters")
    if not suggestions:
        print(f"no pre-defined term matches {arguments.text!r}; it can still be queried as free text")
    for term, relevance in suggestions:
        print(f"{term}\t{relevance:g}")
    return 0


def _query(arguments: argparse.Namespace) -> int:
    from .maps import write_scores_csv

    _, scores = _scores(arguments)
    if arguments.out:
        write_scores_csv(scores, arguments.out, only_positive=not arguments.all)
        if not arguments.quiet:
            print(f"wrote {arguments.out}")
        return 0
    print("label\tname\themisphere\tdatapoints\tscore")
    for record in scores.records(only_positive=not arguments.all):
        print(
            f"{record['label']}\t{record['name']}\t{record['hemisphere']}\t{record['datapoints']:.6g}\t{record['score']:.6g}"
        )
    return 0


def _map(arguments: argparse.Namespace) -> int:
    import SimpleITK as sitk

    from ..data.labels import check_parcellation
    from ..io import read_label_map, write_image
    from .maps import atlas_labels, detect_atlas, score_image

    parcellation = read_label_map(arguments.parcellation, what="parcellation")
    engine, scores = _scores(arguments)
    atlas = arguments.atlas
    labels = sitk.GetArrayViewFromImage(parcellation)
    if atlas == "auto":
        atlas = detect_atlas(labels, engine.database)
    check_parcellation(
        labels, atlas_labels(atlas, engine.database), arguments.parcellation, f"the {atlas.upper()} table"
    )
    write_image(score_image(scores, parcellation, atlas), arguments.out)
    if not arguments.quiet:
        print(f"wrote {arguments.out} ({atlas} labels)")
    return 0


def _clear_cache(arguments: argparse.Namespace) -> int:
    _engine(arguments).clear_cache()
    if not arguments.quiet:
        print("query cache cleared")
    return 0

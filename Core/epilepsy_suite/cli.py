"""The single command-line entry point: ``python -m epilepsy_suite <command> ...``.

Each method registers its own subcommand from ``epilepsy_suite.<method>.cli.register``; the
``demo`` command runs the whole suite on the embedded data inside a real MRML scene (it needs
the Slicer-side packages of this repository and ``slicer-core``).

The same file runs inside 3D Slicer: ``Slicer --python-script Core/epilepsy_suite/__main__.py ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .device import DEVICE_CHOICES, resolve_device
from .errors import CancelledError, InputError
from .io.atomic import publication
from .io.outputs import Output, check_outputs

#: exit statuses: bad input or an output that could not be written; Ctrl-C; SIGTERM; closed stdout
EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_BROKEN_PIPE = 2, 130, 143, 141

METHOD_COMMANDS = {
    "fcd": "focal cortical dysplasia segmentation (MS-DSA-Net): train, evaluate, predict, postprocess",
    "cavity": "resection cavity segmentation: simulate resections, train, finetune, predict, evaluate",
    "semiology": "seizure semiology -> brain structure likelihood (Semio2Brain): terms, query, map, match",
    "video": "seizure video classification (GESTURES): preprocess, features, train, evaluate, predict",
}
SLICER_MODULES = ("SemiologyViz", "FCDSegmentation", "CavitySegmentation", "SeizureVideo")

Handler = Callable[[argparse.Namespace], int | None]


def common_parser() -> argparse.ArgumentParser:
    """Options every leaf command accepts (use as ``parents=[common_parser()]``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="where torch runs: auto (CUDA when available), cpu or cuda (default: auto)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    return parser


def build_parser() -> argparse.ArgumentParser:
    from .validation import CheckedParser

    parser = CheckedParser(
        prog="epilepsy_suite",
        description="EpilepsySuite: epilepsy surgery research methods, headless.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run '<command> --help' for the options of each command.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, summary in METHOD_COMMANDS.items():
        module = importlib.import_module(f"epilepsy_suite.{name}.cli")
        module.register(subparsers, name, summary)
    demo = subparsers.add_parser(
        "demo",
        parents=[common_parser()],
        help="run every module on the embedded default data; write a Slicer scene (.mrb), PNGs and an HTML page",
        description="Run every module on the embedded MNI template data inside a real MRML scene "
        "(slicer-core), save the scene bundle, screenshots and a summary page.",
    )
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: demo-output)")
    demo.add_argument(
        "--only",
        nargs="+",
        metavar="MODULE",
        help="run only these module steps (e.g. SemiologyViz FCDSegmentation); the scene base always runs",
    )
    demo.add_argument(
        "--semiology-database",
        type=Path,
        default=None,
        help="Semio2Brain folder for the SemiologyViz step (default: ../shared/data/semio2brain if present)",
    )
    demo.add_argument(
        "--models",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of published weights (resseg's self_semi_*.pth) to use instead of the demo's own trained "
        "models; trained models are otherwise kept in OUT/model-cache and reused while code and settings match",
    )
    demo.set_defaults(handler=_run_demo, outputs={"out": "folder"})
    serve = subparsers.add_parser(
        "serve",
        parents=[common_parser()],
        help="the four module panels as a web app (trame-slicer) on http://HOST:PORT",
        description="Serve the four module panels in the browser over one MRML scene (trame-slicer). "
        "Listens on 127.0.0.1 unless --host says otherwise; opens files only under --data.",
    )
    _add_serve_arguments(serve)
    serve.set_defaults(handler=_run_serve)
    return parser


def _slicer_side(name: str):
    repository = Path(__file__).resolve().parents[2]
    for folder in (repository, *(repository / module for module in SLICER_MODULES)):
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise InputError(
            name, f"the Slicer-side packages are not importable ({error}); run from the repository"
        ) from None


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    from .validation import Number

    parser.add_argument("--data", type=Path, default=None, help="folder whose files the page may open (read only)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=Number(int, minimum=0, maximum=65535), default=8080,
                        help="port (default 8080; 0 picks a free one)")  # fmt: skip
    parser.add_argument("--max-upload-mb", type=Number(float, above=0), default=512.0,
                        help="largest upload accepted, MB (default 512)")  # fmt: skip
    parser.add_argument(
        "--semiology-database", type=Path, default=None,
        help="Semio2Brain folder (default: $EPILEPSY_SUITE_SEMIO2BRAIN, the remembered one, or ../shared/data/semio2brain)",
    )  # fmt: skip
    parser.add_argument("--anti-aliasing", type=Number(int, minimum=0, maximum=16), default=0, metavar="SAMPLES",
                        help="multisamples per view (default 0: fastest on CPU servers)")  # fmt: skip
    parser.add_argument("--mesh-decimation", type=Number(float, minimum=0, below=1), default=0.9, metavar="FRACTION",
                        help="fraction of the parcellation meshes' triangles removed (default 0.9; 0 keeps all)")  # fmt: skip


def _run_serve(arguments: argparse.Namespace) -> int:
    return _slicer_side("EpilepsySuiteWeb.app").main(arguments)


def _run_demo(arguments: argparse.Namespace) -> int:
    return _slicer_side("EpilepsySuiteMRML.demo").main(arguments)


def configure_logging(quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the work stops and every temporary file is removed."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def declared_outputs(arguments: argparse.Namespace) -> list[Output]:
    """The outputs a subcommand declared with ``set_defaults(outputs={dest: kind | (kind, label)})``
    that the user gave."""
    outputs = []
    for dest, spec in (getattr(arguments, "outputs", None) or {}).items():
        kind, label = spec if isinstance(spec, tuple) else (spec, "--" + dest.replace("_", "-"))
        value = getattr(arguments, dest, None)
        if value is not None:
            outputs.append(Output(Path(value), kind, label))
    return outputs


def given_paths(arguments: argparse.Namespace) -> list[Path]:
    """Every path among the arguments that is not a declared output: the command's inputs."""
    outputs = getattr(arguments, "outputs", None) or {}
    paths = []
    for dest, value in vars(arguments).items():
        if dest in outputs:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, Path):
                paths.append(item)
    return paths


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _terminate) if hasattr(signal, "SIGTERM") else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see the ``EXIT_*`` constants)."""
    interrupted = []
    previous = signal.getsignal(signal.SIGINT)

    def _interrupt(signum: int, frame: object) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    handles = threading.current_thread() is threading.main_thread()  # signals are the main thread's
    if handles:
        signal.signal(signal.SIGINT, _interrupt)
    try:
        return _run(argv)
    except Exception:
        # Ctrl-C inside a module's import can leave it half-initialised and surface as another
        # error (numpy: RecursionError); after a Ctrl-C it is still a cancellation.
        if not interrupted:
            raise
        print("cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if handles:
            signal.signal(signal.SIGINT, previous)


def _run(argv: Sequence[str] | None) -> int:
    try:
        with _signals():
            return _main(argv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except (CancelledError, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``| head``): say nothing more and stop writing there.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    configure_logging(getattr(arguments, "quiet", False))
    handler: Handler = arguments.handler
    outputs = declared_outputs(arguments)
    check_outputs(outputs, given_paths(arguments))
    if hasattr(arguments, "device"):
        arguments.device = resolve_device(arguments.device)  # once, for every command
    created = [output.path for output in outputs if output.kind == "folder" and not output.path.exists()]
    try:
        with publication([output.path for output in outputs if output.deferred]):
            status = int(handler(arguments) or 0)
            if sys.stdout is not None:  # None when the shell closed it (>&-)
                sys.stdout.flush()
    except BaseException:
        _remove_empty_folders(created)
        raise
    return status


def _remove_empty_folders(folders: list[Path]) -> None:
    """Remove the output folders a failed command created, where it left nothing in them."""
    for folder in folders:
        for root, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
            with contextlib.suppress(OSError):
                os.rmdir(root)  # only empty folders: files written before the failure stay

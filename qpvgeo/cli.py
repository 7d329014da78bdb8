"""Command-line interface: ``qpvgeo <command> ...``.

A thin layer: it parses arguments, calls the public functions of the library, shows progress
and turns :class:`qpvgeo.errors.QpvgeoError` into a one-line French message and exit code 2;
data-quality warnings of the engines are shown in French on standard error.
Each command lives in ``qpvgeo/commands/<name>.py`` and defines ``add_parser(subparsers)`` and
``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TextIO

from qpvgeo import __version__
from qpvgeo.errors import Cancelled, DataQualityWarning, QpvgeoError

_SHOW_WARNING = warnings.showwarning

# command name -> module under qpvgeo.commands (imported lazily: `qpvgeo --help` stays fast)
COMMANDS: dict[str, str] = {
    "portrait": "portrait",
    "init-config": "init_config",
    "thermography": "thermography",
    "overlay": "overlay",
    "interpolate": "interpolate",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available command."""
    parser = argparse.ArgumentParser(
        prog="qpvgeo",
        description="Statistiques spatiales du portrait de territoire des quartiers prioritaires "
        "(QPV) à partir des données ouvertes officielles.",
    )
    parser.add_argument("--version", action="version", version=f"qpvgeo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"qpvgeo.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"qpvgeo.commands.{module_name}":
                continue  # command not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 cancelled, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    module = importlib.import_module(f"qpvgeo.commands.{COMMANDS[args.command]}")
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        return _run(module, args)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """Data-quality warnings in French on standard error; the others as Python shows them."""
    if issubclass(category, DataQualityWarning):
        from qpvgeo._warnings_fr import french_warning

        text = french_warning(f"{category.__name__} : {message}")
        print(f"qpvgeo : {text}", file=file or sys.stderr)
    else:
        _SHOW_WARNING(message, category, filename, lineno, file, line)


def _run(module: ModuleType, args: argparse.Namespace) -> int:
    """Run one command, turning cancellation and typed errors into French exit messages."""
    try:
        return int(module.run(args) or 0)
    except Cancelled:
        print("qpvgeo : opération annulée, rien n'a été écrit.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qpvgeo : interrompu, rien n'a été écrit.", file=sys.stderr)
        return 1
    except QpvgeoError as exc:
        print(f"qpvgeo : erreur — {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

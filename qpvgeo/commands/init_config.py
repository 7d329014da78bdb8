"""``qpvgeo init-config``: write a commented example configuration (French)."""

from __future__ import annotations

import argparse
from typing import Any

from qpvgeo.config import write_config_template


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``init-config`` command."""
    parser = subparsers.add_parser(
        "init-config",
        help="écrire un fichier de configuration commenté pour un territoire",
        description="Écrit un exemple de configuration TOML commenté (fichiers du territoire, "
        "code EPCI, millésimes, options) à compléter puis à passer à 'qpvgeo portrait "
        "--config'.",
    )
    parser.add_argument("path", nargs="?", default="territoire.toml",
                        help="fichier à écrire (défaut : territoire.toml)")
    parser.add_argument("--force", action="store_true", help="remplacer un fichier existant")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the template; return 0."""
    path = write_config_template(args.path, overwrite=args.force)
    print(f"Configuration écrite : {path}")
    print("Complétez les chemins des fichiers puis lancez : "
          f"qpvgeo portrait --config {path} --out sortie/portrait")
    return 0

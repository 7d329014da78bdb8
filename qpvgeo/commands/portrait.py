"""``qpvgeo portrait``: the main job (map, report, charts, exports of a territory)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import webbrowser
from typing import Any

from qpvgeo._progress import ProgressCallback


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``portrait`` command."""
    parser = subparsers.add_parser(
        "portrait",
        help="portrait de territoire des QPV : carte web, rapport, graphiques et exports",
        description="Calcule le portrait de territoire des quartiers prioritaires (QPV) et "
        "écrit la carte web (folium), le rapport HTML, les graphiques, le GeoPackage stylé et "
        "les tableaux (CSV, XLSX). Sans --config, le territoire de démonstration (CALL, "
        "données illustratives) est utilisé.",
    )
    parser.add_argument("--config", metavar="FICHIER.toml",
                        help="configuration du territoire (voir qpvgeo init-config)")
    parser.add_argument("--out", default="output/portrait", metavar="DOSSIER",
                        help="dossier de sortie, remplacé en bloc à la fin "
                        "(défaut : output/portrait)")
    parser.add_argument("--offline", action="store_true",
                        help="carte autonome sans internet (bibliothèques copiées, sans fond "
                        "de carte en ligne)")
    parser.add_argument("--open", action="store_true",
                        help="ouvrir la carte dans le navigateur à la fin")
    return parser


class _Bars:
    """One tqdm bar per step (stderr), closed when the next step starts."""

    def __init__(self) -> None:
        self._ctx: Any = None

    def __call__(self, label: str) -> ProgressCallback | None:
        from qpvgeo._progress import tqdm_progress

        self.close()
        self._ctx = tqdm_progress(label)
        cb: ProgressCallback = self._ctx.__enter__()
        return cb

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None


def run(args: argparse.Namespace) -> int:
    """Run the portrait and print its summary; return 0."""
    from qpvgeo.portrait import run_portrait

    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    bars = _Bars()
    try:
        result = run_portrait(args.config, args.out, offline=args.offline,
                              step_progress=bars)
    finally:
        bars.close()
    total = time.perf_counter() - t0
    out = result.out_dir
    print(f"Portrait écrit dans {out}")
    if result.illustrative:
        print("ATTENTION : données illustratives (fictives) — ne pas utiliser pour décider.")
    main = [f for f in result.files if not f.startswith("assets/")]
    n_assets = len(result.files) - len(main)
    print("Fichiers : " + ", ".join(main)
          + (f" (+ {n_assets} fichiers de bibliothèques dans assets/)" if n_assets else ""))
    print("Durées par étape :")
    for label, sec in result.timings.items():
        print(f"  {label:<40} {sec:6.2f} s")
    print(f"  {'Total':<40} {total:6.2f} s")
    cpu_self = time.process_time() - cpu0
    parallel = sum(v for k, v in result.timings.items()
                   if k in ("Carte web", "Graphiques", "Zones accessibles à pied"))
    load_txt = (f" ; charge de la machine au départ : {load0:.1f} pour {os.cpu_count()} cœurs"
                .replace(".", ",") if load0 is not None else "")
    print(f"  (carte, graphiques et zones à pied dans des processus parallèles : "
          f"{parallel:.1f} s ; calcul de ce processus {cpu_self:.1f} s{load_txt})"
          .replace(".", ","))
    if result.notes:
        print("Sections non calculées :")
        for notes in result.notes.values():
            for n in notes:
                print(f"  - {n}")
    if result.warnings:
        print(f"Avertissements ({len(result.warnings)}) :")
        for w in result.warnings[:20]:
            print(f"  - {w}")
        if len(result.warnings) > 20:
            print(f"  … {len(result.warnings) - 20} autres dans {out / 'resume.json'}")
    if args.open:
        webbrowser.open((out / "carte.html").as_uri())
    sys.stdout.flush()
    return 0

"""``qpvgeo overlay``: IRIS × QPV correspondence table, concerned IRIS, vintage crosswalk.

Two modes:

- ``qpvgeo overlay --iris IRIS --qpv QPV -o correspondance.csv [--concernes iris.csv]``: one
  row per (IRIS, QPV) pair (areas, shares, weights), and optionally the list of IRIS
  "concernés par un QPV" with the rule used;
- ``qpvgeo overlay --ancien QPV2015 --nouveau QPV2024 -o passage.csv``: the crosswalk table
  carrying 2015 figures onto 2024 perimeters (``--niveau iris`` for two IRIS editions).

Outputs are written atomically (a temporary file renamed at the end): CSV (``;``, UTF-8 with
BOM, decimal point) or GeoPackage (``.gpkg``, with the intersection polygons).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo import _validate
from qpvgeo._atomic import written_atomically
from qpvgeo._progress import tqdm_progress
from qpvgeo.errors import SchemaError

WEIGHT_MEASURES = ("nb_logts", "floor_area_m2", "footprint_m2")


def add_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the dasymetric weight options shared by ``overlay`` and ``interpolate``."""
    group = parser.add_argument_group("pondération (optionnelle)")
    excl = group.add_mutually_exclusive_group()
    excl.add_argument("--batiments", metavar="FICHIER",
                      help="bâtiments BD TOPO (BATIMENT.shp ou GeoPackage) : pondération "
                      "dasymétrique par les logements ou la surface de plancher")
    excl.add_argument("--logements", metavar="FICHIER",
                      help="logements RPLS (un point par logement) : pondération par le "
                      "nombre de logements sociaux")
    group.add_argument("--poids", choices=WEIGHT_MEASURES, default="nb_logts",
                       help="mesure tirée des bâtiments : nb_logts (logements, défaut), "
                       "floor_area_m2 (surface de plancher = emprise × étages), footprint_m2 "
                       "(emprise au sol)")


def read_weights(args: argparse.Namespace) -> tuple[gpd.GeoDataFrame | None, str | None]:
    """Read the weight layer named on the command line; return (layer, weight column)."""
    from qpvgeo import io
    from qpvgeo.overlay import building_weights

    if getattr(args, "batiments", None):
        buildings = io.read_buildings(args.batiments)
        return building_weights(buildings, args.poids), args.poids
    if getattr(args, "logements", None):
        return io.read_rpls(args.logements), None
    return None, None


def write_table(table: pd.DataFrame, path: str | Path, *, layer: str = "resultat") -> Path:
    """Write a table atomically as CSV (``;``, UTF-8 BOM) or GeoPackage (``.gpkg``).

    The file is written under a temporary name in the same folder and renamed at the end, so
    an interruption leaves nothing half-written.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in {".csv", ".gpkg"}:
        raise SchemaError(f"{out.name}: format de sortie inconnu ; utilisez .csv ou .gpkg")
    with written_atomically(out) as tmp:
        if suffix == ".csv":
            frame = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
            frame.to_csv(tmp, sep=";", index=False, encoding="utf-8-sig")
        else:
            if not isinstance(table, gpd.GeoDataFrame):
                raise SchemaError(f"{out.name}: ce tableau n'a pas de géométrie ; écrivez un .csv")
            table.to_file(tmp, layer=layer, driver="GPKG")
    return out


def illustrative_note(*frames: Any) -> str:
    """French warning line when an input is illustrative stand-in data."""
    if any(isinstance(f, pd.DataFrame) and _validate.is_illustrative(f) for f in frames):
        return ("Attention : données ILLUSTRATIVES (territoire de démonstration), pas des "
                "données officielles.")
    return ""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``overlay`` command."""
    parser = subparsers.add_parser(
        "overlay",
        help="table de correspondance IRIS × QPV (ou table de passage QPV 2015 → 2024)",
        description="Croise les IRIS et les QPV (surfaces en Lambert-93, parts de l'IRIS et du "
        "QPV, pondération par les logements) et liste les IRIS concernés par un QPV ; ou "
        "construit la table de passage entre deux générations de zonage (QPV 2015 → 2024, "
        "éditions IRIS).",
    )
    parser.add_argument("--iris", metavar="FICHIER", help="contours IRIS (IGN)")
    parser.add_argument("--qpv", metavar="FICHIER", help="périmètres QPV (ANCT)")
    parser.add_argument("--ancien", metavar="FICHIER",
                        help="zonage ancien (ex. QPV 2015) pour une table de passage")
    parser.add_argument("--nouveau", metavar="FICHIER",
                        help="zonage nouveau (ex. QPV 2024) pour une table de passage")
    parser.add_argument("--niveau", choices=("qpv", "iris"), default="qpv",
                        help="nature des zonages --ancien/--nouveau (défaut : qpv)")
    parser.add_argument("-o", "--sortie", required=True, metavar="FICHIER",
                        help="fichier écrit : .csv (séparateur ;) ou .gpkg (avec géométries)")
    parser.add_argument("--concernes", metavar="FICHIER",
                        help="écrire aussi la liste des IRIS avec la colonne concerned (IRIS "
                        "concerné par un QPV) et la règle appliquée (.csv)")
    parser.add_argument("--seuil", type=float, default=None, metavar="PART",
                        help="seuil des éclats (part 0–1 de chaque zone, défaut 0.01) : une "
                        "intersection inférieure à ce seuil pour les deux zones est écartée")
    parser.add_argument("--part-min-en-qpv", type=float, default=0.0, metavar="PART",
                        help="IRIS concernés : part minimale de l'IRIS en QPV (défaut 0)")
    parser.add_argument("--correspondance-anct", metavar="FICHIER",
                        help="table de passage QPV : comparer avec la liste ANCT "
                        "(liste-correspondance-qp2024-qp2015.csv) ; écrit <sortie>_anct.csv")
    parser.add_argument("--allocation-totale", action="store_true",
                        help="table de passage : répartir la totalité de chaque zone ancienne "
                        "entre les zones nouvelles qu'elle touche")
    add_weight_arguments(parser)
    parser.set_defaults(_parser=parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the command; return 0 on success."""
    from qpvgeo import io
    from qpvgeo.overlay import (
        DEFAULT_MIN_SHARE,
        _pct,
        concerned_iris,
        crosswalk,
        iris_qpv_overlap,
    )

    seuil = DEFAULT_MIN_SHARE if args.seuil is None else args.seuil
    crosswalk_mode = bool(args.ancien or args.nouveau)
    if crosswalk_mode and not (args.ancien and args.nouveau):
        raise SchemaError("table de passage : donnez à la fois --ancien et --nouveau")
    if not crosswalk_mode and not (args.iris and args.qpv):
        raise SchemaError("donnez --iris et --qpv (correspondance) ou --ancien et --nouveau "
                          "(table de passage)")
    geometry = Path(args.sortie).suffix.lower() == ".gpkg"
    weights, weight_col = read_weights(args)
    if crosswalk_mode:
        reader = io.read_qpv if args.niveau == "qpv" else io.read_iris
        key = "code_qpv" if args.niveau == "qpv" else "code_iris"
        old, new = reader(args.ancien), reader(args.nouveau)
        with tqdm_progress("Table de passage") as bar:
            table = crosswalk(old, new, old_key=key, new_key=key, weights=weights,
                              weight_col=weight_col, min_share=seuil,
                              allocate_total=args.allocation_totale, progress=bar)
        if geometry:
            raise SchemaError("la table de passage s'écrit en .csv")
        path = write_table(table, args.sortie)
        print(f"Table de passage : {len(table)} couples ({table['old_code'].nunique()} zones "
              f"anciennes → {table['new_code'].nunique()} nouvelles), méthode "
              f"{table['method'].iloc[0] if len(table) else 'area'}.")
        print(f"Écrit : {path}")
        if args.correspondance_anct:
            from qpvgeo.overlay import compare_with_anct

            check = compare_with_anct(table, io.read_qpv_correspondence(args.correspondance_anct))
            cpath = write_table(check, path.with_name(f"{path.stem}_anct.csv"))
            counts = check["agreement"].value_counts()
            print("Comparaison avec la liste ANCT : "
                  + ", ".join(f"{counts.get(k, 0)} {k}" for k in
                              ("les deux", "géométrie seule", "ANCT seule"))
                  + f". Écrit : {cpath}")
        note = illustrative_note(old, new, weights)
    else:
        iris, qpv = io.read_iris(args.iris), io.read_qpv(args.qpv)
        with tqdm_progress("Croisement IRIS × QPV") as bar:
            table = iris_qpv_overlap(iris, qpv, weights=weights, weight_col=weight_col,
                                     min_share=seuil, keep_geometry=geometry, progress=bar)
        path = write_table(table, args.sortie, layer="iris_qpv")
        dropped = table.attrs.get("qpvgeo", {}).get("slivers_dropped", 0)
        print(f"Correspondance IRIS × QPV : {len(table)} couples pour "
              f"{table['code_qpv'].nunique()} QPV et {table['code_iris'].nunique()} IRIS "
              f"({dropped} éclat(s) de moins de {_pct(seuil)} des deux zones écarté(s)).")
        print(f"Écrit : {path}")
        if args.concernes:
            conc = concerned_iris(iris, qpv, min_share=seuil,
                                  min_share_in_qpv=args.part_min_en_qpv, weights=weights,
                                  weight_col=weight_col, keep_all=True)
            cpath = write_table(conc, args.concernes)
            print(f"{int(conc['concerned'].sum())} IRIS concernés par un QPV "
                  f"(règle : {conc['rule'].iloc[0]}). Écrit : {cpath}")
        note = illustrative_note(iris, qpv, weights)
    if note:
        print(note)
    return 0

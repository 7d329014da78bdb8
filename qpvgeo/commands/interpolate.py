r"""``qpvgeo interpolate``: estimate QPV figures from IRIS tables (areal or dasymetric).

Example::

    qpvgeo interpolate --iris CONTOURS-IRIS.shp --qpv QP2024.gpkg \\
        --table base-ic-evol-struct-pop-2020.csv --table base-ic-activite-residents-2020.csv \\
        --comptages P20_POP --taux taux_chomage=P20_CHOM1564/P20_ACT1564 \\
        --non-interpolables DISP_MED20 --table BASE_TD_FILO_DISP_IRIS_2020.csv \\
        --batiments BATIMENT.shp --poids nb_logts -o qpv_estimations.csv

Every output row says how it was obtained (``method``, ``share_estimated``, ``is_estimate``):
these are estimates "à partir des IRIS", never official QPV figures.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from qpvgeo._progress import tqdm_progress
from qpvgeo.commands.overlay import (
    add_weight_arguments,
    illustrative_note,
    read_weights,
    write_table,
)
from qpvgeo.errors import DataQualityWarning, SchemaError

_META = {"insee_com", "secret_vars", "source", "nom_iris", "typ_iris", "LAB_IRIS", "COM",
         "TYP_IRIS"}


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def parse_ratio(text: str) -> tuple[str, tuple[str, str]]:
    """Parse ``name=NUMERATOR/DENOMINATOR`` into ``(name, (num, den))``."""
    name, sep, rest = text.partition("=")
    num, sep2, den = rest.partition("/")
    if not (sep and sep2 and name.strip() and num.strip() and den.strip()):
        raise SchemaError(f"--taux {text!r} : écrivez nom=NUMERATEUR/DENOMINATEUR, par ex. "
                          "taux_chomage=P20_CHOM1564/P20_ACT1564")
    return name.strip(), (num.strip(), den.strip())


def merge_tables(tables: list[pd.DataFrame], key: str = "code_iris") -> pd.DataFrame:
    """Outer-join INSEE tables on the IRIS code; a variable present twice keeps its first copy."""
    merged: pd.DataFrame | None = None
    illustrative = False
    from qpvgeo import _validate

    for table in tables:
        illustrative = illustrative or _validate.is_illustrative(table)
        body = pd.DataFrame(table.drop(columns=[c for c in table.columns
                                                if c in _META and c != key]))
        if merged is None:
            merged = body
            continue
        dup = [c for c in body.columns if c in merged.columns and c != key]
        if dup:
            # the same variable in two bases (e.g. P20_POP5564): silent when the values agree
            left = merged.set_index(key)[dup]
            right = body.set_index(key)[dup].reindex(left.index)
            differ = [c for c in dup if not np.allclose(
                left[c].to_numpy(dtype=float), right[c].to_numpy(dtype=float), rtol=1e-9,
                atol=1e-9, equal_nan=True)]
            if differ:
                warnings.warn(f"variables présentes dans plusieurs tables avec des valeurs "
                              f"différentes, première gardée : {', '.join(differ[:10])}",
                              DataQualityWarning, stacklevel=2)
            body = body.drop(columns=dup)
        merged = merged.merge(body, on=key, how="outer")
    assert merged is not None
    merged = merged.copy()  # one block per dtype after many merges
    if illustrative:
        merged["source"] = _validate.ILLUSTRATIVE
    return merged


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``interpolate`` command."""
    parser = subparsers.add_parser(
        "interpolate",
        help="estimer des chiffres par QPV à partir des tableaux IRIS de l'INSEE",
        description="Reporte les données IRIS (recensement, Filosofi) sur les QPV : comptages "
        "répartis selon la surface ou les logements, taux recalculés (numérateur / "
        "dénominateur), médianes données en fourchette (non interpolables), secret statistique "
        "conservé comme valeur manquante. Chaque ligne indique sa méthode et la part estimée.",
    )
    parser.add_argument("--iris", required=True, metavar="FICHIER", help="contours IRIS (IGN)")
    parser.add_argument("--qpv", required=True, metavar="FICHIER",
                        help="périmètres cibles (QPV ANCT)")
    parser.add_argument("--table", action="append", required=True, metavar="FICHIER",
                        help="tableau INSEE au niveau IRIS (répétable)")
    parser.add_argument("--comptages", action="append", metavar="VARS",
                        help="variables de comptage, séparées par des virgules (P20_POP,...)")
    parser.add_argument("--taux", action="append", metavar="NOM=NUM/DEN",
                        help="taux recalculé : nom=NUMERATEUR/DENOMINATEUR (répétable)")
    parser.add_argument("--non-interpolables", action="append", metavar="VARS",
                        help="valeurs sans numérateur (médianes, DISP_MED20...) : fourchette "
                        "des IRIS concernés")
    parser.add_argument("-o", "--sortie", required=True, metavar="FICHIER",
                        help="fichier écrit : .csv (séparateur ;) ou .gpkg (avec les QPV)")
    parser.add_argument("--seuil", type=float, default=None, metavar="PART",
                        help="seuil des éclats (part 0–1, défaut 0.01)")
    parser.add_argument("--allocation-totale", action="store_true",
                        help="répartir la totalité de chaque IRIS entre les QPV qu'il touche")
    add_weight_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the command; return 0 on success."""
    from qpvgeo import io
    from qpvgeo.interpolation import interpolate
    from qpvgeo.overlay import DEFAULT_MIN_SHARE

    extensive = _split(args.comptages)
    intensive = _split(args.non_interpolables)
    ratios = dict(parse_ratio(t) for t in args.taux or [])
    if not (extensive or intensive or ratios):
        raise SchemaError("rien à estimer : donnez --comptages, --taux ou --non-interpolables")
    iris, qpv = io.read_iris(args.iris), io.read_qpv(args.qpv)
    values = merge_tables([io.read_insee_table(p, level="iris") for p in args.table])
    weights, weight_col = read_weights(args)
    seuil = DEFAULT_MIN_SHARE if args.seuil is None else args.seuil
    with tqdm_progress("Interpolation IRIS → QPV") as bar:
        keep = [c for c in ("code_iris", "source", "geometry") if c in iris.columns]
        result = interpolate(iris[keep], qpv, extensive=extensive,
                             ratios=ratios, intensive=intensive, values=values,
                             weights=weights, weight_col=weight_col, min_share=seuil,
                             allocate_total=args.allocation_totale, progress=bar)
    if "nom_qpv" in qpv.columns:
        result.insert(1, "nom_qpv", qpv["nom_qpv"].to_numpy())
    if Path(args.sortie).suffix.lower() == ".gpkg":
        result = gpd.GeoDataFrame(result, geometry=qpv.geometry.to_numpy(), crs=qpv.crs)
    path = write_table(result, args.sortie, layer="qpv_estimations")
    n_est = int(result["is_estimate"].sum())
    n_out = int((result["n_sources"] == 0).sum())
    print(f"{len(result)} zones : {n_est} estimation(s) à partir des IRIS "
          f"(méthode {result['method'].iloc[0]}), {len(result) - n_est - n_out} somme(s) "
          f"exacte(s) d'IRIS entiers, {n_out} hors des IRIS.")
    if intensive:
        print(f"Non interpolables (fourchette des IRIS) : {', '.join(intensive)}.")
    print(f"Écrit : {path}")
    note = illustrative_note(iris, qpv, values, weights)
    if note:
        print(note)
    return 0

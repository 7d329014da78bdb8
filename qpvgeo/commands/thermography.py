"""``qpvgeo thermography``: heat-loss class per building and shares of strong heat loss per zone.

::

    qpvgeo thermography --raster deperditions.tif --buildings BATIMENT.shp
        --zones qpv.gpkg --out thermographie.gpkg

Writes a GeoPackage with the layers ``buildings`` (every building with its ``heatloss_*``
columns, see :mod:`qpvgeo.thermography`) and, with ``--zones``, ``zones`` (the zones with
``buildings_count``, ``heatloss_strong_share``…). The file is written under a temporary name
in the destination folder and renamed at the end: an error, Ctrl-C or a cancellation leaves
nothing half-written. Messages are in French.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo import _validate
from qpvgeo._atomic import written_atomically
from qpvgeo._progress import scaled, tqdm_progress
from qpvgeo.errors import SchemaError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``thermography`` command."""
    parser = subparsers.add_parser(
        "thermography",
        help="déperditions thermiques par bâtiment et part des bâtiments à fortes déperditions "
        "par zone (thermographie aérienne)",
        description="Classe chaque bâtiment d'après un raster de thermographie aérienne "
        "(classes de déperdition ou températures apparentes), sur l'intérieur de la toiture et "
        "avec la couverture exacte des pixels, puis calcule par zone (QPV, IRIS, communes) la "
        "part des bâtiments et de la surface de toiture à déperditions fortes ou excessives.",
    )
    parser.add_argument("--raster", required=True, metavar="FICHIER",
                        help="raster de thermographie (GeoTIFF) : classes 1–4 (0 = non mesuré) "
                        "ou températures apparentes (°C, avec --schema temperature)")
    parser.add_argument("--buildings", required=True, metavar="FICHIER",
                        help="emprises des bâtiments (BD TOPO BATIMENT, OSM, cadastre…)")
    parser.add_argument("--zones", metavar="FICHIER",
                        help="zones pour les parts (QPV, IRIS, communes…), facultatif")
    parser.add_argument("--out", required=True, metavar="FICHIER.gpkg",
                        help="GeoPackage écrit (couches buildings et zones)")
    parser.add_argument("--buildings-layer", metavar="COUCHE",
                        help="couche des bâtiments dans un GeoPackage à plusieurs couches")
    parser.add_argument("--zones-layer", metavar="COUCHE",
                        help="couche des zones dans un GeoPackage à plusieurs couches")
    parser.add_argument("--raster-crs", metavar="CRS",
                        help="système de coordonnées du raster s'il n'en déclare pas "
                        "(ex. EPSG:3950) ; jamais deviné")
    parser.add_argument("--band", type=int, default=1, help="bande du raster (défaut 1)")
    parser.add_argument("--coverage", choices=("exact", "centre"), default="exact",
                        help="pondération des pixels : exact (part de chaque pixel couverte, "
                        "défaut) ou centre (pixels dont le centre est dans le bâtiment, plus "
                        "rapide, approché)")
    parser.add_argument("--interior-buffer", type=float, default=1.0, metavar="MÈTRES",
                        help="retrait intérieur des toitures en mètres (défaut 1 ; 0 = emprise "
                        "entière)")
    parser.add_argument("--min-valid-pixels", type=float, default=4.0, metavar="N",
                        help="pixels valides minimum pour classer une toiture (défaut 4)")
    parser.add_argument("--schema", choices=("classes", "temperature"), default="classes",
                        help="nature du raster : classes (4 classes de la CALL, défaut) ou "
                        "temperature (°C)")
    parser.add_argument("--seuils", metavar="S1,S2,S3",
                        help="températures : 3 seuils en °C ; sans eux, quartiles de la scène")
    parser.add_argument("--statistique", default=None, metavar="STAT",
                        help="températures : statistique par toit, mean (défaut), median ou "
                        "pNN (ex. p90)")
    parser.add_argument("--strong", default="fortes,excessives", metavar="CLASSES",
                        help="classes comptées comme fortes déperditions (défaut "
                        "fortes,excessives)")
    parser.set_defaults(_parser=parser)
    return parser


def _scheme(args: argparse.Namespace) -> Any:
    from qpvgeo.thermography import DEFAULT_SCHEME, HeatLossScheme

    if args.schema == "classes":
        if args.seuils:
            raise SchemaError("--seuils ne s'applique qu'avec --schema temperature")
        return DEFAULT_SCHEME
    breaks = None
    if args.seuils:
        try:
            breaks = [float(v.replace(",", ".")) for v in args.seuils.split(",")]
        except ValueError as exc:
            raise SchemaError(f"--seuils {args.seuils!r} : trois nombres séparés par des "
                              "virgules sont attendus, ex. --seuils 8,10,12") from exc
    try:
        return HeatLossScheme.temperature(breaks, statistic=args.statistique or "mean")
    except ValueError as exc:
        raise SchemaError(f"schéma de températures invalide : {exc}") from exc


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write every layer into one GeoPackage atomically (temporary file, then rename)."""
    with written_atomically(path) as tmp:
        for name, layer in layers.items():
            layer.to_file(tmp, layer=name, driver="GPKG")


def _for_gpkg(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GeoPackage can store: text labels for int column names, object for lists."""
    out = gdf.copy()
    out.columns = [str(c) for c in out.columns]
    return out


def run(args: argparse.Namespace) -> int:
    """Run the command; return 0 on success."""
    from qpvgeo import io
    from qpvgeo.raster import open_raster
    from qpvgeo.thermography import building_heat_loss, heat_loss_shares

    out = Path(args.out)
    if out.suffix.lower() != ".gpkg":
        raise SchemaError(f"{out.name}: la sortie doit être un GeoPackage (.gpkg)")
    scheme = _scheme(args)
    strong = [s.strip() for s in args.strong.split(",") if s.strip()]
    buildings = io.read_layer(args.buildings, layer=args.buildings_layer)
    zones = io.read_layer(args.zones, layer=args.zones_layer) if args.zones else None
    with open_raster(args.raster, band=args.band, crs=args.raster_crs) as src, \
            tqdm_progress("thermographie") as bar:
        illustrative_raster = _validate.is_illustrative(src.tags)
        result = building_heat_loss(
            src, buildings, scheme=scheme, interior_buffer_m=args.interior_buffer,
            min_valid_pixels=args.min_valid_pixels, coverage=args.coverage,
            progress=scaled(bar, 0.0, 0.9))
        layers = {"buildings": _for_gpkg(result)}
        shares = None
        if zones is not None:
            shares = heat_loss_shares(result, zones, strong=strong, scheme=scheme,
                                      progress=scaled(bar, 0.9, 0.97))
            # the zones' own columns, then the shares (a shares column replaces a namesake)
            kept = zones.drop(columns=[c for c in shares.columns if c in zones.columns])
            zone_layer = pd.concat([kept, shares], axis=1)
            layers["zones"] = _for_gpkg(gpd.GeoDataFrame(zone_layer, geometry="geometry",
                                                         crs=zones.crs))
        _write_gpkg(layers, out)
        bar(1.0, "écrit")
    _summary(result, shares, out, illustrative_raster or _validate.is_illustrative(buildings))
    return 0


def _summary(result: pd.DataFrame, shares: pd.DataFrame | None, out: Path,
             illustrative: bool) -> None:
    from qpvgeo.thermography import NOT_MEASURED_LABEL, UNCLASSIFIED_LABEL

    n = len(result)
    labels = result["heatloss_label"]
    classified = int(result["heatloss_class"].notna().sum())
    pct = f"{100 * classified / n:.0f} %" if n else "–"
    lines = [f"qpvgeo thermography : {n} bâtiments, {classified} classés ({pct}), "
             f"{int((labels == UNCLASSIFIED_LABEL).sum())} non classés, "
             f"{int((labels == NOT_MEASURED_LABEL).sum())} non mesurés."]
    if shares is not None:
        s = shares["heatloss_strong_share"]
        known = s.dropna()
        text = (f"de {100 * known.min():.0f} % à {100 * known.max():.0f} %" if len(known)
                else "non calculable")
        lines.append(f"{len(shares)} zones ; part des bâtiments à déperditions fortes ou "
                     f"excessives : {text} ; {int(s.isna().sum())} zone(s) sans bâtiment "
                     "classé.")
    lines.append(f"Écrit : {out} (couches buildings{', zones' if shares is not None else ''}).")
    if illustrative:
        lines.append("Attention : données ILLUSTRATIVES (territoire de démonstration), pas des "
                     "données officielles.")
    print("\n".join(lines), file=sys.stdout)

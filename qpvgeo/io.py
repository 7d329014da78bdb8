"""Readers of the official French files used by a portrait de territoire of the QPV.

Each reader opens a file as it is published (real column names, matched case-insensitively,
with the known alternative spellings of other editions), checks it, and returns a table with
normalised lower-case columns first, then ``source`` when the file has one, then the other
original columns unchanged. Layers are returned in Lambert-93 (EPSG:2154, metres); codes
(INSEE commune, IRIS, QPV, SIREN/SIRET) are text with their leading zeros; INSEE secret or
missing cells are NaN, never 0, and listed in a ``secret_vars`` column. Row index: the row or
feature number in the file (0-based); rows dropped by a reader (no geometry, no coordinates)
leave gaps, so each row can be traced back to the file. Inputs are never modified.

Every reader takes ``columns=``, a mapping ``{official or normalised name: column in your
file}`` for renamed files (``columns={"DEPCOM": "depcom_code"}``); a value ``None`` declares
an optional field absent. Errors are those of :mod:`qpvgeo.errors` and name the file, the
column and the fix.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _io_codes as c
from qpvgeo import _io_insee as ins
from qpvgeo import _io_layers as lay
from qpvgeo import _io_points as pt
from qpvgeo import _io_tables as t
from qpvgeo import _validate as v
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.errors import (
    CodeFormatError,
    DataQualityWarning,
    EmptyLayerError,
    SchemaError,
)

__all__ = [
    "read_bpe",
    "read_buildings",
    "read_colleges",
    "read_communes",
    "read_epci",
    "read_insee_table",
    "read_iris",
    "read_layer",
    "read_qpv",
    "read_qpv_correspondence",
    "read_qpv_list",
    "read_rpls",
    "read_sirene",
]

ColumnMap = Mapping[str, str | None]
Level = Literal["iris", "commune", "epci", "qpv"]


_TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".zip"}


# --------------------------------------------------------------------------------------------
# Generic layer reading
# --------------------------------------------------------------------------------------------


def read_layer(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer (GeoJSON, shapefile, GeoPackage...) in Lambert-93, checked.

    The path every layer reader of qpvgeo takes: opens the file with pyogrio, picks the layer,
    reprojects to EPSG:2154, repairs invalid geometries, refuses empty layers and keeps codes as
    text. Columns are returned as in the file (the geometry column is named ``geometry``).

    Parameters
    ----------
    path
        Vector file readable by GDAL/OGR.
    layer
        Layer name for multi-layer files (GeoPackage). Required when the file has several
        layers; the error lists them.
    crs
        CRS to assume when the file has none (e.g. ``"EPSG:3950"`` for a shapefile delivered
        without its ``.prj``). Never overrides a CRS the file declares: a different one raises
        :class:`~qpvgeo.errors.CrsMismatchError`.
    name
        Label used in messages (default: the file name).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:2154 (metres). Index: feature number in the file; features whose geometry is
        empty or missing are dropped (counted in a warning). Invalid geometries are repaired
        with ``make_valid`` (polygon layers keep only the polygonal part). Code columns known
        by name (``INSEE_COM``, ``CODE_IRIS``, ``SIREN_EPCI``...) stored as numbers are turned
        into zero-padded text with a :class:`~qpvgeo.errors.DataQualityWarning`.

    Raises
    ------
    InputFileError
        File missing or not readable by GDAL.
    SchemaError
        Several layers and none chosen, unknown layer, or no geometry.
    MissingCRSError
        The file has no CRS and ``crs`` was not given.
    EmptyLayerError
        The layer has no feature (or none with a geometry).
    """
    return lay.open_layer(path, layer=layer, crs=crs, name=name)


# --------------------------------------------------------------------------------------------
# Code helpers
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# QPV
# --------------------------------------------------------------------------------------------

_QPV_SPEC: dict[str, tuple[str, ...]] = {
    "code_qpv": ("code_qp", "CODE_QP", "Code_QP", "QP2024", "code_quartier"),
    "nom_qpv": ("lib_qp", "NOM_QP", "Lib_QP", "nom_qp", "libelle_qp"),
    "insee_com": ("insee_com", "code_insee", "insee_com_list", "codes_insee", "depcom"),
}


def read_qpv(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
) -> gpd.GeoDataFrame:
    """Read QPV perimeters (ANCT), 2024 or 2015 generation, in Lambert-93.

    Written for the ANCT 2024 files (``QP2024_France_Hexagonale_Outre_Mer_WGS84`` and
    ``QP2024_France_hexagonale_LB93``: ``code_qp, lib_qp, insee_com…``; the metro layer of
    26/04/2024 spells ``Code_QP, Lib_QP``) and the 2015 file
    ``QP_METROPOLEOUTREMER_WGS84_EPSG4326`` (``CODE_QP, NOM_QP, COMMUNE_QP``). Shapefile,
    GeoJSON or GeoPackage, any CRS.

    Parameters
    ----------
    path
        Vector file of QPV polygons.
    layer, crs
        See :func:`read_layer`.
    columns
        Column overrides, e.g. ``{"code_qp": "CODE_QUARTIER"}``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``code_qpv`` (text), ``nom_qpv``, ``insee_com`` (INSEE codes of the QPV's communes joined
        with ``;``, missing when the file has only commune names, as in 2015), ``generation``
        (``"2024"`` or ``"2015"``, from the code prefix ``QN``/``QP``), then ``source`` and the
        other original columns, ``geometry`` (polygons, EPSG:2154). One row per QPV.

    Raises
    ------
    SchemaError
        No QPV code or name column, or 2024 and 2015 codes mixed in one file.
    CodeFormatError
        Values of the code column are not QPV codes.
    DuplicateKeyError
        A QPV code appears on several features (dissolve the parts first).
    """
    p = t.check_file(path)
    label = p.name
    gdf = lay.open_layer(p, layer=layer, crs=crs, name=label, geom_kind="polygon")
    found = t.resolve_columns(gdf, _QPV_SPEC, name=label, required=["code_qpv", "nom_qpv"],
                              columns=columns)
    code_col = str(found["code_qpv"])
    codes = c.qpv_codes(gdf[code_col], name=label, column=code_col)
    gen = c.generation(codes, name=label, column=code_col)
    if found["insee_com"] is not None:
        insee = c.commune_lists(gdf[found["insee_com"]], name=label,
                               column=str(found["insee_com"]))
    else:
        insee = pd.Series(None, index=gdf.index, dtype=object)
        names_col = v.find_column(gdf, ["COMMUNE_QP", "lib_com", "nom_com"])
        where = f" (commune names are in {names_col})" if names_col else ""
        warnings.warn(
            f"{label}: no INSEE commune code column{where}; insee_com is left missing. Join "
            "the QPV to read_communes(...) spatially, or pass columns={'insee_com': '<column>'}",
            DataQualityWarning, stacklevel=2,
        )
    norm = {"code_qpv": codes, "nom_qpv": c.text_column(gdf, found["nom_qpv"]),
            "insee_com": insee, "generation": gen}
    out = t.assemble(norm, gdf, found.values(), index=gdf.index)
    v.check_unique(out, "code_qpv", name=label)
    result = gpd.GeoDataFrame(out, geometry=gdf.geometry, crs=v.LAMBERT93)
    result.attrs["qpvgeo"] = {"source": label, "vintage": _single(gen), "level": "qpv"}
    return result


def _used(found: Mapping[str, str | None]) -> list[str | None]:
    """Columns consumed by normalised fields, except the QPV source column of point files.

    It is kept: its non-QPV values such as ``CSZ``/``HZ`` say why ``code_qpv`` is missing.
    """
    return [col for field, col in found.items() if field != "code_qpv"]


def _single(values: pd.Series) -> Any:
    uniq = pd.unique(values.dropna())
    return uniq[0] if len(uniq) == 1 else None


def read_qpv_list(path: str | Path, *, columns: ColumnMap | None = None) -> pd.DataFrame:
    """Read the official list of QPV (``listeqp2024-cog2024.csv``), without geometry.

    Written for the ANCT list of 2024 QPV in COG 2024: ``;``-separated, UTF-8 with BOM,
    trailing empty columns; ``code_qp, lib_qp, insee_reg, lib_reg, insee_dep, lib_dep,
    insee_com, lib_com, siren_epci, lib_epci``. Multi-commune QPV list their communes joined
    with ``"; "``; commune codes that lost their leading zero (``1053``) are repaired with a
    warning. Also reads lists with an ``insee_com_list`` column (the project's
    ``qpv2024_dept62_list.csv``) and 2015 lists (``CODE_QP, NOM_QP``).

    Returns
    -------
    pandas.DataFrame
        ``code_qpv``, ``nom_qpv``, ``insee_com`` (``;``-joined codes), ``generation``, then
        ``source`` and the other columns as text. One row per QPV, file order.
    """
    p = t.check_file(path)
    label = p.name
    df, info = t.read_text_table(p, name=label)
    v.check_not_empty(df, name=label, what="row")
    found = t.resolve_columns(df, _QPV_SPEC, name=label, required=["code_qpv", "nom_qpv"],
                              columns=columns)
    code_col = str(found["code_qpv"])
    codes = c.qpv_codes(df[code_col], name=label, column=code_col)
    insee = (c.commune_lists(df[found["insee_com"]].where(df[found["insee_com"]] != "", None),
                            name=label, column=str(found["insee_com"]))
             if found["insee_com"] is not None else pd.Series(None, index=df.index, dtype=object))
    norm = {"code_qpv": codes, "nom_qpv": c.text_column(df, found["nom_qpv"]), "insee_com": insee,
            "generation": c.generation(codes, name=label, column=code_col)}
    out = t.assemble(norm, df, found.values(), index=df.index)
    v.check_unique(out, "code_qpv", name=label)
    out.attrs["qpvgeo"] = {"source": label, "vintage": _single(out["generation"]),
                           "level": "qpv", "encoding": info["encoding"]}
    return out


def read_qpv_correspondence(
    path: str | Path, *, columns: ColumnMap | None = None
) -> pd.DataFrame:
    """Read the ANCT correspondence between 2024 and 2015 QPV as a long table.

    Written for ``liste-correspondance-qp2024-qp2015.csv`` (``;``): ``QP2024, Label_QP2024,
    Statut, QP2015_1, Label_QP2015_1, QP2015_2, …``: one row per 2024 QPV with up to three
    2015 predecessors.

    Returns
    -------
    pandas.DataFrame
        One row per (2024 QPV, 2015 QPV) pair, ordered as in the file then by rank:
        ``code_qpv_2024``, ``nom_qpv_2024``, ``statut``, ``rank`` (1, 2, 3: position of the 2015
        QPV in the file, ``<NA>`` when there is none), ``code_qpv_2015``, ``nom_qpv_2015``
        (missing for a 2024 QPV with no 2015 predecessor). RangeIndex.
    """
    p = t.check_file(path)
    label = p.name
    df, _ = t.read_text_table(p, name=label)
    v.check_not_empty(df, name=label, what="row")
    spec = {"code_qpv_2024": ("QP2024", "code_qp_2024", "code_qp"),
            "nom_qpv_2024": ("Label_QP2024", "lib_qp_2024", "lib_qp"),
            "statut": ("Statut",)}
    found = t.resolve_columns(df, spec, name=label, required=["code_qpv_2024"], columns=columns)
    pattern = re.compile(r"^(?:QP2015|code_qp_2015)_?(\d+)$", re.IGNORECASE)
    ranks = sorted(
        ((int(m.group(1)), str(c)) for c in df.columns if (m := pattern.match(str(c)))),
    )
    if not ranks:
        raise SchemaError(v.missing_message(
            label, ["QP2015_1"], df.columns,
            "the correspondence file lists the 2015 QPV in columns QP2015_1, QP2015_2, …"))
    code_col = str(found["code_qpv_2024"])
    codes24 = c.qpv_codes(df[code_col], name=label, column=code_col)
    rows = []
    for rank, col in ranks:
        lab = v.find_column(df, [f"Label_QP2015_{rank}", f"lib_qp_2015_{rank}"])
        part = pd.DataFrame({
            "_row": np.arange(len(df)),
            "code_qpv_2024": codes24.to_numpy(),
            "nom_qpv_2024": c.text_column(df, found["nom_qpv_2024"]).to_numpy(),
            "statut": c.text_column(df, found["statut"]).to_numpy(),
            "rank": rank,
            "code_qpv_2015": c.qpv_codes(df[col], name=label, column=col).to_numpy(),
            "nom_qpv_2015": c.text_column(df, lab).to_numpy(),
        })
        rows.append(part)
    long = pd.concat(rows, ignore_index=True)
    has = long["code_qpv_2015"].notna()
    none_at_all = ~long.groupby("_row")["code_qpv_2015"].transform(lambda s: s.notna().any())
    keep = has | (none_at_all & (long["rank"] == ranks[0][0]))
    long = long.loc[keep].copy()
    long["rank"] = long["rank"].astype("Int64")
    long.loc[long["code_qpv_2015"].isna(), "rank"] = pd.NA
    long = long.sort_values(["_row", "rank"], kind="stable", na_position="first")
    bad = long["code_qpv_2015"].notna() & ~long["code_qpv_2015"].astype(str).str.startswith("QP")
    if bad.any():
        raise SchemaError(f"{label}: the QP2015_* columns hold 2024 codes; check the file")
    out = long.drop(columns="_row").reset_index(drop=True)
    out.attrs["qpvgeo"] = {"source": label, "vintage": "2024/2015", "level": "qpv"}
    return out


# --------------------------------------------------------------------------------------------
# IRIS, communes, EPCI
# --------------------------------------------------------------------------------------------

_IRIS_SPEC: dict[str, tuple[str, ...]] = {
    "code_iris": ("CODE_IRIS", "DCOMIRIS"),
    "nom_iris": ("NOM_IRIS",),
    "insee_com": ("INSEE_COM", "code_insee", "DEPCOM"),
    "typ_iris": ("TYP_IRIS", "type_iris"),
    "nom_com": ("NOM_COM", "nom_commune"),
}


def read_iris(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
) -> gpd.GeoDataFrame:
    """Read IGN CONTOURS-IRIS (or IRIS-GE) contours in Lambert-93.

    Written for CONTOURS-IRIS 2.1 (2017–2022) and 3.0 ED2023 shapefiles (``INSEE_COM,
    NOM_COM, IRIS, CODE_IRIS, NOM_IRIS, TYP_IRIS``), the 3.0 2024+ GeoPackage (layer
    ``contours_iris``, geometry ``geometrie``: ``code_insee, nom_commune, iris, code_iris,
    nom_iris, type_iris``; chosen by default when the file has several layers) and pre-2015
    files (``DEPCOM, DCOMIRIS``). The 2024+ edition names are unverified and checked here.

    Returns
    -------
    geopandas.GeoDataFrame
        ``code_iris`` (9 characters: commune + IRIS, ``…0000`` for an unsplit commune),
        ``nom_iris``, ``insee_com`` (from the file, else the first 5 characters of the IRIS
        code), ``typ_iris`` (``H`` habitat, ``A`` activité, ``D`` divers, ``Z`` unsplit
        commune), ``nom_com`` when present, then ``source`` and the other original columns,
        ``geometry`` (EPSG:2154). One row per IRIS.
    """
    p = t.check_file(path)
    label = p.name
    gdf = lay.open_layer(p, layer=layer, crs=crs, name=label, prefer=("contours_iris", "iris_ge"),
                      geom_kind="polygon")
    found = t.resolve_columns(gdf, _IRIS_SPEC, name=label,
                              required=["code_iris", "nom_iris", "typ_iris"], columns=columns,
                              nullable=["nom_iris", "typ_iris"])
    code_col = str(found["code_iris"])
    codes = v.normalize_codes(gdf[code_col], "iris", name=label, column=code_col)
    if found["insee_com"] is not None:
        insee = v.normalize_codes(gdf[found["insee_com"]], "commune", name=label,
                                  column=str(found["insee_com"]))
        differ = insee.notna() & codes.notna() & (insee != codes.str[:5])
        if differ.any():
            ex = codes[differ].iloc[0]
            warnings.warn(
                f"{label}: {int(differ.sum())} IRIS code(s) do not start with their commune "
                f"code (e.g. {ex} in {insee[differ].iloc[0]}); check the IRIS and commune "
                "geography vintages", DataQualityWarning, stacklevel=2)
    else:
        insee = codes.str[:5].astype(object)
    typ = c.text_column(gdf, found["typ_iris"])
    typ = typ.where(typ.isna(), typ.astype(str).str.upper())
    norm: dict[str, Any] = {"code_iris": codes, "nom_iris": c.text_column(gdf, found["nom_iris"]),
                            "insee_com": insee, "typ_iris": typ}
    if found["nom_com"] is not None:
        norm["nom_com"] = c.text_column(gdf, found["nom_com"])
    out = t.assemble(norm, gdf, found.values(), index=gdf.index)
    v.check_unique(out, "code_iris", name=label)
    result = gpd.GeoDataFrame(out, geometry=gdf.geometry, crs=v.LAMBERT93)
    result.attrs["qpvgeo"] = {"source": label, "vintage": None, "level": "iris"}
    return result


_COMMUNE_SPEC: dict[str, tuple[str, ...]] = {
    "insee_com": ("INSEE_COM", "code", "insee", "code_insee", "codgeo", "DEPCOM"),
    "nom_com": ("NOM", "nom", "NOM_COM", "libgeo", "nom_commune"),
    "siren_epci": ("SIREN_EPCI", "epci_siren", "code_epci", "epci"),
}


def read_communes(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
) -> gpd.GeoDataFrame:
    """Read commune polygons in Lambert-93.

    Written for IGN Admin Express ``COMMUNE`` (``INSEE_COM, NOM, …, SIREN_EPCI``; layer
    ``commune`` chosen in a multi-layer GeoPackage), geo.api.gouv.fr GeoJSON (``code, nom``),
    files already normalised (``insee_com, nom``) and Mission Bassin Minier layers
    (``insee, nom, epci_siren``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``insee_com`` (5 characters, ``2A004`` for Corsica), ``nom_com``, ``siren_epci`` (when the
        file has it; text, not checked: Admin Express writes ``NC`` for communes outside any
        EPCI), then ``source`` and the other original columns, ``geometry`` (EPSG:2154).
        One row per commune.
    """
    p = t.check_file(path)
    label = p.name
    gdf = lay.open_layer(p, layer=layer, crs=crs, name=label, prefer=("commune", "communes"),
                      geom_kind="polygon")
    found = t.resolve_columns(gdf, _COMMUNE_SPEC, name=label, required=["insee_com", "nom_com"],
                              columns=columns)
    code_col = str(found["insee_com"])
    norm: dict[str, Any] = {
        "insee_com": v.normalize_codes(gdf[code_col], "commune", name=label, column=code_col),
        "nom_com": c.text_column(gdf, found["nom_com"]),
    }
    if found["siren_epci"] is not None:
        norm["siren_epci"] = c.text_column(gdf, found["siren_epci"])
    out = t.assemble(norm, gdf, found.values(), index=gdf.index)
    v.check_unique(out, "insee_com", name=label)
    result = gpd.GeoDataFrame(out, geometry=gdf.geometry, crs=v.LAMBERT93)
    result.attrs["qpvgeo"] = {"source": label, "vintage": None, "level": "commune"}
    return result


def read_epci(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
) -> gpd.GeoDataFrame:
    """Read EPCI polygons in Lambert-93.

    Written for IGN Admin Express ``EPCI`` (``CODE_SIREN, NOM, NATURE``; layer ``epci`` chosen
    in a multi-layer GeoPackage) and geo.api.gouv.fr GeoJSON (``code``/``code_siren, nom``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``siren_epci`` (9 digits), ``nom_epci``, then ``source`` and the other original
        columns, ``geometry`` (EPSG:2154). One row per EPCI.
    """
    p = t.check_file(path)
    label = p.name
    gdf = lay.open_layer(p, layer=layer, crs=crs, name=label, prefer=("epci",),
                      geom_kind="polygon")
    spec = {"siren_epci": ("CODE_SIREN", "siren", "code", "epci_siren", "siren_epci"),
            "nom_epci": ("NOM", "nom", "NOM_EPCI", "raison_sociale", "epci_nom")}
    found = t.resolve_columns(gdf, spec, name=label, required=list(spec), columns=columns)
    code_col = str(found["siren_epci"])
    norm = {"siren_epci": v.normalize_codes(gdf[code_col], "epci", name=label, column=code_col),
            "nom_epci": c.text_column(gdf, found["nom_epci"])}
    out = t.assemble(norm, gdf, found.values(), index=gdf.index)
    v.check_unique(out, "siren_epci", name=label)
    result = gpd.GeoDataFrame(out, geometry=gdf.geometry, crs=v.LAMBERT93)
    result.attrs["qpvgeo"] = {"source": label, "vintage": None, "level": "epci"}
    return result


# --------------------------------------------------------------------------------------------
# INSEE tables
# --------------------------------------------------------------------------------------------

_KEY_SPEC: dict[str, tuple[str, tuple[str, ...]]] = {
    "iris": ("code_iris", ("IRIS", "CODE_IRIS", "DCOMIRIS", "CODGEO")),
    "commune": ("insee_com", ("CODGEO", "COM", "DEPCOM", "CODE_INSEE", "INSEE_COM")),
    "epci": ("siren_epci", ("CODGEO", "EPCI", "SIREN", "SIREN_EPCI", "CODE_EPCI")),
    "qpv": ("code_qpv", ("CODGEO", "code_qp", "QP", "CODE_QP", "QP2024")),
}

def read_insee_table(
    path: str | Path,
    level: Level = "iris",
    *,
    vintage: int | None = None,
    columns: ColumnMap | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Read an INSEE table (census IRIS bases, Filosofi, QPV-level files) with secret cells kept.

    Written for the census IRIS bases of RP 2020 (``base-ic-evol-struct-pop-2020.csv`` and the
    other ``base-ic-*`` files: ``;``, decimal point, weighted non-integer values, geography
    ``IRIS;COM;TYP_IRIS;LAB_IRIS``), their XLSX variant (5 title rows above the header; needs
    ``openpyxl``, in the ``report`` extra), Filosofi IRIS 2020 (``BASE_TD_FILO_DISP_IRIS_2020``:
    ``IRIS``, ``DISP_MED20``…; markers ``s``, ``nd``, ``ns`` and blanks; decimal comma detected
    per column, not assumed), QPV-level INSEE/ONPV files (key ``CODGEO``, ``code_qp`` or
    ``QP``, label ``LIBGEO``) and the commune or EPCI Filosofi files (``base-cc-filosofi-2020``
    layout: ``CODGEO;LIBGEO;NBMENFISC20;NBPERSMENFISC20;MED20;TP6020;…``, one file per level,
    EPCI rows keyed by their 9-digit SIREN). Text files may be UTF-8 (with or without BOM) or
    cp1252/latin-1 (detected), separated by ``;``, ``,`` or tabs (detected).

    Parameters
    ----------
    path
        ``.csv``/``.txt`` or ``.xlsx`` file, or the ``…_csv.zip`` archive as downloaded (its
        one data CSV is read; ``meta…``/``doc…`` files are ignored).
    level
        Geographic level of the rows: ``"iris"``, ``"commune"``, ``"epci"`` or ``"qpv"``;
        selects the key.
    vintage
        Year of the data (e.g. 2020). Detected from the variable names (``P20_`` → 2020,
        ``DISP_MED20`` → 2020) when not given; a given value that differs from the detected
        one is kept, with a warning.
    columns
        Key override, e.g. ``{"IRIS": "CODE_IRIS_2022"}`` or ``{"code_iris": "..."}``.
    sheet
        XLSX sheet name (default: the first sheet whose header has the key column).

    Returns
    -------
    pandas.DataFrame
        The key (``code_iris``, ``insee_com`` or ``code_qpv``, text, zero-padded), then for IRIS
        ``insee_com`` (from ``COM``, else the IRIS code), for communes ``nom_com``, for EPCI
        (key ``siren_epci``) ``nom_epci`` and for QPV
        ``nom_qpv`` when a label column exists, then ``source`` and the other columns with their
        official names (``P20_POP``, ``DISP_MED20``…). Variables are floats; secret or missing
        cells are NaN (never 0). A column with no number at all stays text. ``secret_vars``
        (last) lists, joined with ``;``, the variables missing on each row (``""`` when none).
        ``df.attrs["qpvgeo"]`` holds ``{"source": file name, "vintage": year or None,
        "level": level, "secret_cells": count, "encoding": ..., "decimal": ...}``.

    Raises
    ------
    SchemaError
        No key column for the level (the message lists the columns found).
    CodeFormatError
        Key values that are not codes of the level.
    DuplicateKeyError
        A key appears on several rows.
    """
    if level not in _KEY_SPEC:
        raise ValueError(f"level must be 'iris', 'commune', 'epci' or 'qpv', not {level!r}")
    p = t.check_file(path)
    label = p.name
    key_name, key_aliases = _KEY_SPEC[level]
    if p.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        df, info = ins.read_xlsx(p, name=label, keys=(key_name, *key_aliases), sheet=sheet)
    else:
        df, info = t.read_text_table(p, name=label)
    v.check_not_empty(df, name=label, what="row")

    spec: dict[str, tuple[str, ...]] = {key_name: key_aliases}
    if level == "iris":
        spec["insee_com"] = ("COM", "DEPCOM", "INSEE_COM")
    elif level == "commune":
        spec["nom_com"] = ("LIBGEO", "LIBCOM", "NOM_COM")
    elif level == "epci":
        spec["nom_epci"] = ("LIBGEO", "LIBEPCI", "NOM_EPCI", "LIB_EPCI")
    else:
        spec["nom_qpv"] = ("LIBGEO", "lib_qp", "NOM_QP", "LIB_QP")
    found = t.resolve_columns(df, spec, name=label, required=[key_name], columns=columns)
    key_col = str(found[key_name])
    try:
        if level == "qpv":
            key = c.qpv_codes(df[key_col], name=label, column=key_col)
        else:
            key = v.normalize_codes(t.text_or_none(df[key_col]), level, name=label,
                                    column=key_col)
    except CodeFormatError as exc:
        guess = ins.guess_level(df[key_col])
        if guess is None or guess == level:
            raise
        raise CodeFormatError(f"{exc}. The codes look like {guess} codes: pass level='{guess}'"
                              ) from exc
    norm: dict[str, Any] = {key_name: key}
    if level == "iris":
        com_col = found["insee_com"]
        norm["insee_com"] = (
            v.normalize_codes(t.text_or_none(df[com_col]), "commune", name=label,
                              column=str(com_col))
            if com_col is not None else key.str[:5].astype(object))
    else:
        extra = {"commune": "nom_com", "epci": "nom_epci"}.get(level, "nom_qpv")
        if found[extra] is not None:
            norm[extra] = c.text_column(df, found[extra])

    used = {c for c in found.values() if c is not None}
    body, flags, stats = ins.parse_variables(df, skip=used, name=label)
    out = t.assemble(norm, body, used, index=df.index)
    out["secret_vars"] = flags
    numeric = stats["numeric"]
    n_secret = stats["secret_cells"]
    decimals = stats["decimals"]
    v.check_unique(out, key_name, name=label)

    detected = ins.vintage_of(map(str, df.columns))
    found_vintage = detected[-1] if detected else None
    if vintage is not None and found_vintage is not None and int(vintage) != found_vintage:
        warnings.warn(
            f"{label}: vintage={vintage} was given but the variable names say {found_vintage} "
            f"(e.g. {next(iter(numeric), '')}); keeping {vintage} as asked",
            DataQualityWarning, stacklevel=2,
        )
    out.attrs["qpvgeo"] = {
        "source": label,
        "vintage": int(vintage) if vintage is not None else found_vintage,
        "level": level,
        "vintages_found": detected,
        "secret_cells": n_secret,
        "encoding": info.get("encoding"),
        "decimal": "," if decimals == {","} else ".",
    }
    return out


# --------------------------------------------------------------------------------------------
# Points: BPE, RPLS, SIRENE
# --------------------------------------------------------------------------------------------


def _read_source(
    path: Path, *, name: str, layer: str | None, crs: Any,
    spec: Mapping[str, Sequence[str]], columns: ColumnMap | None,
    communes: Iterable[str] | str | None, progress: ProgressCallback | None,
) -> tuple[pd.DataFrame, gpd.GeoSeries | None, dict[str, Any]]:
    """Open a point dataset: a text table (coordinates in columns) or a vector layer.

    With ``communes``, only the rows of these INSEE communes are kept (text files are read in
    chunks, so national files need not fit in memory). Returns the attributes, the layer's
    points (``None`` for a text table) and the provenance that goes to ``attrs["qpvgeo"]``.
    """
    keep = pt.commune_filter(communes, spec, columns, name=name)
    if path.suffix.lower() in _TEXT_SUFFIXES:
        df, info = t.read_text_table(path, name=name, keep=keep, progress=progress)
        if communes is not None and len(df) == 0 and info["rows_read"]:
            raise EmptyLayerError(
                f"{name}: none of the {info['rows_read']} rows is in the communes given "
                f"({', '.join(sorted(pt.wanted_communes(communes))[:5])}…); check communes=")
        v.check_not_empty(df, name=name, what="row")
        return df, None, _point_attrs(name, info["encoding"])
    gdf = lay.open_layer(path, layer=layer, crs=crs, name=name, geom_kind="point")
    if keep is not None:
        gdf = gdf.loc[keep(pd.DataFrame(gdf.drop(columns="geometry"))).to_numpy()]
        v.check_not_empty(gdf, name=name, what="point in the communes given")
    report(progress, 1.0, f"{name} lu")
    return pd.DataFrame(gdf.drop(columns="geometry")), gdf.geometry, _point_attrs(name, None)


def _point_attrs(name: str, encoding: str | None) -> dict[str, Any]:
    return {"source": name, "vintage": None, "level": "point", "encoding": encoding}


def _coordinates(
    df: pd.DataFrame, found: Mapping[str, str | None], geom: gpd.GeoSeries | None, *,
    name: str, crs: Any, communes: pd.Series | None,
) -> tuple[gpd.GeoSeries, pd.Series]:
    """Points of the rows and the mask of rows that have one.

    The layer's geometry when the file is a layer; else the ``x``/``y`` columns in the CRS of
    each row (:func:`qpvgeo._io_points.row_epsg`; ``communes`` picks Lambert-93 or the local
    UTM overseas), with ``lon``/``lat`` (WGS84) for rows without them when the spec has them.
    """
    if geom is not None:
        return geom, pd.Series(True, index=df.index)
    epsg = pt.row_epsg(df, found.get("epsg"), communes, crs)
    return t.points_from_columns(df, name=name, x=found["x"], y=found["y"], epsg=epsg,
                                 lon=found.get("lon"), lat=found.get("lat"))


_BPE_SPEC: dict[str, tuple[str, ...]] = {
    "typequ": ("TYPEQU",),
    "insee_com": ("DEPCOM", "insee_com", "CODGEO"),
    "code_iris": ("DCIRIS", "code_iris"),
    "code_qpv": ("QP2024", "QP", "code_qpv"),
    "x": ("LAMBERT_X", "X"),
    "y": ("LAMBERT_Y", "Y"),
    "epsg": ("EPSG",),
    "lon": ("LONGITUDE",),
    "lat": ("LATITUDE",),
}


def read_bpe(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
    communes: Iterable[str] | str | None = None,
    progress: ProgressCallback | None = None,
) -> gpd.GeoDataFrame:
    """Read BPE equipment points (INSEE Base permanente des équipements) in Lambert-93.

    Written for ``bpe21_ensemble_xy.csv`` (``;``: ``DEPCOM, DCIRIS, QP, TYPEQU, LAMBERT_X,
    LAMBERT_Y, QUALITE_XY…``) and the newer schema (adds ``QP2015, QP2024, LONGITUDE,
    LATITUDE, EPSG, QUALITE_GEOLOC…``). Coordinates ``LAMBERT_X/LAMBERT_Y`` are taken in the CRS
    of the ``EPSG`` column when present; without it, in Lambert-93 (EPSG:2154) in metropolitan
    France and the local UTM overseas (971/972 → 5490, 973 → 2972, 974 → 2975, 976 → 4471),
    unless ``crs=`` says otherwise. Rows without projected coordinates use ``LONGITUDE/
    LATITUDE`` (WGS84) when present. A vector layer (GeoPackage, GeoJSON) is also accepted.

    Health ``TYPEQU`` codes change between vintages (D201 vs D265 for GPs): read the
    nomenclature of the file's vintage.

    Parameters
    ----------
    path
        BPE CSV (``;``; or the ``.zip`` holding it) or vector layer.
    layer, crs, columns
        See :func:`read_layer`; ``crs`` is the CRS of X/Y for rows without an ``EPSG`` value.
    communes
        INSEE codes of the communes to keep (e.g. the 36 of the CALL). Text files are then read
        in chunks of 200 000 rows and only these rows stay in memory, so national files can be
        read directly.
    progress
        Callback ``(fraction 0–1, message in French)`` called while reading.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (EPSG:2154): ``typequ``, ``insee_com``, ``code_iris`` (9 characters; a 5-character
        ``DCIRIS`` of an unsplit commune becomes ``…0000``; missing when absent), ``code_qpv``
        (from ``QP2024``, else ``QP``; non-QPV values such as ``CSZ``/``HZ`` are missing), then
        ``source`` and the other original columns as text. Rows without coordinates are dropped
        and counted in a :class:`~qpvgeo.errors.DataQualityWarning`.
    """
    p = t.check_file(path)
    label = p.name
    df, geom, attrs = _read_source(p, name=label, layer=layer, crs=crs, spec=_BPE_SPEC,
                                  columns=columns, communes=communes, progress=progress)
    required = ["typequ", "insee_com"]
    found = t.resolve_columns(df, _BPE_SPEC, name=label, required=required, columns=columns)
    if geom is None and not ((found["x"] and found["y"]) or (found["lon"] and found["lat"])):
        t.resolve_columns(df, _BPE_SPEC, name=label, required=["x", "y"], columns=columns)
    insee = v.normalize_codes(t.text_or_none(df[str(found["insee_com"])]), "commune",
                              name=label, column=str(found["insee_com"]))
    norm = {
        "typequ": c.text_column(df, found["typequ"]),
        "insee_com": insee,
        "code_iris": pt.bpe_iris(df, found["code_iris"], insee, label),
        "code_qpv": c.qpv_column(df, found["code_qpv"], name=label),
    }
    if geom is None:
        attrs["crs_of_coordinates"] = (
            "EPSG column" if found["epsg"] else f"{crs} (crs=)" if crs is not None else
            "EPSG:2154 in metropolitan France, local UTM overseas (assumed)")
    pts, mask = _coordinates(df, found, geom, name=label, crs=crs, communes=insee)
    return pt.finish_points(norm, df, _used(found), pts, mask, name=label, what="equipment",
                            attrs=attrs)


_COLLEGE_SPEC: dict[str, tuple[str, ...]] = {
    "uai": ("uai", "numero_uai", "UAI", "identifiant_de_l_etablissement"),
    "nom": ("nom_de_l_etablissement", "appellation_officielle", "nom_etablissement",
            "patronyme", "nom"),
    "insee_com": ("code_insee_de_la_commune", "code_commune", "DEPCOM", "insee_com"),
    "nom_com": ("nom_de_la_commune", "libelle_commune", "nom_commune", "commune"),
    "ips": ("ips", "indice_de_position_sociale", "ips_etab"),
    "ep": ("appartenance_education_prioritaire", "education_prioritaire", "ep"),
    "x": ("coordonnee_x", "coordx", "X", "x"),
    "y": ("coordonnee_y", "coordy", "Y", "y"),
    "epsg": ("epsg", "EPSG"),
    "lon": ("longitude", "LONGITUDE"),
    "lat": ("latitude", "LATITUDE"),
}


def read_colleges(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
) -> gpd.GeoDataFrame:
    """Read collèges with their social-position index (IPS) and éducation prioritaire network.

    Written for the Éducation nationale open data (``fr-en-ips_colleges``: ``;``, ``uai,
    nom_de_l_etablissement, code_insee_de_la_commune, nom_de_la_commune, ips…``) joined with
    the school directory's coordinates (``coordonnee_x, coordonnee_y, epsg``, else
    ``longitude, latitude``) and ``appartenance_education_prioritaire`` (``REP``, ``REP+`` or
    blank), as one table; a point layer (GeoPackage, GeoJSON) with those attributes is also
    accepted. Coordinates without an ``epsg`` column are taken in Lambert-93 (EPSG:2154)
    unless ``crs=`` says otherwise.

    Parameters
    ----------
    path
        CSV (``;`` or ``,``) or vector layer.
    layer, crs, columns
        See :func:`read_layer`; ``columns`` maps ``uai``, ``nom``, ``insee_com``, ``ips``,
        ``ep``, ``x``, ``y`` to the file's names.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (EPSG:2154): ``uai``, ``nom``, ``insee_com`` (text, 5 characters), ``nom_com``
        (when given), ``ips`` (float; NaN when blank or secret, never 0), ``ep`` (``"REP"``,
        ``"REP+"`` or missing), then ``source`` and the other original columns. Rows without
        coordinates are dropped and counted in a :class:`~qpvgeo.errors.DataQualityWarning`.
    """
    p = t.check_file(path)
    label = p.name
    df, geom, attrs = _read_source(p, name=label, layer=layer, crs=crs, spec=_COLLEGE_SPEC,
                                  columns=columns, communes=None, progress=None)
    found = t.resolve_columns(df, _COLLEGE_SPEC, name=label, required=["nom", "insee_com"],
                              columns=columns)
    if geom is None and not ((found["x"] and found["y"]) or (found["lon"] and found["lat"])):
        t.resolve_columns(df, _COLLEGE_SPEC, name=label, required=["x", "y"], columns=columns)
    insee = v.normalize_codes(t.text_or_none(df[str(found["insee_com"])]), "commune",
                              name=label, column=str(found["insee_com"]))
    if found["ips"]:
        ips, _, bad = t.parse_numbers(df[str(found["ips"])], name=label,
                                      column=str(found["ips"]))
        if bad:
            warnings.warn(f"{label}: column {found['ips']} has non-numeric values "
                          f"({', '.join(bad)}); they are read as missing", DataQualityWarning,
                          stacklevel=2)
    else:
        ips = pd.Series(np.nan, index=df.index, dtype=float)
    if found["ep"]:
        ep = t.text_or_none(df[str(found["ep"])]).astype(object)
        ep = ep.where(ep.isna(), ep.astype(str).str.strip().str.upper()
                      .str.replace(" ", "", regex=False))
        ep = ep.where(ep.isin(["REP", "REP+"]), None)
    else:
        ep = pd.Series(None, index=df.index, dtype=object)
    norm: dict[str, Any] = {
        "uai": (c.text_column(df, found["uai"]) if found["uai"]
                else pd.Series(None, index=df.index, dtype=object)),
        "nom": c.text_column(df, found["nom"]),
        "insee_com": insee,
    }
    if found["nom_com"]:
        norm["nom_com"] = c.text_column(df, found["nom_com"])
    norm.update({"ips": ips.astype(float), "ep": ep})
    pts, mask = _coordinates(df, found, geom, name=label, crs=crs, communes=None)
    return pt.finish_points(norm, df, _used(found), pts, mask, name=label, what="collège",
                            attrs=attrs)


_RPLS_SPEC: dict[str, tuple[str, ...]] = {
    "insee_com": ("DEPCOM", "DEPCOM_CODE", "insee_com"),
    "construct_year": ("CONSTRUCT", "construct_year"),
    "finan_code": ("FINAN_CODE", "FINAN", "finan_code"),
    "nb_pieces": ("NBPIECE", "nb_pieces"),
    "surface_m2": ("SURFHAB", "surface_m2"),
    "dpe_energie": ("DPEENERGIE", "dpe_energie"),
    "code_qpv": ("PLG_QP24", "code_qpv"),
    "x": ("X",),
    "y": ("Y",),
    "epsg": ("EPSG",),
}


def read_rpls(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
    communes: Iterable[str] | str | None = None,
    progress: ProgressCallback | None = None,
) -> gpd.GeoDataFrame:
    """Read RPLS social-housing dwellings (SDES, one row per dwelling) as Lambert-93 points.

    Written for the DiDo export of 2025 (``;``, UTF-8 with BOM, 73 columns: ``DEPCOM, …,
    CONSTRUCT, NBPIECE, SURFHAB, FINAN_CODE, DPEENERGIE, EPSG, X, Y, PLG_QP24…``) and older
    regional files (ISO-8859-1: ``DEPCOM_CODE`` or ``DEPCOM``, ``FINAN``, ``QPV``). Unverified
    spellings are checked against the header at load and the known alternatives accepted:
    ``DEPCOM``/``DEPCOM_CODE``, ``FINAN_CODE``/``FINAN``; ``QPV_CODE``/``QPV`` (a ``1`` = in
    QPV flag, kept as is, not interpreted). Coordinates ``X/Y`` are in the CRS of the ``EPSG``
    column; without it Lambert-93 in metropolitan France (local UTM overseas) is assumed, or
    ``crs=``. A file without DPE or without ``PLG_QP24`` needs ``columns={"DPEENERGIE": None}``
    (the field is then missing). A vector layer of dwellings is also accepted.

    Parameters
    ----------
    path
        RPLS CSV (``;``; or the ``.zip`` holding it) or vector layer.
    layer, crs, columns
        See :func:`read_layer`; ``crs`` is the CRS of X/Y for rows without an ``EPSG`` value.
    communes
        INSEE codes of the communes to keep (e.g. the 36 of the CALL). Text files are then read
        in chunks of 200 000 rows and only these rows stay in memory, so national files can be
        read directly.
    progress
        Callback ``(fraction 0–1, message in French)`` called while reading.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (EPSG:2154): ``insee_com``, ``construct_year`` (year built, float, NaN when
        blank), ``finan_code`` (text: ``10`` PLAI, ``12`` PLA, ``13`` PLUS, ``14`` PLS,
        ``50``–``55`` pre-1977…), ``nb_pieces`` (rooms), ``surface_m2`` (living area, m²),
        ``dpe_energie`` (``A``–``G``, missing when blank or another value), ``code_qpv``
        (2024 QPV code from ``PLG_QP24``, missing outside QPV), then ``source`` and the other
        original columns as text. Dwellings without coordinates are dropped
        and counted in a warning.
    """
    p = t.check_file(path)
    label = p.name
    df, geom, attrs = _read_source(p, name=label, layer=layer, crs=crs, spec=_RPLS_SPEC,
                                  columns=columns, communes=communes, progress=progress)
    required = ["insee_com", "construct_year", "finan_code", "nb_pieces", "surface_m2",
                "dpe_energie", "code_qpv"]
    if geom is None:
        required += ["x", "y"]
    found = t.resolve_columns(df, _RPLS_SPEC, name=label, required=required, columns=columns,
                              nullable=required[1:7])
    insee = v.normalize_codes(t.text_or_none(df[str(found["insee_com"])]), "commune",
                              name=label, column=str(found["insee_com"]))
    finan = c.text_column(df, found["finan_code"])
    finan = finan.where(finan.isna(), finan.astype(str).str.replace(r"\.0$", "", regex=True))
    dpe = c.text_column(df, found["dpe_energie"])
    dpe = dpe.where(dpe.isna(), dpe.astype(str).str.upper())
    bad_dpe = dpe.notna() & ~dpe.isin(list("ABCDEFG"))
    if bad_dpe.any():
        t.warn_unknown(label, str(found["dpe_energie"]), pd.unique(dpe[bad_dpe])[:5],
                       int(bad_dpe.sum()), "DPE classes A–G")
        dpe = dpe.where(~bad_dpe, None)
    norm = {
        "insee_com": insee,
        "construct_year": c.float_column(df, found["construct_year"], name=label, what="years"),
        "finan_code": finan,
        "nb_pieces": c.float_column(df, found["nb_pieces"], name=label, what="room counts"),
        "surface_m2": c.float_column(df, found["surface_m2"], name=label, what="areas"),
        "dpe_energie": dpe.astype(object),
        "code_qpv": c.qpv_column(df, found["code_qpv"], name=label),
    }
    pts, mask = _coordinates(df, found, geom, name=label, crs=crs, communes=insee)
    return pt.finish_points(norm, df, _used(found), pts, mask, name=label, what="dwelling",
                            attrs=attrs)


_SIRENE_SPEC: dict[str, tuple[str, ...]] = {
    "siret": ("siret",),
    "creation_date": ("dateCreationEtablissement", "creation_date"),
    "naf": ("activitePrincipaleEtablissement", "naf"),
    "categorie_juridique": ("categorieJuridiqueUniteLegale", "categorie_juridique"),
    "etat": ("etatAdministratifEtablissement", "etat"),
    "insee_com": ("codeCommuneEtablissement", "insee_com"),
    "code_qpv": ("plg_qp24", "code_qpv"),
    "x": ("coordonneeLambertAbscisseEtablissement",),
    "y": ("coordonneeLambertOrdonneeEtablissement",),
}

def read_sirene(
    path: str | Path,
    *,
    geolocation: str | Path | None = None,
    legal_units: str | Path | None = None,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
    communes: Iterable[str] | str | None = None,
    progress: ProgressCallback | None = None,
) -> gpd.GeoDataFrame:
    """Read SIRENE establishments (INSEE) as Lambert-93 points.

    Written for ``StockEtablissement_utf8.csv`` (``,``: ``siret, dateCreationEtablissement,
    codeCommuneEtablissement, coordonneeLambertAbscisseEtablissement,
    coordonneeLambertOrdonneeEtablissement, etatAdministratifEtablissement,
    activitePrincipaleEtablissement`` NAF rév. 2), usually an extract of it, optionally with
    the geolocation file ``GeolocalisationEtablissement_Sirene_pour_etudes_statistiques``
    (``;``: ``siret, x, y, epsg, plg_qp24, x_longitude, y_latitude…``) joined by ``siret``, and
    ``StockUniteLegale`` (``siren, categorieJuridiqueUniteLegale``) joined by ``siren``.
    Coordinates come from the geolocation file when given (CRS from its ``epsg`` column), else
    from the stock's Lambert columns (Lambert-93 in metropolitan France, local UTM overseas,
    or ``crs=``). Establishments that are closed (``etat`` = ``F``) are kept: filter on
    ``etat`` or ``creation_date`` as needed. A vector layer of establishments is also accepted.

    Parameters
    ----------
    path
        Stock file (or extract) of establishments.
    geolocation
        Geolocation file, joined by ``siret``.
    legal_units
        ``StockUniteLegale`` file (or extract), joined by ``siren`` for the legal category.
    communes
        INSEE codes of the communes to keep (e.g. the 36 of the CALL). Text files are then read
        in chunks of 200 000 rows and only these rows stay in memory, so national files can be
        read directly.
    progress
        Callback ``(fraction 0–1, message in French)`` called while reading.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (EPSG:2154): ``siret`` (14 digits, text), ``creation_date`` (datetime64, NaT when
        missing), ``naf`` (e.g. ``86.21Z``), ``categorie_juridique`` (text, ``1000`` =
        entrepreneur individuel; missing when not given), ``etat`` (``A`` active, ``F`` closed),
        ``insee_com``, ``code_qpv`` (``plg_qp24`` of the geolocation file; missing without it or
        outside QPV), then ``source`` and the other original columns. Establishments without
        coordinates (including non-diffusible ``[ND]`` ones) are dropped and counted in a
        warning.
    """
    p = t.check_file(path)
    label = p.name
    df, geom, attrs = _read_source(p, name=label, layer=layer, crs=crs, spec=_SIRENE_SPEC,
                                  columns=columns, communes=communes,
                                  progress=scaled(progress, 0.0, 0.6))
    if (geolocation is None and v.find_column(df, "plg_qp24") is not None
            and v.find_column(df, "dateCreationEtablissement") is None):
        raise SchemaError(
            f"{label}: this looks like the SIRENE geolocation file (siret, x, y, plg_qp24); "
            "pass the establishment stock as path and this file as geolocation="
        )
    required = ["siret", "creation_date", "naf", "etat", "insee_com"]
    if geom is None and geolocation is None:
        required += ["x", "y"]
    found = t.resolve_columns(df, _SIRENE_SPEC, name=label, required=required, columns=columns,
                              nullable=["creation_date", "naf", "etat"])
    siret = c.pad_digits(df[str(found["siret"])], 14, name=label, column=str(found["siret"]),
                        what="SIRET numbers")
    insee = v.normalize_codes(t.text_or_none(df[str(found["insee_com"])]), "commune",
                              name=label, column=str(found["insee_com"]))
    created_text = c.text_column(df, found["creation_date"])
    created = pd.to_datetime(created_text, format="%Y-%m-%d", errors="coerce")
    bad = created.isna() & created_text.notna()
    if bad.any():
        t.warn_unknown(label, str(found["creation_date"]), pd.unique(created_text[bad])[:5],
                       int(bad.sum()), "dates YYYY-MM-DD")
    cat = c.text_column(df, found["categorie_juridique"])
    if legal_units is not None:
        cat = pt.legal_categories(Path(legal_units), siret,
                                  progress=scaled(progress, 0.9, 1.0))
    norm: dict[str, Any] = {
        "siret": siret, "creation_date": created, "naf": c.text_column(df, found["naf"]),
        "categorie_juridique": cat, "etat": c.text_column(df, found["etat"]),
        "insee_com": insee,
        "code_qpv": c.qpv_column(df, found["code_qpv"], name=label),
    }
    used = _used(found)
    if geolocation is not None:
        g = pt.read_geolocation(Path(geolocation), siret, progress=scaled(progress, 0.6, 0.9))
        norm["code_qpv"] = g["code_qpv"]
        epsg = g["epsg"].where(g["epsg"].notna(), pt.row_epsg(df, None, insee, crs))
        pts, mask = t.points_from_columns(g, name=Path(geolocation).name, x="x", y="y",
                                          epsg=epsg, lon="lon", lat="lat")
        attrs["geolocation"] = Path(geolocation).name
    else:
        pts, mask = _coordinates(df, found, geom, name=label, crs=crs, communes=insee)
    return pt.finish_points(norm, df, used, pts, mask, name=label, what="establishment",
                          attrs=attrs)


# --------------------------------------------------------------------------------------------
# Buildings
# --------------------------------------------------------------------------------------------

_BUILDING_SPEC: dict[str, tuple[str, ...]] = {
    "building_id": ("ID", "cleabs"),
    "usage1": ("USAGE1", "usage_1"),
    "nb_logts": ("NB_LOGTS", "nombre_de_logements"),
    "nb_etages": ("NB_ETAGES", "nombre_d_etages"),
    "hauteur": ("HAUTEUR",),
}


def read_buildings(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: Any = None,
    columns: ColumnMap | None = None,
) -> gpd.GeoDataFrame:
    """Read building footprints (IGN BD TOPO ``BATIMENT``) in Lambert-93.

    Written for BD TOPO v3 shapefiles (``BATI/BATIMENT.shp``: ``ID, NATURE, USAGE1, USAGE2,
    NB_LOGTS, NB_ETAGES, HAUTEUR…``) and the GeoPackage/WFS layer ``batiment`` (``cleabs,
    usage_1, nombre_de_logements, nombre_d_etages, hauteur…``; chosen by default in a
    multi-layer GeoPackage). Z coordinates are dropped. For other sources (OSM, cadastre) map
    the fields, e.g. ``columns={"ID": "osm_id", "USAGE1": "building", "NB_LOGTS": None,
    "NB_ETAGES": None, "HAUTEUR": None}``.

    Returns
    -------
    geopandas.GeoDataFrame
        Polygons (EPSG:2154): ``building_id`` (text), ``usage1`` (``Résidentiel``,
        ``Indifférencié``…), ``nb_logts`` (dwellings), ``nb_etages`` (storeys), ``hauteur``
        (metres) as floats, NaN when empty (often, in BD TOPO) — never 0 — then ``source`` and the
        other original columns, ``geometry``.
    """
    p = t.check_file(path)
    label = p.name
    gdf = lay.open_layer(p, layer=layer, crs=crs, name=label, prefer=("batiment",),
                      geom_kind="polygon")
    found = t.resolve_columns(gdf, _BUILDING_SPEC, name=label, required=list(_BUILDING_SPEC),
                              nullable=["usage1", "nb_logts", "nb_etages", "hauteur"],
                              columns=columns)
    ids = c.text_column(gdf, found["building_id"])
    ids = ids.where(ids.isna(), ids.astype(str).str.replace(r"\.0$", "", regex=True))
    norm = {
        "building_id": ids,
        "usage1": c.text_column(gdf, found["usage1"]),
        "nb_logts": c.float_column(gdf, found["nb_logts"], name=label, what="dwelling counts"),
        "nb_etages": c.float_column(gdf, found["nb_etages"], name=label, what="storey counts"),
        "hauteur": c.float_column(gdf, found["hauteur"], name=label, what="heights"),
    }
    out = t.assemble(norm, gdf, found.values(), index=gdf.index)
    geometry = gpd.GeoSeries(shapely.force_2d(np.asarray(gdf.geometry.array)), index=gdf.index,
                             crs=v.LAMBERT93)
    result = gpd.GeoDataFrame(out, geometry=geometry, crs=v.LAMBERT93)
    result.attrs["qpvgeo"] = {"source": label, "vintage": None, "level": "building"}
    return result

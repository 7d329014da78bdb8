"""Social housing (RPLS) and housing quality per zone.

From the RPLS dwelling points (one row per dwelling, read with :func:`qpvgeo.io.read_rpls`),
per zone (QPV, IRIS, commune or a one-row territory; the zones' index identifies zones):

- :func:`social_housing_stock`: social dwellings, share among main residences (denominator
  ``P20_RP`` given by the caller, e.g. interpolated from IRIS with
  :func:`qpvgeo.interpolation.interpolate`, and marked as an estimate), densities per hectare
  and per 1,000 inhabitants, share of the territory's social stock, vacancy when the file has
  the occupancy mode;
- :func:`rpls_composition`: construction era, financing (PLAI / PLUS / PLS / PLI, before and
  after 1977), dwelling size (T1…T5+), DPE energy label;
- :func:`social_housing`: both tables side by side;
- :func:`housing_quality`: dwellings and area per quality class (bon / moyen / médiocre /
  mauvais, as in a PLH diagnostic) from a polygon or point layer, share "médiocre ou mauvais".

What identifies a dwelling in RPLS
    The public *données détaillées au logement* file has one row per dwelling but **no dwelling
    identifier**: the repository identifier (10 characters, arrêté of 5 January 2010) and the
    landlord's identifier are not published, and two identical flats on the same floor of the
    same building give identical rows. Identical rows are therefore *not* duplicates and are
    all counted. When an extract carries an identifier (``id_col``, e.g. the "version loi"
    supplied to local authorities), it must be unique: duplicates raise
    :class:`~qpvgeo.errors.DuplicateKeyError`, or are dropped (first kept) with a warning when
    ``duplicates="drop"``.

Counts and shares
    For each categorical variable the output carries counts per category, the count of known
    values (``*_known_count``) and of unknown ones (``*_unknown_count``: blank, invalid or
    unlisted codes), and shares among *known* values (``*_share``, 0–1), so that an aggregate
    over several zones can be recomputed from the counts. Unknown shares (``*_unknown_share``)
    are over all dwellings.
"""

from __future__ import annotations

import itertools
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _validate as v
from qpvgeo.equipment import (
    PointAssignment,
    _assign,
    _category_columns,
    _estimate_flag,
    _prepare_zones,
    _source_of,
    _warn_again,
    _with_territory_row,
    count_categories,
    population_denominator,
    safe_ratio,
)
from qpvgeo.errors import DataQualityWarning, DuplicateKeyError, SchemaError

__all__ = [
    "DEFAULT_ERA_BREAKS",
    "DPE_CLASSES",
    "FINANCING",
    "QUALITY_CLASSES",
    "construction_era",
    "dpe_class",
    "dwelling_size",
    "era_labels",
    "financing_group",
    "housing_quality",
    "prepare_rpls",
    "rpls_composition",
    "social_housing",
    "social_housing_stock",
]

# --------------------------------------------------------------------------------------------
# Code tables
# --------------------------------------------------------------------------------------------

FINANCING = pd.DataFrame(
    [
        # code, label (French, as in the RPLS nomenclature), period, group, verified
        ("10", "PLA d'intégration (PLAI)", "après 1977", "plai", True),
        ("11", "PLA loyer minoré, très social ou insertion", "après 1977", "plai", True),
        ("12", "PLA ordinaire", "après 1977", "plus", True),
        ("13", "PLUS", "après 1977", "plus", True),
        ("14", "PLS, PPLS, PCLS, PLA CFF", "après 1977", "pls", True),
        ("15", "PAP locatif", "après 1977", "pli", False),
        ("16", "PLI", "après 1977", "pli", True),
        ("17", "PCL (conventionné ou non)", "après 1977", "pli", True),
        ("49", "Autre financement après 1977", "après 1977", "autre_apres_1977", True),
        ("50", "HBM", "avant 1977", "hlm_avant_1977", True),
        ("51", "PLR, PSR", "avant 1977", "hlm_avant_1977", True),
        ("52", "HLM/O", "avant 1977", "hlm_avant_1977", True),
        ("53", "ILM", "avant 1977", "intermediaire_avant_1977", True),
        ("54", "ILN", "avant 1977", "intermediaire_avant_1977", True),
        ("55", "Prêts spéciaux du CFF", "avant 1977", "intermediaire_avant_1977", True),
        ("99", "Autre financement avant 1977", "avant 1977", "autre_avant_1977", True),
    ],
    columns=["code", "label", "period", "group", "verified"],
)
"""RPLS initial financing codes (``FINAN``/``FINAN_CODE``) → financing group.

Groups: ``plai`` (PLA d'intégration and the very social PLA: loyer minoré, très social,
insertion), ``plus`` (PLUS and its predecessor the PLA ordinaire), ``pls``, ``pli`` (PLI, PCL,
PAP locatif: intermediate rents), ``autre_apres_1977``; before 1977 (1983 overseas):
``hlm_avant_1977`` (HBM, PLR/PSR, HLM/O: the social stock of the time),
``intermediaire_avant_1977`` (ILM, ILN, CFF loans), ``autre_avant_1977``. Codes from the RPLS
nomenclature (see ``DOMAIN.md`` §6 and the arrêté of 5 January 2010); code 15 (PAP locatif,
listed by the arrêté between PLS and PLI) is not confirmed in a published file
(``verified=False``). Any other code is counted as unknown (``inconnu``) with a warning.
"""

FINANCING_GROUPS: tuple[str, ...] = (
    "plai", "plus", "pls", "pli", "autre_apres_1977",
    "hlm_avant_1977", "intermediaire_avant_1977", "autre_avant_1977",
)

DEFAULT_ERA_BREAKS: tuple[int, ...] = (1949, 1975, 1990, 2001)
"""Construction-era boundaries (first year of each era after the first): before 1949,
1949–1974, 1975–1989, 1990–2000, 2001 and after (the diagnostic quotes "avant 1949" and
"à partir de 2001")."""

DPE_CLASSES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G")
"""Energy-label classes of the DPE (``DPEENERGIE``); anything else is unknown."""

SIZE_CLASSES: tuple[str, ...] = ("t1", "t2", "t3", "t4", "t5p")
"""Dwelling sizes from the number of main rooms (``NBPIECE``): T1 … T4, T5 and more."""

QUALITY_CLASSES: tuple[str, ...] = ("bon", "moyen", "mediocre", "mauvais")
"""Default housing-quality classes (PLH diagnostic), accents and case ignored."""

MODE_CODES: dict[str, str] = {
    "1": "loue", "2": "vacant", "3": "vide", "4": "association", "5": "occupe_autre",
    "9": "sans_objet",
}
"""RPLS occupancy mode on 1 January (``MODE``, arrêté of 5 January 2010): 1 let, 2 offered for
rent but vacant, 3 empty (works, demolition or sale pending), 4 managed by an association,
5 occupied otherwise, 9 not applicable."""

_RPLS_COLUMNS: dict[str, list[str]] = {
    "year": ["construct_year", "construct", "annee_construction"],
    "finan": ["finan_code", "finan"],
    "rooms": ["nb_pieces", "nbpiece"],
    "dpe": ["dpe_energie", "dpeenergie"],
    "mode": ["mode", "mode_code", "mode_occupation"],
}
_ID_CANDIDATES = ["rpls_id", "ident_rep", "id_logement"]


# --------------------------------------------------------------------------------------------
# Classifiers
# --------------------------------------------------------------------------------------------

def era_labels(breaks: Sequence[int] = DEFAULT_ERA_BREAKS) -> list[str]:
    """Return the era labels for ``breaks``.

    Examples
    --------
    >>> era_labels((1949, 1975))
    ['avant_1949', '1949_1974', '1975_et_apres']
    """
    b = [int(x) for x in breaks]
    if not b or any(b2 <= b1 for b1, b2 in itertools.pairwise(b)):
        raise ValueError(f"era breaks must be increasing years, got {list(breaks)}")
    labels = [f"avant_{b[0]}"]
    labels += [f"{lo}_{hi - 1}" for lo, hi in itertools.pairwise(b)]
    labels.append(f"{b[-1]}_et_apres")
    return labels


def construction_era(
    years: pd.Series, breaks: Sequence[int] = DEFAULT_ERA_BREAKS, *, min_year: int = 1500,
    max_year: int | None = None,
) -> pd.Series:
    """Classify construction years into eras.

    Parameters
    ----------
    years
        Year the building was completed (``CONSTRUCT``); text or numbers.
    breaks
        First year of each era after the first (default: before 1949, 1949–1974, 1975–1989,
        1990–2000, 2001 and after).
    min_year, max_year
        Years outside ``[min_year, max_year]`` (default max: this year + 1) are unknown.

    Returns
    -------
    pandas.Series
        Era label per dwelling (see :func:`era_labels`), missing when unknown; index kept.
    """
    labels = era_labels(breaks)
    y = pd.to_numeric(years, errors="coerce")
    hi = max_year if max_year is not None else pd.Timestamp.now().year + 1
    valid = y.notna() & (y >= min_year) & (y <= hi)
    pos = np.searchsorted(np.asarray(breaks, dtype=float), y.to_numpy(float), side="right")
    out = pd.Series(np.array(labels, dtype=object)[np.clip(pos, 0, len(labels) - 1)],
                    index=years.index, dtype=object)
    out[~valid] = None
    return out


def _clean_code(values: pd.Series) -> pd.Series:
    """Codes as stripped text, '13.0' → '13', blanks → missing."""
    s = values.astype(object).where(values.notna(), None)

    def _c(x: Any) -> Any:
        if x is None:
            return None
        if isinstance(x, (float, np.floating)):
            if not np.isfinite(x):
                return None
            if float(x).is_integer():
                return str(int(x))
        t = str(x).strip()
        if t.endswith(".0") and t[:-2].isdigit():
            t = t[:-2]
        return t or None

    return s.map(_c)


def financing_group(codes: pd.Series, *, name: str | None = None,
                    warn: bool = True) -> pd.Series:
    """Map RPLS financing codes to the groups of :data:`FINANCING`.

    Blank codes are missing (``None``); listed codes give their group; any other code gives
    ``"inconnu"`` and a :class:`~qpvgeo.errors.DataQualityWarning` listing the codes.
    """
    c = _clean_code(codes)
    table = dict(zip(FINANCING["code"], FINANCING["group"], strict=True))
    out = pd.Series([None if pd.isna(x) else table.get(x, "inconnu") for x in c],
                    index=c.index, dtype=object)
    unknown = c[(out == "inconnu")]
    if warn and len(unknown):
        shown = ", ".join(map(str, pd.unique(unknown)[:10]))
        warnings.warn(f"{v.layer_name(name)}: {len(unknown)} dwelling(s) have a financing code "
                      f"not in the RPLS nomenclature ({shown}); counted as 'inconnu'",
                      DataQualityWarning, stacklevel=3)
    return out.astype(object)


def dwelling_size(rooms: pd.Series) -> pd.Series:
    """Dwelling size T1 … T5+ (``t1`` … ``t5p``) from the number of main rooms.

    Rooms ≤ 0, non-integer or missing give a missing size.
    """
    r = pd.to_numeric(rooms, errors="coerce")
    ok = r.notna() & (r >= 1) & (r == np.floor(r))
    lab = np.where(r >= 5, "t5p", "t" + r.fillna(0).astype(int).astype(str))
    out = pd.Series(lab, index=rooms.index, dtype=object)
    out[~ok] = None
    return out


def dpe_class(labels: pd.Series) -> pd.Series:
    """Energy label A–G (upper case); blank or anything else is missing."""
    s = labels.astype(object).where(labels.notna(), "").astype(str).str.strip().str.upper()
    vals = [x if x in DPE_CLASSES else None for x in s.tolist()]
    return pd.Series(vals, index=labels.index, dtype=object)


# --------------------------------------------------------------------------------------------
# RPLS preparation
# --------------------------------------------------------------------------------------------

def prepare_rpls(
    rpls: gpd.GeoDataFrame, *, id_col: str | None = None,
    duplicates: Literal["raise", "drop"] = "raise", name: str | None = None,
) -> gpd.GeoDataFrame:
    """Check the RPLS dwelling layer and apply the identifier rule (see the module docstring).

    Parameters
    ----------
    rpls
        RPLS dwelling points (any CRS); not modified.
    id_col
        Column identifying a dwelling, if the extract has one. By default one of ``rpls_id``,
        ``ident_rep``, ``id_logement`` is used when present; otherwise rows are not
        de-duplicated (the public file has no identifier and identical rows are distinct
        dwellings).
    duplicates
        ``"raise"`` (default): duplicated identifiers raise
        :class:`~qpvgeo.errors.DuplicateKeyError`; ``"drop"``: keep the first row of each
        identifier, with a :class:`~qpvgeo.errors.DataQualityWarning`.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in EPSG:2154, index kept (minus dropped duplicates). ``attrs["qpvgeo"]`` records
        the identifier used and the number of rows dropped.
    """
    if not isinstance(rpls, gpd.GeoDataFrame):
        raise SchemaError(f"{v.layer_name(name)}: expected a GeoDataFrame of RPLS dwelling points "
                          "(qpvgeo.io.read_rpls)")
    v.check_not_empty(rpls, name=name, what="dwelling")
    out = v.to_lambert93(rpls, name=name)
    col = id_col if id_col is not None else v.find_column(out, _ID_CANDIDATES)
    dropped = 0
    if col is not None:
        if col not in out.columns:
            raise SchemaError(v.missing_message(name, [col], out.columns,
                                                "pass id_col=None if the file has no identifier"))
        ids = out[col].astype(object)
        dup = ids.notna() & ids.duplicated(keep="first")
        if dup.any():
            if duplicates == "raise":
                shown = ", ".join(map(str, pd.unique(ids[dup])[:10]))
                raise DuplicateKeyError(
                    f"{v.layer_name(name)}: column {col} identifies dwellings but "
                    f"{int(dup.sum())} row(s) repeat an identifier ({shown}); remove the "
                    "duplicates (e.g. a file appended twice) or pass duplicates='drop' to keep "
                    "the first row of each identifier")
            dropped = int(dup.sum())
            warnings.warn(f"{v.layer_name(name)}: {dropped} row(s) with a duplicated {col} "
                          "dropped (first row of each identifier kept)", DataQualityWarning,
                          stacklevel=2)
            out = out.loc[~dup]
    out.attrs["qpvgeo"] = {"rpls_id_column": col, "rpls_duplicates_dropped": dropped}
    return out


# --------------------------------------------------------------------------------------------
# Per-zone tables
# --------------------------------------------------------------------------------------------

def _zone_area_ha(zs: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(shapely.area(np.asarray(zs.geometry.array)), dtype=float) / 10_000.0


def _assign_rpls(
    rpls: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, territory: gpd.GeoDataFrame | None,
    id_col: str | None, duplicates: Literal["raise", "drop"], name: str | None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, PointAssignment]:
    dw = prepare_rpls(rpls, id_col=id_col, duplicates=duplicates, name=name)
    zs = _prepare_zones(zones)
    assign = _assign(dw, zs, territory=territory, name=name, what="RPLS dwellings", warn=True)
    return dw, zs, assign


def _attrs(out: pd.DataFrame, method: str, *layers: pd.DataFrame | None,
           extra: Mapping[str, Any] | None = None, default_source: str = "RPLS") -> pd.DataFrame:
    src = _source_of(*layers)
    out.attrs["qpvgeo"] = {"source": src or default_source, "method": method, **(extra or {})}
    if src == v.ILLUSTRATIVE:
        out["source"] = v.ILLUSTRATIVE
    return out


def social_housing_stock(
    rpls: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    main_residences: str | pd.Series | None = None,
    main_residences_is_estimate: bool | str | pd.Series | None = None,
    population: str | pd.Series | None = None,
    population_is_estimate: bool | str | pd.Series | None = None,
    territory: gpd.GeoDataFrame | None = None,
    id_col: str | None = None,
    duplicates: Literal["raise", "drop"] = "raise",
    territory_row: bool = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Social dwellings per zone, their share among main residences and their densities.

    Parameters
    ----------
    rpls
        RPLS dwelling points (:func:`qpvgeo.io.read_rpls`), any CRS; not modified.
    zones
        Zone polygons (index identifies zones), any CRS.
    main_residences
        Main residences per zone (census ``P20_RP``): a column of ``zones`` or a Series indexed
        like them. For QPV it usually comes from IRIS through
        :func:`qpvgeo.interpolation.interpolate` and is an estimate.
    main_residences_is_estimate, population_is_estimate
        Whether the denominators are estimates: bool, column of ``zones`` or Series. By default
        a companion column ``<column>_is_estimate`` or ``is_estimate`` of the zones is used.
    population
        Inhabitants per zone (column of ``zones`` or Series).
    territory
        Territory polygon(s) (e.g. the EPCI). The dwellings inside it are the denominator of
        ``rpls_share_of_territory`` (dwellings of a zone overflowing the territory are counted
        in the zone but not in that denominator); without it, all located dwellings given are.
    id_col, duplicates
        Dwelling identifier rule, see :func:`prepare_rpls`.
    territory_row
        Append a last row labelled ``"territory"`` computed the same way on the dissolved
        ``territory`` (denominators: the territory layer's column of the same name, or the
        ``"territory"`` label of a Series).
    name
        Name of the RPLS file used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order:

        - ``rpls_count``: social dwellings in the zone;
        - ``rp_count``, ``rp_is_estimate``; ``rpls_share_of_rp`` = rpls_count / rp_count (0–1;
          RPLS counts vacant dwellings too, so it may exceed 1 in a small zone),
          ``rpls_share_of_rp_missing_reason``;
        - ``area_ha`` (hectares, EPSG:2154), ``rpls_per_ha``;
        - ``pop``, ``pop_is_estimate``; ``rpls_per_1000_inhab``,
          ``rpls_per_1000_inhab_missing_reason``;
        - ``territory_rpls_count`` (same on every row) and ``rpls_share_of_territory``;
        - vacancy when the file has the occupancy mode ``MODE``: ``rpls_let_count`` (mode 1),
          ``rpls_vacant_count`` (mode 2), ``rpls_empty_count`` (mode 3, not offered),
          ``rpls_vacancy_share`` = vacant / (let + vacant), the SDES definition over dwellings
          offered for rent; NaN with ``rpls_vacancy_missing_reason`` otherwise.

        ``attrs["qpvgeo"]`` holds provenance and the counts of dwellings not located.
    """
    if territory_row:
        return _with_territory_row(social_housing_stock, dict(locals()))
    dw, zs, assign = _assign_rpls(rpls, zones, territory, id_col, duplicates, name)
    idx = zones.index
    n_z = len(zs)
    count = assign.counts(n_z)
    out = pd.DataFrame(index=idx)
    out["rpls_count"] = count
    rp, rp_reason = population_denominator(zones, main_residences, what="main residences")
    out["rp_count"] = rp.to_numpy()
    out["rp_is_estimate"] = _estimate_flag(zones, main_residences_is_estimate,
                                           main_residences).to_numpy()
    share, reason = safe_ratio(count, rp, index=idx, den_reason=rp_reason)
    out["rpls_share_of_rp"] = share.to_numpy()
    out["rpls_share_of_rp_missing_reason"] = reason.to_numpy()
    area = _zone_area_ha(zs)
    out["area_ha"] = area
    dens, _ = safe_ratio(count, area, index=idx)
    out["rpls_per_ha"] = dens.to_numpy()
    pop, pop_reason = population_denominator(zones, population)
    out["pop"] = pop.to_numpy()
    out["pop_is_estimate"] = _estimate_flag(zones, population_is_estimate, population).to_numpy()
    per, per_reason = safe_ratio(count, pop, index=idx, den_reason=pop_reason, scale=1000.0)
    out["rpls_per_1000_inhab"] = per.to_numpy()
    out["rpls_per_1000_inhab_missing_reason"] = per_reason.to_numpy()
    geom_ok = ~shapely.is_missing(np.asarray(dw.geometry.array))
    terr_total = float((assign.in_territory & geom_ok).sum())
    out["territory_rpls_count"] = terr_total
    tshare, _ = safe_ratio(count, np.full(n_z, terr_total), index=idx)
    out["rpls_share_of_territory"] = tshare.to_numpy()

    mode_col = v.find_column(dw, _RPLS_COLUMNS["mode"])
    if mode_col is not None:
        mode = _clean_code(dw[mode_col]).map(MODE_CODES)
        counts = count_categories(assign, mode, n_z, ["loue", "vacant", "vide"])
        out["rpls_let_count"] = counts["loue"].to_numpy()
        out["rpls_vacant_count"] = counts["vacant"].to_numpy()
        out["rpls_empty_count"] = counts["vide"].to_numpy()
        offered = counts["loue"].to_numpy() + counts["vacant"].to_numpy()
        vac, vac_reason = safe_ratio(counts["vacant"].to_numpy(), offered, index=idx)
        out["rpls_vacancy_share"] = vac.to_numpy()
        out["rpls_vacancy_missing_reason"] = vac_reason.replace(
            {"zero": "no_dwelling_offered"}).to_numpy()
    else:
        for c in ("rpls_let_count", "rpls_vacant_count", "rpls_empty_count",
                  "rpls_vacancy_share"):
            out[c] = np.nan
        out["rpls_vacancy_missing_reason"] = "no_mode_column"
    return _attrs(
        out, "logements RPLS localisés par point dans la zone; part des résidences principales "
             "= logements RPLS / résidences principales (recensement)",
        rpls, zones, extra={**assign.as_attrs("rpls"), **dw.attrs.get("qpvgeo", {}),
                            "units": {"area_ha": "ha", "rpls_per_ha": "logements/ha",
                                      "rpls_per_1000_inhab": "logements pour 1 000 habitants",
                                      "_share": "part 0–1"}})


def _categorical_block(
    out: pd.DataFrame, prefix: str, values: pd.Series, levels: Sequence[str],
    assign: PointAssignment, n_z: int, total: np.ndarray,
) -> None:
    """Write ``{prefix}_{level}_count/_share``, known/unknown counts and unknown share."""
    known = _category_columns(out, prefix, assign, values, levels, n_z, total)
    ushare, _ = safe_ratio(total - known, total, index=out.index)
    out[f"{prefix}_unknown_share"] = ushare.to_numpy()


def rpls_composition(
    rpls: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    era_breaks: Sequence[int] = DEFAULT_ERA_BREAKS,
    territory: gpd.GeoDataFrame | None = None,
    id_col: str | None = None,
    duplicates: Literal["raise", "drop"] = "raise",
    columns: Mapping[str, str] | None = None,
    territory_row: bool = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Count social dwellings per zone by construction era, financing, size and energy label.

    Parameters
    ----------
    rpls
        RPLS dwelling points (:func:`qpvgeo.io.read_rpls`), any CRS; not modified. Columns are
        found case-insensitively under the reader's or the official names: construction year
        (``construct_year``/``CONSTRUCT``), financing (``finan_code``/``FINAN_CODE``/``FINAN``),
        rooms (``nb_pieces``/``NBPIECE``), energy label (``dpe_energie``/``DPEENERGIE``). A
        variable whose column is absent gives missing shares and an ``*_unknown_count`` equal to
        the dwellings.
    zones
        Zone polygons (index identifies zones).
    era_breaks
        Construction-era boundaries, see :func:`construction_era`.
    territory, id_col, duplicates, territory_row, name
        See :func:`social_housing_stock`.
    columns
        Explicit column names, ``{"year"|"finan"|"rooms"|"dpe": column}``.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order, with ``rpls_count`` and, for each block
        ``era`` (labels of :func:`era_labels`), ``finan`` (groups of :data:`FINANCING`),
        ``size`` (``t1`` … ``t5p``) and ``dpe`` (``a`` … ``g``): ``{block}_{level}_count``,
        ``{block}_{level}_share`` (0–1 among known values), ``{block}_known_count``,
        ``{block}_unknown_count`` (blank, invalid or unlisted), ``{block}_unknown_share``.
        Also ``finan_inconnu_count`` (codes outside the nomenclature, part of the unknown),
        ``finan_avant_1977_count`` and ``finan_avant_1977_share`` (among known financings),
        and ``dpe_fg_share`` (labels F or G among known labels).
    """
    if territory_row:
        return _with_territory_row(rpls_composition, dict(locals()))
    dw, zs, assign = _assign_rpls(rpls, zones, territory, id_col, duplicates, name)
    n_z = len(zs)
    out = pd.DataFrame(index=zones.index)
    total = assign.counts(n_z)
    out["rpls_count"] = total
    cols = dict(columns or {})
    found: dict[str, str | None] = {}
    for key, cands in _RPLS_COLUMNS.items():
        found[key] = cols.get(key) or v.find_column(dw, cands)
    missing = [k for k in ("year", "finan", "rooms", "dpe") if found[k] is None]
    if missing:
        warnings.warn(f"{v.layer_name(name)}: no column for {', '.join(missing)} "
                      "(looked for " + "; ".join("/".join(_RPLS_COLUMNS[k]) for k in missing)
                      + "); these shares are missing", DataQualityWarning, stacklevel=2)
    empty = pd.Series(None, index=dw.index, dtype=object)

    def col(key: str) -> pd.Series:
        c = found[key]
        return dw[c] if c is not None else empty

    _categorical_block(out, "era", construction_era(col("year"), era_breaks),
                       era_labels(era_breaks), assign, n_z, total)
    fin = financing_group(col("finan"), name=name)
    _categorical_block(out, "finan", fin, FINANCING_GROUPS, assign, n_z, total)
    out["finan_inconnu_count"] = count_categories(assign, fin, n_z, ["inconnu"])[
        "inconnu"].to_numpy()
    pre = fin.map(lambda g: None if g is None or g == "inconnu" else
                  ("avant" if g.endswith("avant_1977") else "apres"))
    pre_counts = count_categories(assign, pre, n_z, ["avant", "apres"])
    out["finan_avant_1977_count"] = pre_counts["avant"].to_numpy()
    s, _ = safe_ratio(pre_counts["avant"].to_numpy(), pre_counts.sum(axis=1).to_numpy(),
                      index=out.index)
    out["finan_avant_1977_share"] = s.to_numpy()
    _categorical_block(out, "size", dwelling_size(col("rooms")), SIZE_CLASSES, assign, n_z,
                       total)
    dpe = dpe_class(col("dpe")).str.lower()
    _categorical_block(out, "dpe", dpe, [c.lower() for c in DPE_CLASSES], assign, n_z, total)
    fg = out["dpe_f_count"].to_numpy() + out["dpe_g_count"].to_numpy()
    s, _ = safe_ratio(fg, out["dpe_known_count"].to_numpy(), index=out.index)
    out["dpe_fg_share"] = s.to_numpy()
    return _attrs(out, "répartition des logements RPLS de la zone par époque de construction, "
                       "financement initial, nombre de pièces et étiquette DPE; parts parmi les "
                       "valeurs renseignées", rpls, zones,
                  extra={**assign.as_attrs("rpls"), "columns": found,
                         "era_breaks": list(era_breaks)})


def social_housing(
    rpls: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    main_residences: str | pd.Series | None = None,
    main_residences_is_estimate: bool | str | pd.Series | None = None,
    population: str | pd.Series | None = None,
    population_is_estimate: bool | str | pd.Series | None = None,
    territory: gpd.GeoDataFrame | None = None,
    era_breaks: Sequence[int] = DEFAULT_ERA_BREAKS,
    id_col: str | None = None,
    duplicates: Literal["raise", "drop"] = "raise",
    territory_row: bool = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Stock (:func:`social_housing_stock`) and composition (:func:`rpls_composition`) per zone.

    Parameters are those of the two functions; warnings about the input are emitted once.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`social_housing_stock` followed by those of
        :func:`rpls_composition` (``rpls_count`` once); zones' index and order.
    """
    stock = social_housing_stock(
        rpls, zones, main_residences=main_residences,
        main_residences_is_estimate=main_residences_is_estimate, population=population,
        population_is_estimate=population_is_estimate, territory=territory, id_col=id_col,
        duplicates=duplicates, territory_row=territory_row, name=name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comp = rpls_composition(rpls, zones, era_breaks=era_breaks, territory=territory,
                                id_col=id_col, duplicates=duplicates,
                                territory_row=territory_row, name=name)
    _warn_again(caught)  # the stock already reported points outside, duplicates, bad zones
    extra = [c for c in comp.columns if c not in stock.columns]
    out = pd.concat([stock, comp[extra]], axis=1)
    out.attrs["qpvgeo"] = {**comp.attrs.get("qpvgeo", {}), **stock.attrs.get("qpvgeo", {}),
                           "method": "parc social RPLS : volume, densités et composition"}
    return out


# --------------------------------------------------------------------------------------------
# Housing quality
# --------------------------------------------------------------------------------------------

def _fold(text: Any) -> str:
    """Lower-case, accent-free, trimmed form of a class label ('Médiocre' → 'mediocre')."""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join(s.lower().replace("-", " ").replace("_", " ").split())


def housing_quality(
    quality: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    class_col: str = "classe",
    dwellings_col: str | None = None,
    area_col: str | None = None,
    classes: Sequence[str] = QUALITY_CLASSES,
    poor: Sequence[str] = ("mediocre", "mauvais"),
    territory: gpd.GeoDataFrame | None = None,
    territory_row: bool = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Dwellings and area per housing-quality class in each zone.

    Parameters
    ----------
    quality
        Housing-quality layer (any CRS): polygons (blocks, parcels, buildings) or points, with
        a class column (``bon``, ``moyen``, ``médiocre``, ``mauvais``; case and accents
        ignored) and optionally a number of dwellings per feature.
    zones
        Zone polygons (index identifies zones).
    class_col
        Column holding the class.
    dwellings_col
        Column holding the number of dwellings of each feature. For polygons cut by a zone
        boundary the dwellings are apportioned by area (an estimate: see
        ``quality_dwellings_is_estimate``). Without it, dwelling columns are missing.
    area_col
        For a point layer, the column holding the area of each feature (m²); polygon areas are
        measured in EPSG:2154.
    classes
        Classes in order (folded: lower case, no accents). Other values are counted as
        ``inconnu`` with a warning.
    poor
        Classes counted as poor quality (default "médiocre ou mauvais").
    territory, territory_row
        With ``territory_row=True``, append a last row labelled ``"territory"`` computed on
        the dissolved ``territory``.
    name
        Name of the quality layer used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order: ``quality_{class}_dwellings`` and
        ``quality_{class}_area_m2`` for each class and ``inconnu``;
        ``quality_classed_dwellings`` and ``quality_classed_area_m2`` (known classes);
        ``quality_poor_dwellings``, ``quality_poor_dwellings_share`` and
        ``quality_poor_area_share`` (0–1, among classed dwellings or area);
        ``quality_dwellings_is_estimate`` (True when a polygon cut by the zone boundary was
        apportioned); ``quality_missing_reason``. Features outside every zone are expected (a
        PLH layer covers the whole territory): they are counted in ``attrs["qpvgeo"]``
        (``quality_features_outside_zones``), not warned about.
    """
    if territory_row:
        return _with_territory_row(housing_quality, dict(locals()))
    v.check_not_empty(quality, name=name)
    q = v.to_lambert93(quality, name=name)
    ccol = v.find_column(q, class_col, required=True, name=name,
                         hint="pass class_col='<column holding bon/moyen/médiocre/mauvais>'")
    assert ccol is not None
    levels = [_fold(c).replace(" ", "_") for c in classes]
    poor_f = [_fold(c).replace(" ", "_") for c in poor]
    bad_poor = [p for p in poor_f if p not in levels]
    if bad_poor:
        raise SchemaError(f"housing_quality: poor classes {bad_poor} are not among the classes "
                          f"{levels}")
    folded = q[ccol].map(lambda x: None if pd.isna(x) else _fold(x).replace(" ", "_"))
    unknown = folded.notna() & ~folded.isin(levels)
    if unknown.any() or folded.isna().any():
        shown = ", ".join(map(str, pd.unique(q[ccol][unknown | folded.isna()])[:10]))
        warnings.warn(f"{v.layer_name(name)}: {int((unknown | folded.isna()).sum())} feature(s) "
                      f"have a class not in {list(classes)} ({shown}); counted as 'inconnu'",
                      DataQualityWarning, stacklevel=2)
    cls = folded.where(folded.isin(levels), "inconnu").to_numpy(dtype=object)
    all_levels = [*levels, "inconnu"]
    dw = None
    if dwellings_col is not None:
        dcol = v.find_column(q, dwellings_col, required=True, name=name)
        assert dcol is not None
        dw = pd.to_numeric(q[dcol], errors="coerce").to_numpy(float)
    zs = _prepare_zones(zones)
    n_z = len(zs)
    idx = zones.index
    geom = np.asarray(q.geometry.array)
    ok = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    polygonal = np.isin(shapely.get_type_id(geom), [3, 6]) & ok
    dwell = {lev: np.zeros(n_z) for lev in all_levels}
    area = {lev: np.zeros(n_z) for lev in all_levels}
    estimate = np.zeros(n_z, dtype=bool)
    zgeom = np.asarray(zs.geometry.array)
    n_outside = 0
    if polygonal.any():
        ppos = np.flatnonzero(polygonal)
        pg = shapely.make_valid(geom[ppos])
        tree = shapely.STRtree(zgeom)
        pi, zi = tree.query(pg, predicate="intersects")
        inter = shapely.area(shapely.intersection(pg[pi], zgeom[zi]))
        parea = shapely.area(pg)[pi]
        frac = np.divide(inter, parea, out=np.zeros_like(inter), where=parea > 0)
        for lev in all_levels:
            m = cls[ppos[pi]] == lev
            area[lev] += np.bincount(zi[m], weights=inter[m], minlength=n_z)
            if dw is not None:
                dv = np.nan_to_num(dw[ppos[pi]][m]) * frac[m]
                dwell[lev] += np.bincount(zi[m], weights=dv, minlength=n_z)
        n_outside += int(len(ppos) - len(np.unique(pi[inter > 0])))
        cut = (frac > 0) & (frac < 1 - 1e-9)
        if dw is not None:
            cut &= np.nan_to_num(dw[ppos[pi]]) > 0
        estimate[np.unique(zi[cut])] = True
    points = ok & ~polygonal
    if points.any():
        ppos = np.flatnonzero(points)
        sub = q.iloc[ppos]
        a = _assign(sub, zs, territory=None, name=name, what="quality points", warn=False)
        n_outside += a.n_outside_zones
        acol = v.find_column(q, area_col) if area_col else None
        for lev in all_levels:
            m = cls[ppos[a.point_pos]] == lev
            if dw is not None:
                dwell[lev] += np.bincount(a.zone_pos[m],
                                          weights=np.nan_to_num(dw[ppos[a.point_pos][m]]),
                                          minlength=n_z)
            if acol is not None:
                av = pd.to_numeric(sub[acol], errors="coerce").to_numpy(float)
                area[lev] += np.bincount(a.zone_pos[m], weights=np.nan_to_num(av[a.point_pos][m]),
                                         minlength=n_z)
            elif not polygonal.any():
                area[lev][:] = np.nan
    out = pd.DataFrame(index=idx)
    for lev in all_levels:
        out[f"quality_{lev}_dwellings"] = dwell[lev] if dw is not None else np.nan
        out[f"quality_{lev}_area_m2"] = area[lev]
    def total(d: dict[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
        return np.sum([d[k] for k in keys], axis=0)

    nan = np.full(n_z, np.nan)
    classed_d = total(dwell, levels) if dw is not None else nan
    classed_a = total(area, levels)
    poor_d = total(dwell, poor_f) if dw is not None else nan
    poor_a = total(area, poor_f)
    out["quality_classed_dwellings"] = classed_d
    out["quality_classed_area_m2"] = classed_a
    out["quality_poor_dwellings"] = poor_d
    ds, d_reason = safe_ratio(poor_d, classed_d, index=idx)
    out["quality_poor_dwellings_share"] = ds.to_numpy()
    as_, _ = safe_ratio(poor_a, classed_a, index=idx)
    out["quality_poor_area_share"] = as_.to_numpy()
    out["quality_dwellings_is_estimate"] = estimate
    reason = d_reason.replace({"zero": "no_classed_housing_in_zone"})
    if dw is None:
        reason[:] = "no_dwellings_column"
    out["quality_missing_reason"] = reason.to_numpy()
    return _attrs(out, "qualité du bâti (diagnostic PLH) croisée avec les zones; logements "
                       "répartis au prorata de la surface pour les polygones coupés",
                  quality, zones, extra={"classes": all_levels, "poor": poor_f,
                                         "quality_features_total": len(q),
                                         "quality_features_no_geometry": int((~ok).sum()),
                                         "quality_features_outside_zones": n_outside,
                                         "units": {"_area_m2": "m²", "_share": "part 0–1"}},
                  default_source=v.layer_name(name))

"""Economic activity per zone from geolocated SIRENE establishments.

From SIRENE establishment points (:func:`qpvgeo.io.read_sirene`: ``siret``, ``creation_date``,
``naf``, ``categorie_juridique``, ``etat``; the official names ``dateCreationEtablissement``,
``activitePrincipaleEtablissement``, ``categorieJuridiqueUniteLegale``,
``etatAdministratifEtablissement`` are accepted too), per zone (QPV, IRIS, commune or a one-row
territory; the zones' index identifies zones):

- :func:`establishment_change`: active establishments in two stocks and their change (the
  diagnostic: +56 % in the QPV of the CALL against +29 % in the agglomeration, 2017→2023);
- :func:`creations`: establishments created each year, per inhabitant, and the share created
  by an *entrepreneur individuel*;
- :func:`sector_mix`: establishments by sector, grouped as INSEE does (:data:`SECTOR_LEVELS`);
- :func:`economic_activity`: the three together for two stocks.

What is measured
    *Establishments* are SIRENE establishments (``siret``) located in the zone; *active* means
    ``etat == "A"``. *Creations* in year Y are establishments whose creation date falls in Y,
    found in the stocks given (a stock keeps closed establishments, état ``F``, so one recent
    stock suffices); they are not INSEE's business-creation statistics (which exclude
    reactivations and count legal units). *Entrepreneur individuel* is legal category 1000.
    Micro-entrepreneurs (the diagnostic's "82 % des créations") are a subset of category 1000
    that the open stock does not flag, so ``*_ei_share`` is an **upper bound** of the
    micro-entrepreneur share.

Statistical secret
    Business counts published below 3 units are secret (INSEE rule; the dominance rule needs
    employment and is not applied). Every count has a ``*_secret`` flag (0 < count < 3);
    ``mask_secret=True`` replaces the flagged counts and the shares derived from them by NaN
    (never by 0) for publication. Secondary secret (recovering a cell by difference from a
    total) is not applied.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from qpvgeo import _validate as v
from qpvgeo.equipment import (
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
    "ENTREPRENEUR_INDIVIDUEL",
    "SECRET_THRESHOLD",
    "SECTOR_LEVELS",
    "creations",
    "economic_activity",
    "establishment_change",
    "naf_section",
    "naf_sector",
    "sector_mix",
]

ENTREPRENEUR_INDIVIDUEL = "1000"
"""SIRENE legal category (``categorieJuridiqueUniteLegale``) of the entrepreneur individuel."""

SECRET_THRESHOLD = 3
"""Minimum number of units for a published business count (INSEE secret rule)."""

_DIVISION_RANGES: list[tuple[str, int, int]] = [
    ("A", 1, 3), ("B", 5, 9), ("C", 10, 33), ("D", 35, 35), ("E", 36, 39), ("F", 41, 43),
    ("G", 45, 47), ("H", 49, 53), ("I", 55, 56), ("J", 58, 63), ("K", 64, 66), ("L", 68, 68),
    ("M", 69, 75), ("N", 77, 82), ("O", 84, 84), ("P", 85, 85), ("Q", 86, 88), ("R", 90, 93),
    ("S", 94, 96), ("T", 97, 98), ("U", 99, 99),
]
_VALID_DIVISIONS = {1, 2, 3, 5, 6, 7, 8, 9, *range(10, 34), 35, 36, 37, 38, 39, 41, 42, 43,
                    45, 46, 47, 49, 50, 51, 52, 53, 55, 56, *range(58, 64), 64, 65, 66, 68,
                    *range(69, 76), *range(77, 83), 84, 85, 86, 87, 88, 90, 91, 92, 93, 94, 95,
                    96, 97, 98, 99}

SECTOR_LEVELS: dict[str, dict[str, str]] = {
    "section": {s: s.lower() for s, _, _ in _DIVISION_RANGES},
    "a10": {"A": "az", "B": "be", "C": "be", "D": "be", "E": "be", "F": "fz", "G": "gi",
            "H": "gi", "I": "gi", "J": "jz", "K": "kz", "L": "lz", "M": "mn", "N": "mn",
            "O": "oq", "P": "oq", "Q": "oq", "R": "ru", "S": "ru", "T": "ru", "U": "ru"},
    "a5": {"A": "az", "B": "be", "C": "be", "D": "be", "E": "be", "F": "fz", "G": "gu",
           "H": "gu", "I": "gu", "J": "gu", "K": "gu", "L": "gu", "M": "gu", "N": "gu",
           "O": "oq", "P": "oq", "Q": "oq", "R": "gu", "S": "gu", "T": "gu", "U": "gu"},
    "diagnostic": {
        "A": "agriculture",
        **dict.fromkeys("BCDE", "industrie"),
        "F": "construction",
        **dict.fromkeys("GHI", "commerce_transport_hebergement_restauration"),
        **dict.fromkeys("JKLMNRSTU", "services"),
        **dict.fromkeys("OPQ", "administration_enseignement_sante"),
    },
}
"""NAF rév. 2 section → sector group, per level.

- ``section``: the 21 sections A–U;
- ``a10`` (INSEE A10): ``az``, ``be`` (industry B–E), ``fz`` (construction), ``gi`` (commerce,
  transport, hébergement-restauration), ``jz``, ``kz``, ``lz``, ``mn``, ``oq`` (administration,
  enseignement, santé, action sociale), ``ru``;
- ``a5`` (INSEE A5): ``az``, ``be``, ``fz``, ``gu`` (services principalement marchands), ``oq``;
- ``diagnostic`` (default, the grouping of the portrait de territoire): ``agriculture``,
  ``industrie``, ``construction``, ``commerce_transport_hebergement_restauration`` (A10 GI),
  ``services`` (J–N, R–U), ``administration_enseignement_sante`` (A10 OQ).
"""

_COLS: dict[str, list[str]] = {
    "siret": ["siret"],
    "date": ["creation_date", "datecreationetablissement", "date_creation"],
    "naf": ["naf", "activiteprincipaleetablissement", "ape", "apet"],
    "naf_nomenclature": ["naf_nomenclature", "nomenclatureactiviteprincipaleetablissement"],
    "cj": ["categorie_juridique", "categoriejuridiqueunitelegale", "cj"],
    "etat": ["etat", "etatadministratifetablissement"],
}


# --------------------------------------------------------------------------------------------
# NAF
# --------------------------------------------------------------------------------------------

def naf_section(naf: pd.Series, nomenclature: pd.Series | None = None) -> pd.Series:
    """NAF rév. 2 section (``A`` … ``U``) of activity codes such as ``86.21Z`` or ``8621Z``.

    Parameters
    ----------
    naf
        Activity codes (NAF rév. 2).
    nomenclature
        Optional nomenclature of each code (SIRENE ``nomenclatureActivitePrincipale…``); codes
        in another nomenclature than ``NAFRev2`` (NAF 1993, NAF rév. 1, NAF 2025) are missing.

    Returns
    -------
    pandas.Series
        Section letter, missing when the code is blank, malformed or not a NAF rév. 2 division;
        index kept.
    """
    s = naf.astype(object).where(naf.notna(), "").astype(str).str.strip().str.upper()
    div = pd.to_numeric(s.str.replace(".", "", regex=False).str[:2], errors="coerce")
    ok = div.isin(list(_VALID_DIVISIONS)) & s.str.match(r"^\d{2}\.?\d")
    if nomenclature is not None:
        nom = nomenclature.astype(object).where(nomenclature.notna(), "").astype(str)
        nom = nom.str.upper().str.replace(" ", "", regex=False)
        ok &= nom.isin(["NAFREV2", ""])
    bins = np.array([hi for _, _, hi in _DIVISION_RANGES], dtype=float)
    letters = np.array([s_ for s_, _, _ in _DIVISION_RANGES], dtype=object)
    pos = np.searchsorted(bins, div.fillna(0).to_numpy(float), side="left")
    out = pd.Series(letters[np.clip(pos, 0, len(letters) - 1)], index=naf.index, dtype=object)
    out[~ok] = None
    return out


def naf_sector(naf: pd.Series, level: str = "diagnostic",
               nomenclature: pd.Series | None = None) -> pd.Series:
    """Sector group of NAF rév. 2 codes at ``level`` (see :data:`SECTOR_LEVELS`)."""
    if level not in SECTOR_LEVELS:
        raise ValueError(f"level must be one of {', '.join(SECTOR_LEVELS)}, got {level!r}")
    return naf_section(naf, nomenclature).map(SECTOR_LEVELS[level]).astype(object)


def _sector_order(level: str) -> list[str]:
    return list(dict.fromkeys(SECTOR_LEVELS[level].values()))


# --------------------------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------------------------

def _prepare(
    stock: gpd.GeoDataFrame, *, name: str | None, duplicates: Literal["raise", "drop"],
    need: Sequence[str] = (),
) -> tuple[gpd.GeoDataFrame, dict[str, str | None]]:
    """Reproject, resolve columns and apply the siret uniqueness rule."""
    if not isinstance(stock, gpd.GeoDataFrame):
        raise SchemaError(f"{v.layer_name(name)}: expected a GeoDataFrame of SIRENE "
                          "establishment points (qpvgeo.io.read_sirene)")
    v.check_not_empty(stock, name=name, what="establishment")
    out = v.to_lambert93(stock, name=name)
    cols = {k: v.find_column(out, c) for k, c in _COLS.items()}
    missing = [k for k in need if cols[k] is None]
    if missing:
        raise SchemaError(v.missing_message(
            name, [_COLS[k][0] for k in missing], out.columns,
            "read the file with qpvgeo.io.read_sirene or rename the columns"))
    sc = cols["siret"]
    if sc is not None:
        ids = out[sc].astype(object)
        dup = ids.notna() & ids.duplicated(keep="first")
        if dup.any():
            if duplicates == "raise":
                shown = ", ".join(map(str, pd.unique(ids[dup])[:5]))
                raise DuplicateKeyError(
                    f"{v.layer_name(name)}: {int(dup.sum())} establishment(s) repeat a siret "
                    f"({shown}); a siret identifies one establishment: remove the duplicates "
                    "(e.g. a join that multiplied rows) or pass duplicates='drop'")
            warnings.warn(f"{v.layer_name(name)}: {int(dup.sum())} duplicated siret dropped "
                          "(first row kept)", DataQualityWarning, stacklevel=3)
            out = out.loc[~dup]
    return out, cols


def _active_mask(df: pd.DataFrame, cols: dict[str, str | None], active_only: bool) -> np.ndarray:
    if not active_only or cols["etat"] is None:
        return np.ones(len(df), dtype=bool)
    return (df[cols["etat"]].astype(str).str.strip().str.upper() == "A").to_numpy()


def _creation_year(df: pd.DataFrame, cols: dict[str, str | None]) -> pd.Series:
    c = cols["date"]
    if c is None:
        return pd.Series(np.nan, index=df.index)
    raw = df[c]
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.dt.year.astype(float)
    dates = pd.to_datetime(raw.astype(object).where(raw.notna(), None), errors="coerce",
                           format="ISO8601")
    return dates.dt.year.astype(float)


def _secret_flags(out: pd.DataFrame, counts: Sequence[str], derived: dict[str, list[str]],
                  mask: bool, threshold: int) -> None:
    """Add ``{count}_secret`` flags; optionally mask counts and the shares derived from them."""
    for c in counts:
        val = out[c]
        out[f"{c}_secret"] = (val > 0) & (val < threshold)
    if mask:
        for c in counts:
            flag = out[f"{c}_secret"].to_numpy(bool)
            out.loc[flag, c] = np.nan
            for d in derived.get(c, []):
                out.loc[flag, d] = np.nan
                reason = f"{d}_missing_reason" if d.endswith("_share") else None
                if reason is not None and reason in out.columns:
                    out.loc[flag, reason] = "secret"


def _finish(out: pd.DataFrame, method: str, *layers: pd.DataFrame | None,
            extra: dict[str, Any] | None = None) -> pd.DataFrame:
    src = _source_of(*layers)
    out.attrs["qpvgeo"] = {"source": src or "SIRENE", "method": method,
                           "secret_threshold": SECRET_THRESHOLD, **(extra or {})}
    if src == v.ILLUSTRATIVE:
        out["source"] = v.ILLUSTRATIVE
    return out


def _label(year: int | str | None, df: pd.DataFrame, cols: dict[str, str | None]) -> str:
    if year is not None:
        return str(year)
    y = _creation_year(df, cols)
    if y.notna().any():
        return str(int(y.max()))
    raise SchemaError("establishment_change: pass year0= and year1= (the dates of the stocks); "
                      "they cannot be inferred without creation dates")


# --------------------------------------------------------------------------------------------
# Per-zone tables
# --------------------------------------------------------------------------------------------

def establishment_change(
    stock0: gpd.GeoDataFrame,
    stock1: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    year0: int | str | None = None,
    year1: int | str | None = None,
    active_only: bool = True,
    territory: gpd.GeoDataFrame | None = None,
    mask_secret: bool = False,
    duplicates: Literal["raise", "drop"] = "raise",
    territory_row: bool = False,
    names: tuple[str | None, str | None] = (None, None),
) -> pd.DataFrame:
    """Count establishments per zone in two stocks and their change.

    Parameters
    ----------
    stock0, stock1
        SIRENE establishment points at the earlier and later date (any CRS); not modified.
    zones
        Zone polygons (index identifies zones).
    year0, year1
        Labels of the two dates (e.g. 2017, 2023), used in column names. By default the latest
        creation year found in each stock.
    active_only
        Count only active establishments (``etat == "A"``) when the column exists.
    territory
        Territory polygon(s): establishments inside it but outside the zones are expected.
    mask_secret
        Replace counts of 1 or 2 establishments (and the change computed from them) by NaN.
    duplicates
        Rule for repeated ``siret``: ``"raise"`` (:class:`~qpvgeo.errors.DuplicateKeyError`) or
        ``"drop"`` (keep the first, with a warning).
    territory_row
        Append a last row labelled ``"territory"`` computed the same way on the dissolved
        ``territory`` (a population given as a Series is read at its ``"territory"`` label; as
        a column, in the territory layer).
    names
        Names of the two stocks used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order: ``estab_{year0}_count``,
        ``estab_{year1}_count``, ``estab_change_count`` (difference),
        ``estab_change_share`` (relative change, 0.56 for +56 %),
        ``estab_change_missing_reason`` (``"zero"`` when there was no establishment at the first
        date), and ``*_secret`` flags for both counts.
    """
    if territory_row:
        return _with_territory_row(establishment_change, dict(locals()))
    s0, c0 = _prepare(stock0, name=names[0], duplicates=duplicates)
    s1, c1 = _prepare(stock1, name=names[1], duplicates=duplicates)
    l0, l1 = _label(year0, s0, c0), _label(year1, s1, c1)
    if l0 == l1:
        raise SchemaError(f"establishment_change: both stocks are labelled {l0}; pass year0= "
                          "and year1=")
    zs = _prepare_zones(zones)
    n_z = len(zs)
    idx = zones.index
    out = pd.DataFrame(index=idx)
    counts = []
    extra: dict[str, Any] = {}
    for lab, s, c, nm in ((l0, s0, c0, names[0]), (l1, s1, c1, names[1])):
        act = _active_mask(s, c, active_only)
        a = _assign(s.loc[act], zs, territory=territory, name=nm,
                    what=f"establishments ({lab})", warn=True)
        col = f"estab_{lab}_count"
        out[col] = a.counts(n_z)
        counts.append(col)
        extra.update(a.as_attrs(f"estab_{lab}"))
        if active_only and c["etat"] is None:
            warnings.warn(f"{v.layer_name(nm)}: no column etat; every establishment counted "
                          "as active", DataQualityWarning, stacklevel=2)
    n0, n1 = out[counts[0]].to_numpy(), out[counts[1]].to_numpy()
    out["estab_change_count"] = n1 - n0
    ch, reason = safe_ratio(n1 - n0, n0, index=idx)
    out["estab_change_share"] = ch.to_numpy()
    out["estab_change_missing_reason"] = reason.to_numpy()
    _secret_flags(out, counts, {counts[0]: ["estab_change_count", "estab_change_share"],
                                counts[1]: ["estab_change_count", "estab_change_share"]},
                  mask_secret, SECRET_THRESHOLD)
    return _finish(out, f"établissements {'actifs ' if active_only else ''}SIRENE localisés "
                        f"dans la zone en {l0} et {l1}; évolution relative",
                   stock0, stock1, zones, extra={**extra, "years": [l0, l1]})


def creations(
    stocks: gpd.GeoDataFrame | Sequence[gpd.GeoDataFrame],
    zones: gpd.GeoDataFrame,
    *,
    years: Sequence[int] | None = None,
    population: str | pd.Series | None = None,
    population_is_estimate: bool | str | pd.Series | None = None,
    territory: gpd.GeoDataFrame | None = None,
    mask_secret: bool = False,
    duplicates: Literal["raise", "drop"] = "raise",
    territory_row: bool = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Count establishment creations per year and zone, per inhabitant, by individual entrepreneurs.

    Parameters
    ----------
    stocks
        One SIRENE stock or several (e.g. 2017 and 2023); establishments found in several are
        counted once (by ``siret``). Active and closed establishments are used.
    zones
        Zone polygons (index identifies zones).
    years
        Creation years to report (default: the first and last year with creations).
    population
        Inhabitants per zone (column of ``zones`` or Series) for the creation rate.
    population_is_estimate
        Whether the population is an estimate (see
        :func:`qpvgeo.equipment.equipment_access`).
    territory, mask_secret, duplicates, territory_row
        See :func:`establishment_change`.
    name
        Name used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order: per year Y ``creations_{Y}_count``,
        ``creations_{Y}_ei_count`` (legal category 1000), ``creations_{Y}_ei_share`` (0–1, an
        upper bound of the micro-entrepreneur share) with ``creations_{Y}_ei_share_missing_reason``
        (``"zero"``: no creation; ``"no_legal_category"``: the stocks lack the legal
        category), ``creations_{Y}_per_inhab`` (creations per inhabitant, 0.007 for 0.7 %),
        ``creations_{Y}_per_inhab_missing_reason``, and ``*_secret`` flags; ``pop``,
        ``pop_is_estimate``; with two years or more, ``creations_change_share`` (last vs first
        year, 1.79 for +179 %) and ``creations_change_missing_reason`` (``"zero"``: no creation
        the first year).
    """
    if territory_row:
        return _with_territory_row(creations, dict(locals()))
    layers = [stocks] if isinstance(stocks, gpd.GeoDataFrame) else list(stocks)
    if not layers:
        raise SchemaError("creations: no SIRENE stock given")
    prepared = [_prepare(s, name=name, duplicates=duplicates, need=("date",)) for s in layers]
    frames = []
    for s, c in prepared:
        f = gpd.GeoDataFrame({
            "siret": s[c["siret"]].astype(str).to_numpy() if c["siret"] else np.arange(len(s)),
            "year": _creation_year(s, c).to_numpy(),
            "ei": (s[c["cj"]].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
                   == ENTREPRENEUR_INDIVIDUEL).to_numpy() if c["cj"] else np.zeros(len(s), bool),
            "has_cj": np.full(len(s), c["cj"] is not None),
        }, geometry=s.geometry.to_numpy(), crs=s.crs)
        frames.append(f)
    allf = pd.concat(frames, ignore_index=True)
    if len(prepared) > 1 and all(c["siret"] for _, c in prepared):
        allf = allf.drop_duplicates("siret", keep="last")
    allf = gpd.GeoDataFrame(allf, geometry="geometry", crs=frames[0].crs)
    if not allf["has_cj"].all():
        warnings.warn(f"{v.layer_name(name)}: no legal-category column (categorie_juridique); "
                      "the individual-entrepreneur share is missing", DataQualityWarning,
                      stacklevel=2)
    yrs = allf["year"].dropna()
    if years is None:
        if yrs.empty:
            raise SchemaError(f"{v.layer_name(name)}: no valid creation date")
        years = sorted({int(yrs.min()), int(yrs.max())})
    zs = _prepare_zones(zones)
    n_z = len(zs)
    idx = zones.index
    out = pd.DataFrame(index=idx)
    pop, pop_reason = population_denominator(zones, population)
    out["pop"] = pop.to_numpy()
    out["pop_is_estimate"] = _estimate_flag(zones, population_is_estimate, population).to_numpy()
    in_years = allf["year"].isin([float(y) for y in years]).to_numpy()
    sub = allf.loc[in_years]
    a = _assign(sub, zs, territory=territory, name=name, what="created establishments",
                warn=True)
    year_lab = sub["year"].map(lambda y: str(int(y)))
    per_year = count_categories(a, year_lab, n_z, [str(y) for y in years])
    ei_lab = year_lab.where(sub["ei"].to_numpy(), None)
    ei_year = count_categories(a, ei_lab, n_z, [str(y) for y in years])
    counts: list[str] = []
    derived: dict[str, list[str]] = {}
    for y in years:
        col = f"creations_{y}_count"
        n = per_year[str(y)].to_numpy()
        out[col] = n
        out[f"creations_{y}_ei_count"] = ei_year[str(y)].to_numpy()
        if allf["has_cj"].all():
            sh, sh_reason = safe_ratio(ei_year[str(y)].to_numpy(), n, index=idx)
            out[f"creations_{y}_ei_share"] = sh.to_numpy()
            out[f"creations_{y}_ei_share_missing_reason"] = sh_reason.to_numpy()
        else:
            out[f"creations_{y}_ei_count"] = np.nan
            out[f"creations_{y}_ei_share"] = np.nan
            out[f"creations_{y}_ei_share_missing_reason"] = "no_legal_category"
        rate, reason = safe_ratio(n, pop, index=idx, den_reason=pop_reason)
        out[f"creations_{y}_per_inhab"] = rate.to_numpy()
        out[f"creations_{y}_per_inhab_missing_reason"] = reason.to_numpy()
        counts += [col, f"creations_{y}_ei_count"]
        derived[col] = [f"creations_{y}_ei_share", f"creations_{y}_per_inhab"]
        derived[f"creations_{y}_ei_count"] = [f"creations_{y}_ei_share"]
    if len(years) >= 2:
        first, last = out[f"creations_{years[0]}_count"], out[f"creations_{years[-1]}_count"]
        ch, ch_reason = safe_ratio(last - first, first, index=idx)
        out["creations_change_share"] = ch.to_numpy()
        out["creations_change_missing_reason"] = ch_reason.to_numpy()
        derived[f"creations_{years[0]}_count"].append("creations_change_share")
        derived[f"creations_{years[-1]}_count"].append("creations_change_share")
    _secret_flags(out, counts, derived, mask_secret, SECRET_THRESHOLD)
    return _finish(out, "établissements SIRENE localisés dans la zone, créés dans l'année "
                        "(date de création); entrepreneurs individuels = catégorie juridique "
                        "1000 (majorant des micro-entrepreneurs)", *layers, zones,
                   extra={**a.as_attrs("creations"), "years": [int(y) for y in years]})


def sector_mix(
    stock: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    level: str = "diagnostic",
    active_only: bool = True,
    territory: gpd.GeoDataFrame | None = None,
    mask_secret: bool = False,
    duplicates: Literal["raise", "drop"] = "raise",
    prefix: str = "sector",
    territory_row: bool = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Count establishments per zone by sector group (INSEE aggregates of the NAF).

    Parameters
    ----------
    stock
        SIRENE establishment points (any CRS); not modified.
    zones
        Zone polygons (index identifies zones).
    level
        Grouping, see :data:`SECTOR_LEVELS` (default ``"diagnostic"``).
    active_only, territory, mask_secret, duplicates, territory_row, name
        See :func:`establishment_change`.
    prefix
        Column prefix (e.g. ``"sector_2023"`` when comparing two stocks).

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order: ``{prefix}_{group}_count`` and
        ``{prefix}_{group}_share`` (0–1 among establishments with a valid NAF rév. 2 code),
        ``{prefix}_known_count``, ``{prefix}_unknown_count`` (blank or non-NAF rév. 2 codes),
        and ``*_secret`` flags on the group counts.
    """
    if territory_row:
        return _with_territory_row(sector_mix, dict(locals()))
    if level not in SECTOR_LEVELS:
        raise ValueError(f"level must be one of {', '.join(SECTOR_LEVELS)}, got {level!r}")
    s, c = _prepare(stock, name=name, duplicates=duplicates, need=("naf",))
    act = _active_mask(s, c, active_only)
    s = s.loc[act]
    assert c["naf"] is not None
    nom = s[c["naf_nomenclature"]] if c["naf_nomenclature"] else None
    sector = naf_sector(s[c["naf"]], level, nom)
    zs = _prepare_zones(zones)
    n_z = len(zs)
    idx = zones.index
    a = _assign(s, zs, territory=territory, name=name, what="establishments", warn=True)
    groups = _sector_order(level)
    out = pd.DataFrame(index=idx)
    _category_columns(out, prefix, a, sector, groups, n_z, a.counts(n_z))
    derived = {f"{prefix}_{g}_count": [f"{prefix}_{g}_share"] for g in groups}
    _secret_flags(out, [f"{prefix}_{g}_count" for g in groups], derived, mask_secret,
                  SECRET_THRESHOLD)
    return _finish(out, f"établissements {'actifs ' if active_only else ''}SIRENE par secteur "
                        f"(regroupement {level} de la NAF rév. 2)", stock, zones,
                   extra={**a.as_attrs("estab"), "level": level, "groups": groups})


def economic_activity(
    stock0: gpd.GeoDataFrame,
    stock1: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    year0: int,
    year1: int,
    population: str | pd.Series | None = None,
    population_is_estimate: bool | str | pd.Series | None = None,
    level: str = "diagnostic",
    territory: gpd.GeoDataFrame | None = None,
    mask_secret: bool = False,
    duplicates: Literal["raise", "drop"] = "raise",
    territory_row: bool = False,
) -> pd.DataFrame:
    """Change in establishments, creations and sector mix per zone for two stocks.

    Combines :func:`establishment_change` (``year0`` → ``year1``), :func:`creations` in
    ``year0`` and ``year1`` (from both stocks) and :func:`sector_mix` of each stock (prefixes
    ``sector_{year0}`` and ``sector_{year1}``). Warnings about the inputs are emitted once.
    Parameters are those of the three functions (``territory_row=True`` appends the
    territory row to each).

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order; the columns of the three functions.
    """
    parts = [establishment_change(stock0, stock1, zones, year0=year0, year1=year1,
                                  territory=territory, mask_secret=mask_secret,
                                  duplicates=duplicates, territory_row=territory_row)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts.append(creations([stock0, stock1], zones, years=[year0, year1],
                               population=population,
                               population_is_estimate=population_is_estimate,
                               territory=territory, mask_secret=mask_secret,
                               duplicates=duplicates, territory_row=territory_row))
        for y, s in ((year0, stock0), (year1, stock1)):
            parts.append(sector_mix(s, zones, level=level, territory=territory,
                                    mask_secret=mask_secret, duplicates=duplicates,
                                    prefix=f"sector_{y}", territory_row=territory_row))
    _warn_again(caught)  # establishment_change reported the inputs' faults
    out = pd.concat([p.loc[:, ~p.columns.isin(["source"])] for p in parts], axis=1)
    if any("source" in p.columns for p in parts):
        out["source"] = v.ILLUSTRATIVE
    attrs: dict[str, Any] = {}
    for p in parts:
        attrs.update(p.attrs.get("qpvgeo", {}))
    attrs["method"] = (f"activité économique SIRENE {year0}–{year1}: évolution des "
                       "établissements, créations, secteurs")
    out.attrs["qpvgeo"] = attrs
    return out

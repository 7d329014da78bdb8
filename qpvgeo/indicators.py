"""Portrait indicators: catalogue, per-zone values, the portrait table and gap evolution.

The indicators of a *portrait de territoire* (population, share under 25, median disposable
income, poverty rate, employment rate, …) are described **as data** in :data:`CATALOGUE`: for
each one its French label, unit, direction ("higher is worse"), kind (additive count, ratio of
sums, non-additive median) and the official INSEE variables of its numerator and denominator,
written as templates over the vintage (``P{yy}_ACTOCC1564`` → ``P20_ACTOCC1564`` for 2020).
The functions below never branch on an indicator's name: they read its record.

Workflow::

    vintage = {"rp": 2020, "filosofi": 2020, "rpls": 2021, "bpe": 2023}
    values = zone_indicators(qpv, official=[insee_qpv],            # read_insee_table(level="qpv")
                             computed=[social_housing, health],    # housing / health tables
                             estimates=iris_to_qpv,                 # interpolation.interpolate
                             vintage=vintage)
    territory = territory_indicators(iris_tables, official={"DISP_MED20": 17020},
                                     vintage=vintage, name="CA de Lens-Liévin")
    refs = read_reference_table("references.csv")   # département, région, France, QPV…
    table = portrait_table(values, territory, references=refs)
    cw = qpvgeo.overlay.crosswalk(qpv_2015, qpv)     # QP… codes → QN… codes
    evo = gap_evolution(values_2015, values, territory_2015, territory,
                        "taux_emploi_1564", crosswalk=cw)
    gap_summary(evo)                                 # counts and the French sentence
    gap_overview(values_2015, values, territory_2015, territory, crosswalk=cw)

Wide tables (:func:`compute_indicators`, :func:`zone_indicators`,
:func:`territory_indicators`) hold, for each indicator ``k``: ``k`` (the value, in the
indicator's unit: shares 0–1, euros, counts, per 10,000 inhabitants), ``k_num`` and ``k_den``
(numerator and denominator, in counts; missing for published non-additive values),
``k_origin`` (``"officiel QPV"``, ``"estimation IRIS"``, ``"calcul qpvgeo"``, ``"officiel"``),
``k_source``, ``k_vintage``, ``k_method``, ``k_is_estimate`` and ``k_missing_reason``
(French; empty when the value exists). INSEE secret cells stay missing and their reason says
so; a zero denominator gives a missing value with a reason, never ``inf`` or 0.

This module holds the wide-table functions and is the public door; the rest lives in private
modules by theme and is imported from here: the catalogue as data (``_catalogue``), evaluating
one indicator on raw variables (``_evaluate``), wide-table helpers (``_wide``), French wording
of figures (``_french``), reference tables (``_references``), the summary table
(``_summary_table``) and gap evolution (``_gaps``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._catalogue import (
    CATALOGUE,
    DATASETS,
    HIGHER_BETTER,
    HIGHER_WORSE,
    NEUTRAL,
    ORIGIN_COMPUTED,
    ORIGIN_ESTIMATE,
    ORIGIN_OFFICIAL,
    ORIGIN_OFFICIAL_TERRITORY,
    Indicator,
    _vintage_for,
    catalogue,
    get_indicator,
)
from qpvgeo._evaluate import _evaluate, _indicator_list, _resolvable
from qpvgeo._french import format_number, format_value, ratio_phrase
from qpvgeo._gaps import gap_evolution, gap_overview, gap_summary
from qpvgeo._references import REFERENCE_LEVELS, read_reference_table
from qpvgeo._summary_table import portrait_table
from qpvgeo._wide import (
    _ID_CANDIDATES,
    _NAME_CANDIDATES,
    _SUFFIXES,
    _bare,
    _is_illustrative_source,
    _row_sources,
    _source_text,
)
from qpvgeo.errors import SchemaError

__all__ = [
    "CATALOGUE",
    "DATASETS",
    "HIGHER_BETTER",
    "HIGHER_WORSE",
    "NEUTRAL",
    "ORIGIN_COMPUTED",
    "ORIGIN_ESTIMATE",
    "ORIGIN_OFFICIAL",
    "ORIGIN_OFFICIAL_TERRITORY",
    "REFERENCE_LEVELS",
    "Indicator",
    "catalogue",
    "compute_indicators",
    "format_number",
    "format_value",
    "gap_evolution",
    "gap_overview",
    "gap_summary",
    "get_indicator",
    "portrait_table",
    "ratio_phrase",
    "read_reference_table",
    "territory_indicators",
    "zone_indicators",
]

# ---------------------------------------------------------------------------------------------
# Wide tables
# ---------------------------------------------------------------------------------------------

def compute_indicators(
    table: pd.DataFrame,
    *,
    vintage: int | Mapping[str, int],
    indicators: Iterable[str | Indicator] | None = None,
    origin: str = ORIGIN_COMPUTED,
    source: str | None = None,
    method: str | None = None,
    is_estimate: bool | pd.Series | Literal["auto"] = False,
    name: str | None = None,
) -> pd.DataFrame:
    """Compute indicators on every row of a table of official variables.

    Parameters
    ----------
    table
        One row per zone (IRIS, QPV, commune, EPCI) with INSEE variables as columns
        (``P20_POP``, ``P20_ACTOCC1564``, ``DISP_MED20``…, as returned by
        ``qpvgeo.io.read_insee_table``: secret cells NaN, ``secret_vars`` listing them).
    vintage
        Year of the data (``2020``) or a mapping by dataset (``{"rp": 2020, "filosofi":
        2019}``) or by indicator key.
    indicators
        Keys or :class:`Indicator` records; default every catalogue indicator whose variables
        are present in ``table``.
    origin
        Value of the ``*_origin`` columns (:data:`ORIGIN_COMPUTED` by default).
    source
        Source label (file, producer); default the table's ``source`` column or
        ``attrs["qpvgeo"]["source"]``.
    method
        Text prefixed to the computed method (e.g. the interpolation method).
    is_estimate
        Whether the values are estimates: a bool, one bool per row, or ``"auto"``: per
        indicator and row, true when a variable used has a companion flag column
        ``<var>_is_estimate`` (or ``<var minus _count>_is_estimate``) set, or the table has an
        ``is_estimate`` column set.
    name
        File or table name used in error messages.

    Returns
    -------
    pandas.DataFrame
        Same index and order as ``table``; the identifier and name columns found in ``table``
        (``code_qpv``/``nom_qpv``, ``code_iris``…), then for each indicator ``k`` the columns
        ``k``, ``k_num``, ``k_den``, ``k_origin``, ``k_source``, ``k_vintage``, ``k_method``,
        ``k_is_estimate``, ``k_missing_reason``; and ``is_illustrative`` (bool). Values are in
        the indicator's unit (shares 0–1, euros, counts, per 10,000).
    """
    if not isinstance(table, pd.DataFrame):
        raise SchemaError(f"{_validate.layer_name(name)}: expected a DataFrame, got "
                          f"{type(table).__name__}")
    inds = _indicator_list(indicators, [table], vintage)
    sources = _row_sources(table, source)
    est: pd.Series | None = None
    if isinstance(is_estimate, pd.Series):
        est = is_estimate.reindex(table.index).fillna(False).astype(bool)
    elif is_estimate != "auto":
        est = pd.Series(bool(is_estimate), index=table.index)
    out: dict[str, Any] = {}
    for cand in (*_ID_CANDIDATES, *_NAME_CANDIDATES):
        col = _validate.find_column(table, cand)
        if col is not None and col not in out:
            out[col] = table[col].astype(object)
    for ind in inds:
        v = _vintage_for(ind, vintage, required=ind.needs_vintage)
        ev = _evaluate(table, ind, v)
        meth = ev.method if not method else f"{method} ; {ev.method}" if ev.method else method
        has = ev.value.notna()
        out[ind.key] = ev.value
        out[f"{ind.key}_num"] = ev.num
        out[f"{ind.key}_den"] = ev.den
        out[f"{ind.key}_origin"] = pd.Series(origin, index=table.index, dtype=object).where(
            has, "")
        out[f"{ind.key}_source"] = sources.map(lambda s, i=ind: _source_text(i, str(s)))
        out[f"{ind.key}_vintage"] = pd.Series(v, index=table.index, dtype="Int64")
        out[f"{ind.key}_method"] = pd.Series(meth, index=table.index, dtype=object).where(
            has, "")
        flag = est if est is not None else _estimate_flags(table, ev.variables)
        out[f"{ind.key}_is_estimate"] = flag.astype(bool) & has
        out[f"{ind.key}_missing_reason"] = ev.reason.astype(object)
    out["is_illustrative"] = sources.astype(str).eq(_validate.ILLUSTRATIVE)
    result = pd.DataFrame(out, index=table.index)
    result.attrs["qpvgeo"] = {
        "indicators": [i.key for i in inds], "vintage": _vintage_repr(vintage),
        "origin": origin, "units": {i.key: i.unit for i in inds},
    }
    return result


def _estimate_flags(table: pd.DataFrame, variables: Sequence[str]) -> pd.Series:
    """OR of the estimate flags that go with ``variables`` (see ``is_estimate="auto"``)."""
    flag = pd.Series(False, index=table.index)
    names = ["is_estimate"]
    for v in variables:
        names.append(f"{v}_is_estimate")
        if v.lower().endswith("_count"):
            names.append(f"{v[:-6]}_is_estimate")
    for n in dict.fromkeys(names):
        col = _validate.find_column(table, n)
        if col is not None:
            flag |= table[col].astype("boolean").fillna(False).astype(bool)
    return flag


def _vintage_repr(vintage: int | Mapping[str, int] | None) -> Any:
    return dict(vintage) if isinstance(vintage, Mapping) else vintage


def _detect_column(
    df: pd.DataFrame, given: str | None, candidates: Sequence[str], what: str,
    name: str | None, *, required: bool = True,
) -> str | None:
    if given is not None:
        if given not in df.columns:
            raise SchemaError(_validate.missing_message(name, [given], df.columns))
        return given
    col = _validate.find_column(df, list(candidates))
    if col is None and required:
        raise SchemaError(_validate.missing_message(
            name, [candidates[0]], df.columns,
            f"pass {what}='<column>' naming the zone {what.replace('_col', '')} column"))
    return col


def _merge_official(
    tables: Sequence[pd.DataFrame], key: str, names: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Merge per-zone official tables on ``key``; return it (indexed by key) and var→source."""
    merged: pd.DataFrame | None = None
    var_source: dict[str, str] = {}
    skip = {key.lower(), "source", "secret_vars", "geometry"}
    for i, t in enumerate(tables):
        tname = names[i]
        kcol = _validate.find_column(t, key)
        if kcol is None:
            raise SchemaError(_validate.missing_message(
                tname, [key], t.columns, f"the official table needs the zone key {key}; "
                "read it with qpvgeo.io.read_insee_table(path, level='qpv')"))
        _validate.check_string_key(t, kcol, _code_kind(key), name=tname)
        _validate.check_unique(t, kcol, name=tname)
        src = _row_sources(t, None)
        label = str(src.iloc[0]) if len(src) and src.nunique() == 1 else ""
        body = t.drop(columns=[c for c in t.columns if str(c).lower() == "geometry"])
        body = pd.DataFrame(body).set_index(kcol)
        body.index = body.index.astype(object)
        body.index.name = key
        secret = (body["secret_vars"] if "secret_vars" in body.columns
                  else pd.Series("", index=body.index, dtype=object))
        body = body.drop(columns=[c for c in body.columns if str(c).lower() in skip])
        for c in body.columns:
            if str(c).lower() not in {k.lower() for k in (*_ID_CANDIDATES, *_NAME_CANDIDATES)}:
                var_source.setdefault(str(c), label)
        body["secret_vars"] = secret.astype(object).where(secret.notna(), "")
        body["source"] = src.to_numpy()
        if merged is None:
            merged = body
            continue
        overlap = [c for c in body.columns if c in merged.columns
                   and c not in ("secret_vars", "source")]
        for c in overlap:
            if pd.api.types.is_numeric_dtype(body[c]):
                a = merged[c].reindex(body.index)
                diff = a.notna() & body[c].notna() & ~np.isclose(
                    a.fillna(0).to_numpy(dtype=float), body[c].fillna(0).to_numpy(dtype=float))
                if diff.any():
                    raise SchemaError(
                        f"{tname}: column {c} is also in an earlier official table with other "
                        "values; pass each variable in one table only")
        body = body.drop(columns=overlap)
        sec_left = merged.pop("secret_vars")
        src_left = merged.pop("source")
        sec_right = body.pop("secret_vars")
        src_right = body.pop("source")
        merged = merged.join(body, how="outer")
        sec = pd.concat([sec_left.reindex(merged.index), sec_right.reindex(merged.index)],
                        axis=1).fillna("")
        merged["secret_vars"] = sec.apply(
            lambda r: ";".join(x for x in (str(r.iloc[0]), str(r.iloc[1])) if x), axis=1)
        srcs = pd.concat([src_left.reindex(merged.index), src_right.reindex(merged.index)],
                         axis=1)
        merged["source"] = srcs.apply(_join_sources, axis=1)
    assert merged is not None
    return merged, var_source


def _join_sources(row: pd.Series) -> str:
    parts: list[str] = []
    for x in row:
        if isinstance(x, str) and x:
            parts += [p for p in x.split(" + ") if p and p not in parts]
    return " + ".join(parts)


def _code_kind(key: str) -> str:
    return {"code_qpv": "qpv", "code_iris": "iris", "insee_com": "commune",
            "siren_epci": "epci"}.get(key.lower(), "qpv")


def zone_indicators(
    zones: pd.DataFrame,
    *,
    vintage: int | Mapping[str, int],
    official: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
    computed: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
    estimates: pd.DataFrame | None = None,
    indicators: Iterable[str | Indicator] | None = None,
    key: str | None = None,
    name_col: str | None = None,
    fill_gaps: bool = True,
    estimate_origin: str = ORIGIN_ESTIMATE,
    estimate_source: str | None = None,
) -> pd.DataFrame:
    """Compute indicators per zone (QPV): official where published, IRIS estimates elsewhere.

    For each zone and indicator the value comes from the first of:

    1. ``official``: per-zone tables published by INSEE/ONPV (``read_insee_table(path,
       level="qpv")``), used as they are (origin :data:`ORIGIN_OFFICIAL`);
    2. ``computed``: per-zone tables computed by qpvgeo from located data
       (``housing.social_housing_stock``, ``thermography.heat_loss_shares``,
       ``health.health_access``…; origin :data:`ORIGIN_COMPUTED`), an estimate where a
       variable used has a companion flag ``<var>_is_estimate`` (``rp_count`` →
       ``rp_is_estimate``, ``pop`` → ``pop_is_estimate``) set;
    3. ``estimates``: per-zone estimates from IRIS data (``qpvgeo.interpolation``), marked
       ``is_estimate`` (origin :data:`ORIGIN_ESTIMATE`); used where the official value is
       missing only when ``fill_gaps``.

    Numerator and denominator of one figure always come from the same table. A zone absent
    from every table, or whose value is secret in all, keeps a missing value with the reasons.

    Parameters
    ----------
    zones
        The zones (QPV layer or table): one row per zone with its code (``code_qpv``) and name
        (``nom_qpv``). A GeoDataFrame keeps its geometry in the result.
    vintage
        Year or mapping by dataset/indicator (see :func:`compute_indicators`), e.g.
        ``{"rp": 2020, "filosofi": 2020, "rpls": 2021, "bpe": 2023, "thermographie": 2022}``.
    official
        One or several official per-zone tables keyed by the same code column.
    computed
        One or several per-zone tables keyed by the code column or indexed like ``zones``.
    estimates
        Per-zone estimated variables, keyed by the code column or indexed like ``zones``; its
        ``method`` column (if any) is quoted in ``*_method``.
    indicators
        Keys or records; default every catalogue indicator found in the tables.
    key, name_col
        Code and name columns of ``zones`` (default: the first of ``code_qpv``, ``code_iris``,
        ``insee_com`` … and ``nom_qpv``, ``nom_iris`` …).
    fill_gaps
        Use estimates where the official value is missing (secret or absent).
    estimate_origin, estimate_source
        Origin label and source label of the estimates.

    Returns
    -------
    pandas.DataFrame
        Index and order of ``zones``; the code and name columns, the geometry if any, and the
        wide indicator columns of :func:`compute_indicators`. ``attrs["qpvgeo"]`` records the
        key, name column, vintages and the zones missing from each input.

    Raises
    ------
    SchemaError, CodeFormatError, DuplicateKeyError
        Missing key column, numeric codes, duplicated zone codes.
    """
    official_tables = _as_list(official)
    computed_tables = _as_list(computed)
    if not official_tables and not computed_tables and estimates is None:
        raise SchemaError("zone_indicators needs official=..., computed=... and/or "
                          "estimates=... tables")
    key = _detect_column(zones, key, _ID_CANDIDATES, "key", "zones")
    assert key is not None
    name_col = _detect_column(zones, name_col, _NAME_CANDIDATES, "name_col", "zones",
                              required=False)
    _validate.check_string_key(zones, key, _code_kind(key), name="zones")
    _validate.check_unique(zones, key, name="zones")
    codes = zones[key].astype(object)
    inds = _indicator_list(indicators, [*official_tables, *computed_tables, estimates],
                           vintage)
    attrs: dict[str, Any] = {"key": key, "name_col": name_col, "vintage":
                             _vintage_repr(vintage), "indicators": [i.key for i in inds]}

    # layers in priority order: (word for reasons, wide values, zone present, absent reason)
    layers: list[tuple[str, pd.DataFrame, pd.Series, str]] = []
    if official_tables:
        names = [f"official table {i + 1}" for i in range(len(official_tables))]
        merged, _ = _merge_official(official_tables, key, names)
        present = codes.isin(merged.index)
        aligned = merged.reindex(pd.Index(codes.to_numpy(), dtype=object))
        aligned.index = zones.index
        aligned["source"] = aligned["source"].astype(object).where(aligned["source"].notna(),
                                                                   "")
        layers.append(("tableau officiel", _bare(compute_indicators(
            aligned, vintage=vintage, indicators=inds, origin=ORIGIN_OFFICIAL,
            name="official")), present, "zone absente des tableaux officiels"))
        attrs["zones_missing_from_official"] = codes[~present].tolist()
        attrs["official_zones_not_in_zones"] = sorted(set(merged.index) - set(codes))
    for i, table in enumerate(computed_tables):
        aligned, present = _align_table(table, zones, key, codes, f"computed table {i + 1}")
        layers.append(("tableau calculé", _bare(compute_indicators(
            aligned, vintage=vintage, indicators=inds, origin=ORIGIN_COMPUTED,
            is_estimate="auto", name=f"computed table {i + 1}")), present,
            "zone absente du tableau calculé"))
    if estimates is not None and (fill_gaps or not official_tables):
        aligned, present = _align_table(estimates, zones, key, codes, "estimates")
        meth_col = _validate.find_column(aligned, "method")
        est_method = None
        if meth_col is not None:
            m = aligned[meth_col].dropna().astype(str).unique()
            est_method = "estimation : " + " / ".join(m) if len(m) else None
        layers.append(("estimation IRIS", _bare(compute_indicators(
            aligned, vintage=vintage, indicators=inds, origin=estimate_origin,
            source=estimate_source, method=est_method or "estimation à partir des IRIS",
            is_estimate=True, name="estimates")), present, "zone absente des estimations"))
        attrs["zones_missing_from_estimates"] = codes[~present].tolist()

    out: dict[str, Any] = {key: codes}
    if name_col is not None:
        out[name_col] = zones[name_col].astype(object)
    for ind in inds:
        k = ind.key
        cols = [k] + [f"{k}_{s}" for s in _SUFFIXES]
        chosen: pd.DataFrame | None = None
        notes = pd.Series("", index=zones.index, dtype=object)
        for word, vals, present, absent in layers:
            layer = vals[cols].copy()
            reason = layer[f"{k}_missing_reason"].where(present, absent).astype(str)
            if chosen is None:
                chosen = layer
            else:
                take = chosen[k].isna() & layer[k].notna()
                for c in cols:
                    chosen[c] = chosen[c].where(~take, layer[c])
                chosen[f"{k}_method"] = chosen[f"{k}_method"].where(
                    ~take, layer[f"{k}_method"].astype(str) + " (" + notes + ")")
            notes = notes.where(notes == "", notes + " ; ") + f"{word} : " + reason
        assert chosen is not None
        chosen[f"{k}_missing_reason"] = notes.where(chosen[k].isna(), "")
        if len(layers) == 1:
            chosen[f"{k}_missing_reason"] = layers[0][1][f"{k}_missing_reason"].where(
                layers[0][2], layers[0][3]).where(chosen[k].isna(), "")
        for c in cols:
            out[c] = chosen[c]
    ill = pd.Series(False, index=zones.index)
    for ind in inds:
        ill |= out[f"{ind.key}_source"].astype(str).map(_is_illustrative_source)
    ill |= pd.Series(_validate.is_illustrative(pd.DataFrame(zones)), index=zones.index)
    out["is_illustrative"] = ill
    result = pd.DataFrame(out, index=zones.index)
    if hasattr(zones, "crs") and getattr(zones, "geometry", None) is not None:
        import geopandas as gpd

        result = gpd.GeoDataFrame(result, geometry=zones.geometry.copy(), crs=zones.crs)
    result.attrs["qpvgeo"] = attrs
    return result


def _as_list(tables: pd.DataFrame | Sequence[pd.DataFrame] | None) -> list[pd.DataFrame]:
    if tables is None:
        return []
    return [tables] if isinstance(tables, pd.DataFrame) else list(tables)


def _align_table(
    table: pd.DataFrame, zones: pd.DataFrame, key: str, codes: pd.Series, what: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Align a per-zone table on ``zones``: by the code column, else by an equal index."""
    kcol = _validate.find_column(table, key)
    if kcol is not None:
        _validate.check_string_key(table, kcol, _code_kind(key), name=what)
        _validate.check_unique(table, kcol, name=what)
        body = pd.DataFrame(table).set_index(kcol)
        body.index = body.index.astype(object)
        present = codes.isin(body.index)
        aligned = body.reindex(pd.Index(codes.to_numpy(), dtype=object))
        aligned.index = zones.index
        aligned[key] = codes
    elif table.index.equals(zones.index):
        aligned = pd.DataFrame(table).copy()
        present = pd.Series(True, index=zones.index)
    else:
        raise SchemaError(_validate.missing_message(
            what, [key], table.columns,
            f"{what} must carry the zone code column {key} or the index of the zones"))
    geom = [c for c in aligned.columns if str(c).lower() == "geometry"]
    return pd.DataFrame(aligned.drop(columns=geom)), present


def territory_indicators(
    units: pd.DataFrame | Sequence[pd.DataFrame] | None = None,
    *,
    vintage: int | Mapping[str, int],
    official: pd.DataFrame | Mapping[str, float] | None = None,
    indicators: Iterable[str | Indicator] | None = None,
    name: str = "territoire",
    code: str | None = None,
    source: str | None = None,
    official_source: str | None = None,
) -> pd.DataFrame:
    """Compute the indicators of the whole territory (EPCI), one row.

    Additive variables are summed over ``units`` (IRIS or communes of the territory); a
    figure published for the territory itself (``official``: e.g. the Filosofi median of the
    EPCI, which cannot be rebuilt from IRIS) is used as published and wins over the sum.

    Parameters
    ----------
    units
        Table(s) of raw variables, one row per IRIS or commune of the territory. Several
        tables (one per INSEE base) are combined column-wise by summing each separately.
    vintage
        Year or mapping by dataset/indicator.
    official
        One-row table or mapping ``{variable: value}`` of official territory-level figures
        (``{"DISP_MED20": 17020, "DISP_TP6020": 36.1}``).
    indicators
        Keys or records; default the catalogue indicators found in the inputs.
    name, code
        Name and code of the territory (``"CALL"``, ``"246200364"``).
    source, official_source
        Source labels of ``units`` and ``official``.

    Returns
    -------
    pandas.DataFrame
        One row indexed by ``name`` with columns ``code``, ``nom`` and the wide indicator
        columns. A sum over units where some value is missing (secret) is missing, with the
        reason; non-additive indicators without an official figure are missing with the
        reason "non additif".
    """
    unit_tables: list[pd.DataFrame] = []
    if units is not None:
        unit_tables = [units] if isinstance(units, pd.DataFrame) else list(units)
    off_table: pd.DataFrame | None = None
    if official is not None:
        if isinstance(official, pd.DataFrame):
            if len(official) != 1:
                raise SchemaError(f"official territory table must have one row, got "
                                  f"{len(official)}; select the territory's row first")
            off_table = official.reset_index(drop=True)
        else:
            off_table = pd.DataFrame({k: [v] for k, v in official.items()})
        off_table.index = pd.Index([name])
    if not unit_tables and off_table is None:
        raise SchemaError("territory_indicators needs units=... and/or official=...")
    summed: pd.DataFrame | None = None
    n_units = 0
    if unit_tables:
        rows = []
        srcs = []
        unit_counts: list[int] = []
        candidates = (CATALOGUE if indicators is None
                      else [get_indicator(i) for i in indicators])
        non_additive = _non_additive_names(candidates, vintage)
        for t in unit_tables:
            _validate.check_not_empty(t, name="territory units")
            n_units = max(n_units, len(t))
            unit_counts.append(len(t))
            rows.append(_sum_units(t, non_additive))
            srcs.append(str(_row_sources(t, None).iloc[0]) if len(t) else "")
        secret = [str(r["secret_vars"].iloc[0]) for r in rows]
        summed = pd.concat([r.drop(columns="secret_vars") for r in rows], axis=1)
        summed.index = pd.Index([name])
        summed = summed.loc[:, ~summed.columns.duplicated()]
        summed["secret_vars"] = ";".join(x for x in secret if x)
        summed["source"] = source or " + ".join(dict.fromkeys(s for s in srcs if s))
    inds = _indicator_list(indicators, [summed, off_table, *unit_tables], vintage)
    parts: list[pd.DataFrame] = []
    if off_table is not None:
        parts.append(compute_indicators(off_table, vintage=vintage, indicators=inds,
                                        origin=ORIGIN_OFFICIAL_TERRITORY,
                                        source=official_source, name="official territory"))
    if summed is not None:
        parts.append(compute_indicators(
            summed, vintage=vintage, indicators=inds, origin=ORIGIN_COMPUTED,
            method="somme sur " + " / ".join(map(str, dict.fromkeys(unit_counts)))
            + " unités" + (" selon la table" if len(set(unit_counts)) > 1 else ""),
            name="territory units"))
    out: dict[str, Any] = {"code": pd.Series([code], index=[name], dtype=object),
                           "nom": pd.Series([name], index=[name], dtype=object)}
    parts = [_bare(p) for p in parts]
    for ind in inds:
        cols = [ind.key] + [f"{ind.key}_{s}" for s in _SUFFIXES]
        chosen = parts[0][cols].copy()
        for other in parts[1:]:
            take = chosen[ind.key].isna() & other[ind.key].notna()
            for c in cols:
                chosen[c] = chosen[c].where(~take, other[c])
        in_units = summed is not None and _resolvable(ind, summed, _vintage_for(
            ind, vintage, required=ind.needs_vintage))
        published = any(_resolvable(ind, t, _vintage_for(ind, vintage,
                                                         required=ind.needs_vintage))
                        for t in unit_tables)
        if chosen[ind.key].isna().all() and published and not in_units:
            what = ("une médiane ne s'additionne pas" if ind.kind == "median" else
                    "un taux publié sans ses effectifs ne s'additionne pas")
            chosen[f"{ind.key}_missing_reason"] = (
                f"non calculable à partir des IRIS ou des communes : {what}. Fournir la valeur "
                "Filosofi publiée pour le territoire (fichier Filosofi de l'EPCI)")
        for c in cols:
            out[c] = chosen[c]
    ill = any(str(p["is_illustrative"].iloc[0]) == "True" for p in parts)
    out["is_illustrative"] = pd.Series([ill], index=[name])
    result = pd.DataFrame(out, index=pd.Index([name]))
    result.attrs["qpvgeo"] = {"territory": name, "code": code, "n_units": n_units,
                              "vintage": _vintage_repr(vintage),
                              "indicators": [i.key for i in inds]}
    return result


_NON_ADDITIVE_PATTERN = re.compile(r"^(DISP|DEC)_", re.IGNORECASE)
"""Filosofi variables (medians, deciles, rates): never summed over units."""


def _non_additive_names(inds: Iterable[Indicator], vintage: Any) -> set[str]:
    """Lower-case names of the published values (medians, rates) of ``inds``."""
    names: set[str] = set()
    for i in inds:
        v = _vintage_for(i, vintage, required=False)
        if (v is None and i.needs_vintage) or not i.value:
            continue
        expr = i.variables(v)["value"] or ""
        names |= {t.strip().lower() for alt in expr.split("|") for t in alt.split("+")}
    return names


def _sum_units(t: pd.DataFrame, non_additive: set[str]) -> pd.DataFrame:
    """One-row sum of the additive numeric variables of ``t``; a column with a gap is NaN.

    Published values (medians, rates: ``non_additive`` and Filosofi ``DISP_*``/``DEC_*``) are
    left out: they cannot be summed, only replaced by the territory's official figure.
    """
    num_cols = [c for c in t.columns if pd.api.types.is_numeric_dtype(t[c])
                and not pd.api.types.is_bool_dtype(t[c])
                and str(c).lower() not in {"geometry", *non_additive}
                and not _NON_ADDITIVE_PATTERN.match(str(c))]
    sums = {}
    incomplete = []
    for c in num_cols:
        s = t[c].astype(float)
        if s.isna().any():
            sums[c] = [np.nan]
            incomplete.append(str(c))
        else:
            sums[c] = [float(s.sum())]
    row = pd.DataFrame(sums, index=[0])
    row["secret_vars"] = ";".join(incomplete)
    return row

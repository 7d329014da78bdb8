"""Carry IRIS figures onto QPV (areal and dasymetric interpolation) and across zoning vintages.

Census and Filosofi figures are published per IRIS; a QPV cuts IRIS. This module estimates QPV
figures from IRIS figures, and old-vintage figures on new perimeters, with these rules:

**Counts (extensive variables)** — population, dwellings, unemployed… A source unit *i* gives a
target *j* the share ``a_ij`` of its count: ``v_j = Σ_i a_ij · v_i``. ``a_ij`` is the part of
the source's area lying in the target (``method = "area"``) or, with ``weights``, the part of
its weight — dwellings, floor area, RPLS points — lying in the target
(``method = "dasymetric:<weight>"``: people live where dwellings are, not in parks). A source
unit without any weight falls back to area shares (``weight_fallback``).

**Allocation semantics** (tobler's ``allocate_total``). Default ``allocate_total=False``: the
part of a source unit outside every target stays unallocated, so for every extensive variable
``Σ_j v_j = Σ_i v_i · Σ_j a_ij`` = the source total over the covered part (equal to the source
total when the targets cover the sources). ``allocate_total=True`` renormalises the shares of
each source over the targets it overlaps (``Σ_j a_ij = 1``): the full source total is allocated.

**Rates (ratios)** are never averaged: ``ratios={"taux_chomage": ("P20_CHOM1564",
"P20_ACT1564")}`` interpolates numerator and denominator as counts and divides:
``r_j = N_j / D_j`` (a share 0–1 when the numerator is a subset of the denominator).

**Intensive values without numerator** (Filosofi ``DISP_MED20``, ``DISP_TP6020``): a median
cannot be split nor summed, so it is **not interpolated**. The result gives the range
(``<var>_min``, ``<var>_max``) over the source units contributing to the target, the share of the
target's allocation measure covered by units whose value is known (``<var>_known_share``), and
each unit's value with its share of the target (``<var>_detail``: ``"code=value@share;…"``).
The names are listed in the ``not_interpolable`` column.

**Missing values.** A secret or missing source cell (NaN) makes the target's value missing
whenever that source unit contributes to the target (``a_ij > 0``); it is never read as 0. The
``missing_vars`` column lists the variables missing on each row; each ratio has a
``<ratio>_missing_reason`` (``"secret_ou_manquant"``, ``"denominateur_nul"``, ``"hors_source"``).
A target outside every source unit has ``coverage_share = 0`` and missing values
(``"hors_source"``).

**Estimate flag.** ``share_estimated`` is the share (0–1) of the target's allocation measure
(its area, or its weight when dasymetric) that lies in source units **not wholly allocated to
that target** (allocation share below ``1 - max(min_share, 1e-9)``); the rest comes from source
units lying entirely in the target, whose figures are exact sums. 0 means the target is an
exact union of source units; 1 means every figure is an estimate. ``is_estimate`` is
``share_estimated > 0``: outputs then say "estimation à partir des IRIS".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.errors import DataQualityWarning, SchemaError
from qpvgeo.overlay import (
    DEFAULT_MIN_SHARE,
    _allocation_shares,
    _as_str_list,
    _key_kind,
    _method_label,
    _overlap,
)

__all__ = ["apply_crosswalk", "interpolate"]

REASON_SECRET = "secret_ou_manquant"
REASON_ZERO = "denominateur_nul"
REASON_NO_SOURCE = "hors_source"

RatioSpec = Mapping[str, tuple[str, str]]


def _check_variables(
    extensive: list[str], ratios: RatioSpec, intensive: list[str]
) -> list[str]:
    """Return the counts to interpolate (extensive + ratio terms, unique, in order)."""
    for name, spec in ratios.items():
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2):
            raise SchemaError(
                f"ratio {name!r}: expected (numerator, denominator) column names, got {spec!r}; "
                "e.g. ratios={'taux_chomage': ('P20_CHOM1564', 'P20_ACT1564')}"
            )
    counts = list(dict.fromkeys(
        [*extensive, *(str(c) for spec in ratios.values() for c in spec)]))
    clash = (set(ratios) & set(counts)) | (set(ratios) & set(intensive)) | (
        set(intensive) & set(counts))
    if clash:
        raise SchemaError(
            f"variable name(s) {', '.join(sorted(clash))} used twice (as count, ratio or "
            "intensive value); give ratios their own names"
        )
    if not counts and not intensive:
        raise SchemaError(
            "nothing to interpolate: pass extensive=[...], ratios={...} or intensive=[...]"
        )
    return counts


def _numeric_values(table: pd.DataFrame, columns: list[str], *, name: str) -> pd.DataFrame:
    """Return the requested columns as floats, refusing text that is not a number."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SchemaError(_validate.missing_message(
            name, missing, table.columns,
            "check the variable names (official INSEE names such as P20_POP) or pass values="))
    out: dict[str, pd.Series] = {}
    for col in columns:
        raw = table[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna()
        if bad.any() and not pd.api.types.is_numeric_dtype(raw):
            examples = ", ".join(map(repr, pd.unique(raw[bad])[:5]))
            raise SchemaError(
                f"{name}: column {col} holds text that is not a number (e.g. {examples}); "
                "INSEE secret markers (s, nd, ns) must be read as missing: read the table "
                "with qpvgeo.io.read_insee_table or convert with pandas.to_numeric"
            )
        out[col] = num.astype(float)
    return pd.DataFrame(out, index=table.index)


def _source_values(
    source: pd.DataFrame, values: pd.DataFrame | None, source_key: str, columns: list[str]
) -> pd.DataFrame:
    """Table of the requested variables indexed by source code (values first, then source)."""
    if values is None:
        table = pd.DataFrame(source.drop(columns=source.geometry.name))
        name = "source"
    else:
        if source_key in values.columns:
            table = values
        elif values.index.name == source_key:
            table = values.reset_index()
        else:
            raise SchemaError(_validate.missing_message(
                "values", [source_key], values.columns,
                f"the values table must hold the source codes in column {source_key}"))
        _validate.check_string_key(table, source_key, _key_kind(source_key, "iris"),
                                   name="values")
        _validate.check_unique(table, source_key, name="values")
        missing_here = [c for c in columns if c not in table.columns and c in source.columns]
        if missing_here:
            extra = pd.DataFrame(source[[source_key, *missing_here]])
            table = table.merge(extra, on=source_key, how="outer")
        name = "values"
    vals = _numeric_values(table, columns, name=name)
    vals.index = pd.Index(table[source_key].astype(str).to_numpy(), name=source_key)
    return vals


def _detail(codes: Sequence[str], vals: np.ndarray, shares: np.ndarray) -> str:
    parts = []
    for c, v, s in zip(codes, vals, shares, strict=True):
        value = "NA" if not np.isfinite(v) else f"{v:g}"
        parts.append(f"{c}={value}@{s:.3f}")
    return ";".join(parts)


def _allocate(
    pairs: pd.DataFrame,
    values: pd.DataFrame,
    target_codes: np.ndarray,
    *,
    counts: list[str],
    ratios: RatioSpec,
    intensive: list[str],
    whole_tol: float,
    method: str,
) -> pd.DataFrame:
    """Allocate source values to targets through a pair table (shared engine).

    ``pairs`` columns: ``src``, ``tgt`` (codes), ``alloc`` (share of the source given to the
    target), ``tshare`` (share of the target's allocation measure in the pair), ``ashare``
    (share of the target's area in the pair), ``fallback`` (bool). Returns one row per target
    code, positional index in the order of ``target_codes``.
    """
    n_t = len(target_codes)
    tindex = pd.Index(target_codes)
    tpos = tindex.get_indexer(pd.Index(pairs["tgt"]))
    alloc = pairs["alloc"].to_numpy(dtype=float)
    tshare = pairs["tshare"].to_numpy(dtype=float)
    contributing = alloc > 0
    n_pairs = np.bincount(tpos, minlength=n_t)
    no_source = n_pairs == 0

    out: dict[str, Any] = {}
    missing: dict[str, np.ndarray] = {}
    src_codes = pairs["src"].astype(str).to_numpy()
    known_rows = values.index.get_indexer(pd.Index(src_codes))
    absent = known_rows < 0
    if absent.any():
        ex = ", ".join(pd.unique(src_codes[absent])[:5])
        warnings.warn(
            f"values: {len(pd.unique(src_codes[absent]))} source unit(s) overlapping a target "
            f"have no row in the values table (e.g. {ex}); their figures count as missing",
            DataQualityWarning, stacklevel=3,
        )

    def column(var: str) -> np.ndarray:
        col = values[var].to_numpy(dtype=float)
        return np.where(absent, np.nan, col[np.clip(known_rows, 0, None)])

    for var in counts:
        vals = column(var)
        unknown = contributing & np.isnan(vals)
        contrib = np.where(contributing & ~unknown, vals * alloc, 0.0)
        total = np.bincount(tpos, weights=contrib, minlength=n_t)
        has_nan = np.bincount(tpos, weights=unknown.astype(float), minlength=n_t) > 0
        total[has_nan | no_source] = np.nan
        out[var] = total
        missing[var] = has_nan | no_source

    ratio_reasons: dict[str, np.ndarray] = {}
    for name, (num, den) in ratios.items():
        nv, dv = out[num], out[den]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where((dv != 0) & np.isfinite(dv) & np.isfinite(nv), nv / dv, np.nan)
        reason = np.full(n_t, None, dtype=object)
        reason[np.isfinite(dv) & (dv == 0)] = REASON_ZERO
        reason[np.isnan(nv) | np.isnan(dv)] = REASON_SECRET
        reason[no_source] = REASON_NO_SOURCE
        out[name] = r
        ratio_reasons[name] = reason
        missing[name] = np.isnan(r)

    for var in intensive:
        vals = column(var)
        known = contributing & np.isfinite(vals)
        vmin = np.full(n_t, np.nan)
        vmax = np.full(n_t, np.nan)
        if known.any():
            grp = pd.DataFrame({"t": tpos[known], "v": vals[known]}).groupby("t")["v"]
            mins, maxs = grp.min(), grp.max()
            vmin[mins.index.to_numpy()] = mins.to_numpy()
            vmax[maxs.index.to_numpy()] = maxs.to_numpy()
        tot = np.bincount(tpos[contributing], weights=tshare[contributing], minlength=n_t)
        kn = np.bincount(tpos[known], weights=tshare[known], minlength=n_t)
        with np.errstate(invalid="ignore", divide="ignore"):
            known_share = np.where(tot > 0, kn / np.where(tot > 0, tot, 1.0), np.nan)
        details = np.full(n_t, "", dtype=object)
        for t in np.unique(tpos[contributing]):
            sel = contributing & (tpos == t)
            details[t] = _detail(src_codes[sel], vals[sel], tshare[sel])
        out[f"{var}_min"] = vmin
        out[f"{var}_max"] = vmax
        out[f"{var}_known_share"] = known_share
        out[f"{var}_detail"] = details
        missing[var] = np.isnan(vmin)

    for name, reason in ratio_reasons.items():
        out[f"{name}_missing_reason"] = pd.Series(reason, dtype=object)
    names = list(missing)
    flags = np.column_stack([missing[k] for k in names]) if names else np.zeros((n_t, 0), bool)
    out["missing_vars"] = pd.Series(
        [";".join(n for n, f in zip(names, row, strict=True) if f) for row in flags], dtype=object)
    out["not_interpolable"] = ";".join(intensive)
    result = pd.DataFrame(out, index=pd.RangeIndex(n_t))

    codes_joined = np.full(n_t, "", dtype=object)
    for t in np.unique(tpos):
        codes_joined[t] = ";".join(src_codes[tpos == t])
    result["n_sources"] = n_pairs.astype(np.int64)
    result["source_codes"] = codes_joined
    result["coverage_share"] = np.clip(
        np.bincount(tpos, weights=pairs["ashare"].to_numpy(dtype=float), minlength=n_t), 0, 1)
    split = alloc < 1.0 - whole_tol
    tot_all = np.bincount(tpos, weights=tshare, minlength=n_t)
    tot_split = np.bincount(tpos, weights=np.where(split, tshare, 0.0), minlength=n_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_est = np.where(tot_all > 0, tot_split / np.where(tot_all > 0, tot_all, 1.0),
                             np.where(no_source, np.nan, 1.0))
    result["share_estimated"] = np.clip(share_est, 0.0, 1.0)
    result["is_estimate"] = ~(result["share_estimated"] == 0.0)
    result["method"] = method
    fb = pairs["fallback"].to_numpy(dtype=bool) & contributing
    result["weight_fallback"] = np.bincount(tpos, weights=fb.astype(float), minlength=n_t) > 0
    return result


PARTIAL_COVERAGE = 0.95
"""Below this share of its area covered by source units, a target is reported as partly
covered (its counts cover only that part: an undercount of the whole target)."""


def _warn_coverage(result: pd.DataFrame, key_values: np.ndarray, what: str) -> None:
    none = result["n_sources"].to_numpy() == 0
    if none.any():
        ex = ", ".join(map(str, key_values[none][:5]))
        warnings.warn(
            f"{int(none.sum())} {what}(s) lie outside every source unit (e.g. {ex}): their "
            "figures are missing (coverage_share = 0)",
            DataQualityWarning, stacklevel=3,
        )
    cov = result["coverage_share"].to_numpy()
    partial = ~none & (cov < PARTIAL_COVERAGE)
    if partial.any():
        ex = ", ".join(f"{k} ({c:.0%})" for k, c in zip(key_values[partial][:5], cov[partial][:5],
                                                       strict=True))
        warnings.warn(
            f"{int(partial.sum())} {what}(s) only partly covered by the source units (e.g. "
            f"{ex} of the area): their counts cover only that part (see coverage_share); "
            "extend the source layer (e.g. IRIS of the neighbouring communes)",
            DataQualityWarning, stacklevel=3,
        )


def interpolate(
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame,
    *,
    extensive: str | Sequence[str] = (),
    ratios: RatioSpec | None = None,
    intensive: str | Sequence[str] = (),
    values: pd.DataFrame | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_col: str | None = None,
    source_key: str = "code_iris",
    target_key: str = "code_qpv",
    min_share: float = DEFAULT_MIN_SHARE,
    allocate_total: bool = False,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Estimate target-zone figures (QPV) from source-zone figures (IRIS).

    See the module docstring for the exact rules (counts, ratios, medians, missing values,
    ``share_estimated``).

    Parameters
    ----------
    source
        Source polygons (IRIS), any CRS (reprojected to EPSG:2154), with a unique text code
        ``source_key`` and, unless ``values`` is given, the variable columns.
    target
        Target polygons (QPV), any CRS, with a unique text code ``target_key``.
    extensive
        Count variables (people, dwellings, households), split by area or weight share.
    ratios
        ``{name: (numerator, denominator)}``: rates computed as interpolated numerator /
        interpolated denominator (the two terms are output too).
    intensive
        Values without numerator (medians, Filosofi rates): reported as a range, not
        interpolated.
    values
        Optional table of variables keyed by ``source_key`` (column or index), e.g. from
        ``qpvgeo.io.read_insee_table``; its columns take precedence over ``source``'s.
    weights, weight_col
        Optional dasymetric weights: building polygons or dwelling points and the weight column
        (see :mod:`qpvgeo.overlay`). Default: area weighting.
    source_key, target_key
        Code columns (text).
    min_share
        Sliver threshold (share 0–1, see :mod:`qpvgeo.overlay`): pairs below it for both zones
        are dropped before allocation (default 0.01; their counts, < 1 % of a source unit, stay
        unallocated). ``0`` keeps every intersection.
    allocate_total
        ``False`` (default): the part of a source outside every target is not allocated;
        ``True``: each source's total is fully shared among the targets it overlaps.
    progress
        Optional callback ``(fraction, message)``.

    Returns
    -------
    pandas.DataFrame
        One row per target, with the index and order of ``target``: ``target_key``; each count
        (same unit as the source); each ratio; for each intensive value ``<var>_min``,
        ``<var>_max``, ``<var>_known_share``, ``<var>_detail``; ``<ratio>_missing_reason``;
        ``missing_vars``; ``not_interpolable``; ``n_sources`` and ``source_codes``
        (";"-joined) of the overlapping source units; ``coverage_share`` (share 0–1 of the
        target's area covered by them; below :data:`PARTIAL_COVERAGE` a
        :class:`~qpvgeo.errors.DataQualityWarning` says the counts cover only that part);
        ``share_estimated`` and ``is_estimate``; ``method``
        (``"area"`` or ``"dasymetric:<weight>"``); ``weight_fallback``; ``source =
        "illustratif"`` when an input is illustrative. ``attrs["qpvgeo"]`` holds provenance.

    Raises
    ------
    MissingCRSError, SchemaError, CodeFormatError, DuplicateKeyError, EmptyLayerError
        On bad input, naming the layer, the column and the fix.

    Examples
    --------
    >>> interpolate(iris, qpv, extensive=["P20_POP"],  # doctest: +SKIP
    ...             ratios={"taux_chomage": ("P20_CHOM1564", "P20_ACT1564")},
    ...             intensive=["DISP_MED20"], values=insee, weights=buildings,
    ...             weight_col="nb_logts")
    """
    ext = _as_str_list(extensive)
    inten = _as_str_list(intensive)
    ratio_spec: dict[str, tuple[str, str]] = {
        str(k): (str(v[0]), str(v[1])) if isinstance(v, (tuple, list)) and len(v) == 2
        else v for k, v in (ratios or {}).items()}
    counts = _check_variables(ext, ratio_spec, inten)
    if not isinstance(source, gpd.GeoDataFrame):
        raise SchemaError(f"source: expected a GeoDataFrame of polygons, got "
                          f"{type(source).__name__}")
    report(progress, 0.0, "lecture des variables")
    if source_key in source.columns:
        _validate.check_string_key(source, source_key, _key_kind(source_key, "iris"),
                                   name="source")
    vals = _source_values(source, values, source_key, [*counts, *inten])

    ov = _overlap(source, target, source_key=source_key, target_key=target_key,
                  weights=weights, weight_col=weight_col, min_share=min_share,
                  source_name="source", target_name="target",
                  progress=scaled(progress, 0.05, 0.85))
    report(progress, 0.9, "répartition des valeurs")
    p = ov.pairs
    weighted = "weight_share_of_target" in p.columns
    pairs = pd.DataFrame({
        "src": p["src"], "tgt": p["tgt"],
        "alloc": _allocation_shares(p, allocate_total=allocate_total),
        "tshare": p["weight_share_of_target" if weighted else "share_of_target"],
        "ashare": p["share_of_target"],
        "fallback": p["weight_fallback_source"] if weighted else False,
    })
    codes = target[target_key].astype(str).to_numpy()
    method = _method_label(ov.weight_label)
    res = _allocate(pairs, vals, codes, counts=counts, ratios=ratio_spec,
                    intensive=inten, whole_tol=max(ov.min_share, 1e-9), method=method)
    res.insert(0, target_key, pd.Series(codes, dtype=object))
    res.index = target.index
    illustrative = ov.illustrative or (values is not None and _validate.is_illustrative(values))
    if illustrative:
        res["source"] = _validate.ILLUSTRATIVE
    _warn_coverage(res, codes, "target")
    res.attrs["qpvgeo"] = {
        "source": _validate.ILLUSTRATIVE if illustrative else None,
        "vintage": None,
        "method": (f"interpolation {method}"
                   + (", allocation totale" if allocate_total else "")
                   + f", seuil de recouvrement {ov.min_share:g}"),
        "units": {"share_estimated": "share 0–1", "coverage_share": "share 0–1 of area",
                  **dict.fromkeys(ratio_spec, "ratio numerator/denominator")},
        "slivers_dropped": ov.n_slivers,
        "allocate_total": allocate_total,
        "not_interpolable": inten,
    }
    report(progress, 1.0, "interpolation terminée")
    return res


def apply_crosswalk(
    table: pd.DataFrame,
    values: pd.DataFrame,
    *,
    extensive: str | Sequence[str] = (),
    ratios: RatioSpec | None = None,
    intensive: str | Sequence[str] = (),
    key: str = "code_qpv",
    new_key: str = "code_qpv",
    whole_tol: float | None = None,
) -> pd.DataFrame:
    """Carry figures of an old zoning onto a new one with a :func:`~qpvgeo.overlay.crosswalk`.

    Same rules as :func:`interpolate` (counts split by the table's ``allocation``, ratios as
    numerator / denominator, intensive values as ranges, missing never read as 0).

    Parameters
    ----------
    table
        Output of :func:`qpvgeo.overlay.crosswalk` (``old_code``, ``new_code``,
        ``allocation``, ``share_of_new`` and, when weighted, ``weight_share_of_new``).
    values
        Figures of the old units, keyed by ``key`` (column or index), text codes.
    extensive, ratios, intensive
        As in :func:`interpolate`.
    key
        Code column of ``values`` (the old codes).
    new_key
        Name of the code column in the result.
    whole_tol
        Tolerance under which an old unit counts as wholly carried to a new one (default: the
        table's ``min_share`` from ``attrs``, else 0.01).

    Returns
    -------
    pandas.DataFrame
        One row per new unit of ``table`` (order of first appearance), RangeIndex, with the
        columns of :func:`interpolate` (``method`` prefixed ``crosswalk:``).
    """
    ext = _as_str_list(extensive)
    inten = _as_str_list(intensive)
    ratio_spec = dict(ratios or {})
    counts = _check_variables(ext, ratio_spec, inten)
    _validate.require_columns(table, ["old_code", "new_code", "allocation", "share_of_new"],
                              name="table",
                              hint="pass the table returned by qpvgeo.overlay.crosswalk")
    if key in values.columns:
        vtable = values
    elif values.index.name == key:
        vtable = values.reset_index()
    else:
        raise SchemaError(_validate.missing_message(
            "values", [key], values.columns, "pass key= the column holding the old codes"))
    _validate.check_string_key(vtable, key, _key_kind(key, "qpv"), name="values")
    _validate.check_unique(vtable, key, name="values")
    vals = _numeric_values(vtable, [*counts, *inten], name="values")
    vals.index = pd.Index(vtable[key].astype(str).to_numpy(), name=key)
    weighted = "weight_share_of_new" in table.columns
    pairs = pd.DataFrame({
        "src": table["old_code"].astype(str).to_numpy(),
        "tgt": table["new_code"].astype(str).to_numpy(),
        "alloc": table["allocation"].to_numpy(dtype=float),
        "tshare": table["weight_share_of_new" if weighted else "share_of_new"].to_numpy(
            dtype=float),
        "ashare": table["share_of_new"].to_numpy(dtype=float),
        "fallback": (table["weight_fallback_old"].to_numpy(dtype=bool)
                     if "weight_fallback_old" in table.columns else False),
    })
    codes = pd.unique(pairs["tgt"].to_numpy())
    meta = table.attrs.get("qpvgeo", {}) if isinstance(table.attrs, dict) else {}
    if whole_tol is None:
        whole_tol = max(float(meta.get("min_share", DEFAULT_MIN_SHARE)), 1e-9)
    methods = (pd.unique(table["method"].astype(str)) if "method" in table.columns
               else np.array(["area"]))
    method = "crosswalk:" + "+".join(methods)
    res = _allocate(pairs, vals, np.asarray(codes, dtype=object), counts=counts,
                    ratios=ratio_spec, intensive=inten, whole_tol=whole_tol, method=method)
    res = res.rename(columns={"n_sources": "n_old", "source_codes": "old_codes"})
    res.insert(0, new_key, pd.Series(codes, dtype=object))
    illustrative = _validate.is_illustrative(table) or _validate.is_illustrative(values)
    if illustrative:
        res["source"] = _validate.ILLUSTRATIVE
    res.attrs["qpvgeo"] = {
        "source": _validate.ILLUSTRATIVE if illustrative else None,
        "vintage": None,
        "method": method,
        "units": {"share_estimated": "share 0–1", "coverage_share": "share 0–1 of area"},
        "not_interpolable": inten,
    }
    return res

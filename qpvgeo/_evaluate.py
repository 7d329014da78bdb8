"""Evaluating one indicator on a table of raw variables (INSEE names, secret cells NaN).

Templates are resolved against the table's columns (case-insensitive, ``|`` alternatives,
``+`` sums); every missing value carries a French reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._catalogue import CATALOGUE, Indicator, _vintage_for, get_indicator
from qpvgeo.errors import SchemaError


def _indicator_list(
    indicators: Iterable[str | Indicator] | None, tables: Sequence[pd.DataFrame | None],
    vintage: int | Mapping[str, int] | None,
) -> list[Indicator]:
    """Explicit list, or the catalogue indicators resolvable in at least one table."""
    if indicators is not None:
        out = [get_indicator(i) for i in indicators]
        keys = [i.key for i in out]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise SchemaError(f"indicator(s) listed twice: {', '.join(dup)}")
        return out
    found = []
    for ind in CATALOGUE:
        v = _vintage_for(ind, vintage, required=False)
        if v is None and ind.needs_vintage:
            continue
        if any(t is not None and _resolvable(ind, t, v) for t in tables):
            found.append(ind)
    return found


def _resolve(expr: str | None, columns: Mapping[str, str]) -> list[str] | None:
    """Pick the first alternative of ``expr`` whose variables all exist (actual names)."""
    if not expr:
        return None
    for alt in expr.split("|"):
        terms = [t.strip() for t in alt.split("+") if t.strip()]
        if terms and all(t.lower() in columns for t in terms):
            return [columns[t.lower()] for t in terms]
    return None


def _lower_map(table: pd.DataFrame) -> dict[str, str]:
    return {str(c).lower(): str(c) for c in table.columns}


def _resolvable(ind: Indicator, table: pd.DataFrame, vintage: int | None) -> bool:
    exprs = ind.variables(vintage)
    cols = _lower_map(table)
    if ind.kind == "count":
        return _resolve(exprs["numerator"], cols) is not None
    if ind.kind == "median":
        return _resolve(exprs["value"], cols) is not None
    return (
        (_resolve(exprs["numerator"], cols) is not None
         and _resolve(exprs["denominator"], cols) is not None)
        or _resolve(exprs["value"], cols) is not None
    )


def _first_alternative(expr: str | None) -> str:
    return expr.split("|")[0] if expr else ""


def _secret_sets(table: pd.DataFrame) -> pd.Series:
    """Per row, the set of variable names flagged secret/missing by the reader (lower case)."""
    col = _validate.find_column(table, "secret_vars")
    if col is None:
        return pd.Series([frozenset()] * len(table), index=table.index, dtype=object)
    return table[col].map(
        lambda s: frozenset(v.strip().lower() for v in str(s).split(";") if v.strip())
        if isinstance(s, str) else frozenset()
    )


def _as_float(table: pd.DataFrame, col: str) -> pd.Series:
    s = table[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        converted = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & converted.isna()
        if bad.any():
            examples = ", ".join(map(repr, pd.unique(s[bad].astype(str))[:3]))
            raise SchemaError(
                f"column {col} holds non-numeric values ({examples}); secret markers such as "
                "'s' or 'nd' must be read as missing: read the file with "
                "qpvgeo.io.read_insee_table"
            )
        s = converted
    return s.astype(float)


def _sum_terms(
    table: pd.DataFrame, cols: list[str], secret: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Sum columns; a row with any missing term is missing, with a French reason."""
    values = [_as_float(table, c) for c in cols]
    total = values[0].copy()
    for v in values[1:]:
        total = total + v
    reason = pd.Series("", index=table.index, dtype=object)
    missing = total.isna()
    if missing.any():
        for idx in table.index[missing.to_numpy()]:
            secret_terms: list[str] = []
            absent_terms: list[str] = []
            for c, v in zip(cols, values, strict=True):
                if pd.isna(v.loc[idx]):
                    (secret_terms if c.lower() in secret.loc[idx] else absent_terms).append(c)
            parts = []
            if secret_terms:
                parts.append("secret statistique (" + ", ".join(secret_terms) + ")")
            if absent_terms:
                parts.append("valeur non publiée ou absente du fichier ("
                             + ", ".join(absent_terms) + ")")
            reason.loc[idx] = " ; ".join(parts)
    return total, reason


@dataclass
class _Evaluated:
    value: pd.Series
    num: pd.Series
    den: pd.Series
    reason: pd.Series
    method: str
    variables: list[str]


def _evaluate(table: pd.DataFrame, ind: Indicator, vintage: int | None) -> _Evaluated:
    """Compute one indicator on every row of a table of raw variables (index kept)."""
    exprs = ind.variables(vintage)
    cols = _lower_map(table)
    idx = table.index
    nan = pd.Series(np.nan, index=idx, dtype=float)
    secret = _secret_sets(table)
    num_cols = _resolve(exprs["numerator"], cols)
    den_cols = _resolve(exprs["denominator"], cols)
    val_cols = _resolve(exprs["value"], cols)
    w_cols = _resolve(exprs["weight"], cols)

    if ind.kind == "count":
        if num_cols is None:
            return _absent(ind, exprs, idx)
        num, reason = _sum_terms(table, num_cols, secret)
        return _Evaluated(num * ind.scale, num, nan.copy(), reason,
                          "somme " + " + ".join(num_cols), list(num_cols))

    value = nan.copy()
    num = nan.copy()
    den = nan.copy()
    reason = pd.Series("", index=idx, dtype=object)
    methods: list[str] = []
    used: list[str] = []
    if ind.kind == "ratio" and num_cols is not None and den_cols is not None:
        num, r_num = _sum_terms(table, num_cols, secret)
        den, r_den = _sum_terms(table, den_cols, secret)
        zero = den.notna() & (den == 0)
        ok = num.notna() & den.notna() & ~zero
        value = (num / den.where(ok)) * ind.scale
        value = value.where(ok)
        reason = _join_reasons(r_num, r_den)
        reason = reason.where(~zero, "dénominateur nul (" + " + ".join(den_cols) + " = 0)")
        methods.append(f"({' + '.join(num_cols)}) / ({' + '.join(den_cols)})"
                       + (f" × {ind.scale:g}" if ind.scale != 1 else ""))
        used += num_cols + den_cols
    if val_cols is not None and (ind.kind == "median" or value.isna().any()):
        pub, r_pub = _sum_terms(table, val_cols[:1], secret)
        pub = pub * ind.value_scale
        fill = value.isna() & pub.notna()
        if fill.any() or not methods:
            value = value.where(~fill, pub)
            reason = reason.where(~fill, "")
            if not methods:
                reason = r_pub
            methods.append(f"valeur publiée {val_cols[0]}"
                           + (f" × {ind.value_scale:g}" if ind.value_scale != 1 else ""))
            used.append(val_cols[0])
            if ind.kind == "ratio" and w_cols is not None:
                w, _ = _sum_terms(table, w_cols, secret)
                has_w = fill & w.notna() & (w > 0)
                den = den.where(~has_w, w)
                num = num.where(~has_w, pub / ind.scale * w)
                methods[-1] += f", pondérée par {' + '.join(w_cols)}"
                used += w_cols
    if not methods:
        return _absent(ind, exprs, idx)
    reason = reason.where(value.isna(), "")
    return _Evaluated(value, num, den, reason, " ; ".join(methods), used)


def _absent(ind: Indicator, exprs: Mapping[str, str | None], idx: pd.Index) -> _Evaluated:
    wanted = [e for e in (exprs["numerator"], exprs["denominator"], exprs["value"]) if e]
    msg = "variables absentes du tableau : " + ", ".join(_first_alternative(e) for e in wanted)
    nan = pd.Series(np.nan, index=idx, dtype=float)
    return _Evaluated(nan, nan.copy(), nan.copy(), pd.Series(msg, index=idx, dtype=object),
                      "", [])


def _join_reasons(a: pd.Series, b: pd.Series) -> pd.Series:
    both = (a != "") & (b != "")
    out = a.where(a != "", b)
    return out.where(~both, a + " ; " + b)

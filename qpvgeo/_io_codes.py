"""Private helpers of :mod:`qpvgeo.io`: QPV, commune, SIRET codes and typed fields."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from qpvgeo import _io_tables as t
from qpvgeo import _validate as v
from qpvgeo.errors import CodeFormatError, DataQualityWarning, SchemaError

# QPV codes: 2024 ``QN`` + department on 3 characters + 2 digits + letter (QN06224M); 2015
# ``QP`` + department on 3 characters + 3 digits (QP062019). Corsica's form is unverified: both
# ``02A``/``02B`` and digit-only departments are accepted.
QPV_CODE = re.compile(r"^(QN(\d{3}|02[AB])\d{2}[A-Z]|QP(\d{3}|02[AB])\d{3})$")

# Column names (case-insensitive) holding codes, padded when a file stored them as numbers.
KNOWN_CODE_COLUMNS: dict[str, str] = {
    "insee_com": "commune", "code_insee": "commune", "depcom": "commune", "insee": "commune",
    "code_com": "commune", "code_iris": "iris", "dcomiris": "iris", "siren_epci": "epci",
    "code_siren": "epci", "epci_siren": "epci",
}


def qpv_codes(values: pd.Series, *, name: str, column: str) -> pd.Series:
    s = t.text_or_none(values)
    s = s.where(s.isna(), s.astype(str).str.upper().str.replace(" ", "", regex=False))
    bad = s.notna() & ~s.astype(str).str.match(QPV_CODE)
    if bad.any():
        ex = ", ".join(map(str, pd.unique(s[bad])[:5]))
        raise CodeFormatError(
            f"{name}: column {column} holds {int(bad.sum())} value(s) that are not QPV codes "
            f"(e.g. {ex}); expected 'QN06224M' (2024) or 'QP062019' (2015). Check the column "
            "or pass columns={'code_qp': '<QPV code column>'}"
        )
    return s


def generation(codes: pd.Series, *, name: str, column: str) -> pd.Series:
    gen = codes.astype(object).str[:2].map({"QN": "2024", "QP": "2015"})
    kinds = set(gen.dropna())
    if len(kinds) > 1:
        n24, n15 = int((gen == "2024").sum()), int((gen == "2015").sum())
        raise SchemaError(
            f"{name}: column {column} mixes QPV generations ({n24} 2024 'QN…' codes and "
            f"{n15} 2015 'QP…' codes); read each generation from its own file"
        )
    return gen.astype(object)


def qpv_codes_optional(values: pd.Series, name: str, column: str) -> pd.Series:
    """QPV codes in point files: values that are not QPV codes (``CSZ``, ``HZ``) → missing."""
    s = t.text_or_none(values)
    s = s.where(s.isna(), s.astype(str).str.upper())
    return s.where(s.astype(str).str.match(QPV_CODE), None).astype(object)


def qpv_column(df: pd.DataFrame, col: str | None, *, name: str) -> pd.Series:
    """QPV code field of a point file (:func:`qpv_codes_optional`); all missing when absent."""
    if col is None:
        return pd.Series(None, index=df.index, dtype=object)
    return qpv_codes_optional(df[col], name, col)


_SPLIT = re.compile(r"[;,|/]+|\s+")


def commune_lists(values: pd.Series, *, name: str, column: str) -> pd.Series:
    """Normalise commune code lists (``"02571; 02691"``, ``1053``) to ``"02571;02691"``."""
    s = values.astype(object)
    padded = 0
    bad: list[str] = []
    out: list[Any] = []
    for val in s:
        if val is None or (isinstance(val, float) and np.isnan(val)):
            out.append(None)
            continue
        if isinstance(val, (float, np.floating)) and float(val).is_integer():
            val = int(val)
        parts = [x for x in _SPLIT.split(str(val).strip()) if x]
        codes = []
        for part in parts:
            if part.isdigit() and len(part) < 5:
                part = part.zfill(5)
                padded += 1
            if not v.CODE_PATTERNS["commune"][1].match(part):
                bad.append(part)
            codes.append(part)
        out.append(";".join(codes) if codes else None)
    if bad:
        raise CodeFormatError(
            f"{name}: column {column} holds value(s) that are not INSEE commune codes "
            f"(e.g. {', '.join(bad[:5])}); expected codes such as '62498' or '2A004', several "
            "joined with ';'"
        )
    if padded:
        warnings.warn(
            f"{name}: column {column} had {padded} commune code(s) shorter than 5 characters "
            "(read as numbers?); leading zeros restored",
            DataQualityWarning, stacklevel=3,
        )
    return pd.Series(out, index=values.index, dtype=object)


def pad_digits(values: pd.Series, width: int, *, name: str, column: str, what: str) -> pd.Series:
    """Codes made of digits only (SIRET 14, SIREN 9): strip, pad lost zeros with a warning."""
    s = t.text_or_none(values)
    s = s.where(s.isna(), s.astype(str).str.replace(r"\.0$", "", regex=True))
    short = s.notna() & s.astype(str).str.isdigit() & (s.astype(str).str.len() < width)
    if short.any():
        s.loc[short] = s.loc[short].astype(str).str.zfill(width)
        warnings.warn(
            f"{name}: column {column} had {int(short.sum())} {what} shorter than {width} "
            "digits (read as numbers?); leading zeros restored",
            DataQualityWarning, stacklevel=3,
        )
    bad = s.notna() & ~s.astype(str).str.fullmatch(rf"\d{{{width}}}")
    if bad.any():
        ex = ", ".join(map(str, pd.unique(s[bad])[:5]))
        raise CodeFormatError(
            f"{name}: column {column} holds {int(bad.sum())} value(s) that are not {what} "
            f"({width} digits; e.g. {ex}); check the column"
        )
    return s.astype(object)


def float_column(df: pd.DataFrame, col: str | None, *, name: str, what: str) -> pd.Series:
    """Numeric field: NaN when absent, blank or unreadable (warned), never 0."""
    if col is None:
        return pd.Series(np.nan, index=df.index, dtype=float)
    values, missing, unknown = t.parse_numbers(df[col], name=name, column=col)
    if unknown:
        n = int((missing & ~t.is_missing_marker(df[col])).sum())
        t.warn_unknown(name, col, unknown, n, what)
    return values


def text_column(df: pd.DataFrame, col: str | None) -> pd.Series:
    if col is None:
        return pd.Series(None, index=df.index, dtype=object)
    return t.text_or_none(df[col])

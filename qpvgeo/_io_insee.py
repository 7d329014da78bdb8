"""Private helpers of :mod:`qpvgeo.io`: INSEE tables (variables, vintages, XLSX layout)."""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qpvgeo import _io_tables as t
from qpvgeo.errors import DataQualityWarning, InputFileError, SchemaError

# Geography and label columns of INSEE tables: always text, never parsed as numbers.
GEO_TEXT = re.compile(
    r"^(IRIS|COM|CODGEO|LIBGEO|DEP|REG|ARR|CV|EPCI|NATURE_EPCI|TRIRIS|GRD_QUART|TYP_IRIS|"
    r"LAB_IRIS|MODIF_IRIS|LIBCOM|LIBIRIS|(UU|AAV|BV|ZE|TAAV|CATEAAV|TUU)\d{4}|LIB\w*|NOM\w*|"
    r"CODE_\w+|INSEE_\w+|QP\w*|SOURCE|CODE_QP|LIB_QP)$",
    re.IGNORECASE,
)
_CENSUS_VAR = re.compile(r"^[PC](\d{2})_", re.IGNORECASE)
_FILO_VAR = re.compile(r"^(DISP|DEC)_\w*?(\d{2})$", re.IGNORECASE)
# commune / EPCI Filosofi files (base-cc-filosofi): MED20, TP6020, NBMENFISC20, NBPERSMENFISC20
_FILO_GEO_VAR = re.compile(r"^(MED|TP60|NBMENFISC|NBPERSMENFISC)(\d{2})$", re.IGNORECASE)


def vintage_of(columns: Iterable[str]) -> list[int]:
    years = set()
    for col in columns:
        m = _CENSUS_VAR.match(col) or _FILO_VAR.match(col) or _FILO_GEO_VAR.match(col)
        if m:
            yy = int(m.group(m.lastindex or 1))
            years.add(2000 + yy if yy <= 50 else 1900 + yy)
    return sorted(years)


def read_xlsx(
    path: Path, *, name: str, keys: Sequence[str], sheet: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read an INSEE XLSX table: find the header row (title rows above it), cells as text."""
    if importlib.util.find_spec("openpyxl") is None:
        raise InputFileError(
            f"{name}: reading .xlsx files needs openpyxl; install it with "
            "pip install 'qpvgeo[report]' (or pip install openpyxl), or use the CSV version"
        )
    try:
        sheets = pd.read_excel(path, sheet_name=sheet if sheet is not None else None,
                               header=None, dtype=str, engine="openpyxl")
    except ValueError as exc:
        raise SchemaError(f"{name}: {exc}; pass sheet= with an existing sheet name") from exc
    except Exception as exc:
        raise InputFileError(f"{name}: cannot read as an XLSX workbook ({exc})") from exc
    if isinstance(sheets, pd.DataFrame):
        sheets = {str(sheet): sheets}
    wanted = {k.lower() for k in keys}
    for sheet_name, raw in sheets.items():
        for i in range(min(len(raw), 30)):
            row = [str(c).strip() for c in raw.iloc[i].tolist() if pd.notna(c)]
            if any(c.lower() in wanted for c in row):
                header = [str(c).strip() if pd.notna(c) else "" for c in raw.iloc[i].tolist()]
                body = raw.iloc[i + 1:].reset_index(drop=True)
                body.columns = header
                body = body.loc[:, [h != "" for h in header]]
                body = body.dropna(how="all").reset_index(drop=True)
                # integral numbers stored as floats ("62498.0") back to their text form
                body = body.fillna("").astype(object).replace(r"^(-?\d+)\.0$", r"\1",
                                                               regex=True)
                return body, {"encoding": None, "sheet": str(sheet_name), "header_row": i}
    raise SchemaError(
        f"{name}: no sheet has a header row with {' / '.join(keys)} in its first 30 rows "
        f"(sheets: {', '.join(map(str, sheets))}); pass sheet= or columns="
    )


def parse_variables(
    df: pd.DataFrame, *, skip: set[str], name: str
) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
    """Turn the variable columns of an INSEE table into floats; flag missing cells per row.

    Columns in ``skip`` and geography/label columns (:data:`GEO_TEXT`) stay text, and so does a
    column with no number at all. Returns the table with parsed columns, the ``secret_vars``
    series (``;``-joined names of the variables missing on each row, ``""`` when none) and
    ``{"numeric": [columns], "secret_cells": count, "decimals": {",", "."}}``.
    """
    numeric: list[str] = []
    masks: list[np.ndarray] = []
    decimals: set[str] = set()
    unknown_cols: list[str] = []
    body = df.copy()
    for col in df.columns:
        if col in skip or GEO_TEXT.match(str(col)):
            continue
        raw = df[col]
        if not pd.api.types.is_numeric_dtype(raw):
            # fast path: plain numbers and empty cells parse in C; markers, decimal commas
            # and thousands separators take the careful path below
            fast = pd.to_numeric(raw, errors="coerce")
            filled = raw.astype(object).to_numpy() != ""
            if not (fast.isna().to_numpy() & filled).any():
                if not filled.any():
                    continue  # no value at all: stays text
                body[col] = fast.astype(float)
                numeric.append(str(col))
                masks.append(fast.isna().to_numpy())
                vals = fast.to_numpy(dtype=float, na_value=np.nan)
                if (np.nan_to_num(vals) % 1 != 0).any():
                    decimals.add(".")
                continue
        if not t.looks_numeric(raw):
            continue
        values, miss, unknown = t.parse_numbers(raw, name=name, column=str(col))
        body[col] = values
        numeric.append(str(col))
        masks.append(miss.to_numpy())
        if unknown:
            unknown_cols.append(f"{col} ({', '.join(map(repr, unknown[:3]))})")
        if not pd.api.types.is_numeric_dtype(df[col]):
            text = df[col].astype(str)
            if text.str.contains(r"\d,\d", regex=True).any():
                decimals.add(",")
            elif text.str.contains(r"\d\.\d", regex=True).any():
                decimals.add(".")
    if unknown_cols:
        warnings.warn(
            f"{name}: unexpected non-numeric values in numeric column(s) "
            f"{'; '.join(unknown_cols[:5])}; set missing (NaN, flagged in secret_vars), not 0",
            DataQualityWarning, stacklevel=3,
        )
    if numeric:
        mat = np.column_stack(masks)
        arr = np.array(numeric, dtype=object)
        flags = [";".join(arr[row]) for row in mat]
        n_secret = int(mat.sum())
    else:
        flags = [""] * len(df)
        n_secret = 0
    stats = {"numeric": numeric, "secret_cells": n_secret, "decimals": decimals}
    return body, pd.Series(flags, index=df.index, dtype=object), stats


def guess_level(values: pd.Series) -> str | None:
    """Tell the level of a column of codes (``"iris"``, ``"commune"``, ``"qpv"``) or None."""
    s = t.text_or_none(values).dropna().astype(str).str.upper()
    if s.empty:
        return None
    patterns = {"qpv": r"^Q[NP]\w{6}$", "iris": r"^\w{5}\d{4}$", "commune": r"^\w{5}$"}
    for level, pattern in patterns.items():
        if s.str.match(pattern).mean() > 0.9:
            return level
    return None

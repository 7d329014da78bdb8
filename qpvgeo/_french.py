"""French wording of figures: numbers, values with units, ratio phrases, loose name matching."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from qpvgeo._catalogue import UNITS, Indicator
from qpvgeo.errors import SchemaError

_THIN = "\u202f"  # narrow no-break space: thousands separator
_NBSP = "\u00a0"  # no-break space before a unit


def _round_half_up(x: float, decimals: int) -> Decimal:
    q = Decimal(1).scaleb(-decimals)
    return Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP)


def format_number(x: float | None, decimals: int = 1, *, strip_zero: bool = False) -> str:
    """Format a number the French way: decimal comma, narrow no-break space for thousands.

    Rounds half up (``1.45`` → ``"1,5"``). ``strip_zero`` drops a decimal part of zeros
    (``2.0`` → ``"2"``). Missing values give ``"n.d."`` (non disponible).

    Examples
    --------
    >>> format_number(17020, 0)
    '17\u202f020'
    >>> format_number(1.449, 1)
    '1,4'
    """
    if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x):
        return "n.d."
    d = _round_half_up(float(x), decimals)
    sign = "-" if d < 0 else ""
    text = f"{abs(d):.{decimals}f}"
    whole, _, frac = text.partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    out = _THIN.join(groups)
    if frac and not (strip_zero and set(frac) == {"0"}):
        out += "," + frac
    if out in ("0", "0," + "0" * decimals):
        sign = ""
    return sign + out


def format_value(x: float | None, unit: str | Indicator, decimals: int | None = None) -> str:
    """Format a value with its unit in French (``0.361`` share → ``"36,1 %"``).

    Parameters
    ----------
    x
        Value in the indicator's unit (share 0–1, euros, count, per 10,000).
    unit
        ``"share"``, ``"euros"``, ``"count"``, ``"per_10000"`` or an :class:`Indicator`.
    decimals
        Decimals shown (default 1 for shares and rates per 10,000, 0 for euros and counts).
    """
    u = unit.unit if isinstance(unit, Indicator) else unit
    if x is None or pd.isna(x):
        return "n.d."
    if u == "share":
        return format_number(100 * float(x), 1 if decimals is None else decimals) + _NBSP + "%"
    if u == "euros":
        return format_number(x, 0 if decimals is None else decimals) + _NBSP + "€"
    if u == "count":
        return format_number(x, 0 if decimals is None else decimals)
    if u == "per_10000":
        return (format_number(x, 1 if decimals is None else decimals) + _NBSP
                + "pour 10" + _THIN + "000 hab.")
    raise SchemaError(f"unknown unit {u!r}; expected one of {UNITS}")


# beyond this a ratio is worded "plus de 10 fois" (a share of 0.2 % against 64 % reads
# better so than "377 fois moins"; the figures themselves stay in the table)
RATIO_CAP = 10.0


def _fmt_ratio(r: float) -> str:
    if math.floor(r * 10 + 0.5) / 10 > RATIO_CAP:  # rounded as shown, half up
        return "plus de " + format_number(RATIO_CAP, 1, strip_zero=True)
    return format_number(r, 1, strip_zero=True)


def ratio_phrase(ratios: Iterable[float] | pd.Series, *, zone_word: str = "") -> str:
    """Describe the range of zone/territory ratios as the diagnostic does, in French.

    All ratios ≥ 1: ``"C'est de 1,4 à 2 fois plus"`` (``"de l'équivalent à 1,7 fois plus"``
    when the smallest rounds to 1); all ≤ 1: ``"C'est de 1,4 à 1,9 fois moins"`` (inverse
    ratios); mixed: ``"Jusqu'à 1,4 fois plus"`` when the lowest rounds to 1, else
    ``"De 1,2 fois moins à 1,4 fois plus"``. Ratios are rounded half up to one decimal,
    ``,0`` dropped; a ratio above 10 is worded ``"plus de 10"`` (``"De plus de 10 fois moins
    à 1,5 fois plus"``). Missing and non-positive ratios are ignored (a zero zone value is
    reported as "valeur nulle").

    Parameters
    ----------
    ratios
        Zone value / territory value, one per zone.
    zone_word
        Optional suffix after the phrase (e.g. ``" que la CALL"``).
    """
    r = pd.Series(list(ratios), dtype=float).dropna()
    has_zero = bool((r == 0).any())
    r = r[r > 0]
    if r.empty:
        return "valeur nulle" if has_zero else ""
    lo, hi = float(r.min()), float(r.max())
    one = "1"
    if has_zero:
        return f"De valeur nulle à {_fmt_ratio(hi)} fois{' plus' if hi >= 1 else ' moins'}"
    if lo >= 1:
        a, b = _fmt_ratio(lo), _fmt_ratio(hi)
        if a == b:
            text = "C'est l'équivalent" if a == one else f"C'est {a} fois plus"
        elif a == one:
            text = f"C'est de l'équivalent à {b} fois plus"
        else:
            text = f"C'est de {a} à {b} fois plus"
    elif hi <= 1:
        a, b = _fmt_ratio(1 / hi), _fmt_ratio(1 / lo)
        if a == b:
            text = "C'est l'équivalent" if a == one else f"C'est {a} fois moins"
        elif a == one:
            text = f"C'est de l'équivalent à {b} fois moins"
        else:
            text = f"C'est de {a} à {b} fois moins"
    else:
        up, down = _fmt_ratio(hi), _fmt_ratio(1 / lo)
        if down == one and up == one:
            text = "C'est l'équivalent"
        elif down == one:
            text = f"Jusqu'à {up} fois plus"
        elif up == one:
            text = f"Jusqu'à {down} fois moins"
        else:
            text = f"De {down} fois moins à {up} fois plus"
    return text + zone_word


def _compare_phrase(value: float, reference: float) -> str:
    """``"1,3 fois moins"`` / ``"1,2 fois plus"`` / ``"l'équivalent"`` of value vs reference."""
    if pd.isna(value) or pd.isna(reference) or value <= 0 or reference <= 0:
        return ""
    r = value / reference
    if _fmt_ratio(r) == "1" and _fmt_ratio(1 / r) == "1":
        return "l'équivalent"
    if r >= 1:
        return f"{_fmt_ratio(r)} fois plus"
    return f"{_fmt_ratio(1 / r)} fois moins"


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def _fold(text: Any) -> str:
    """Compare names loosely: no accents, lower case, single spaces."""
    return " ".join(_strip_accents(str(text)).lower().replace("-", " ").split())

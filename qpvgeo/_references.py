"""Reading the user's table of comparison figures (département, région, France…)."""

from __future__ import annotations

import csv
import difflib
import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from qpvgeo import _validate
from qpvgeo._catalogue import CATALOGUE, Indicator, get_indicator
from qpvgeo._french import _strip_accents
from qpvgeo.errors import (
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    InputFileError,
    SchemaError,
)

REFERENCE_LEVELS: dict[str, str] = {
    "ensemble_qpv": "ensemble des QPV du territoire (chiffre officiel)",
    "ensemble_iris_qpv": "IRIS concernés par un QPV (chiffre cité)",
    "commune": "commune",
    "epci": "EPCI",
    "departement": "département",
    "region": "région",
    "france": "France",
    "france_qpv": "ensemble des QPV de France",
}
"""Levels accepted in a reference table (normalised spelling → French wording)."""


_LEVEL_ALIASES = {
    "qpv": "ensemble_qpv", "ensemble des qpv": "ensemble_qpv", "ensemble qpv": "ensemble_qpv",
    "ensemble_qpv": "ensemble_qpv", "qpv_epci": "ensemble_qpv", "qpv epci": "ensemble_qpv",
    "iris_qpv": "ensemble_iris_qpv", "iris qpv": "ensemble_iris_qpv",
    "ensemble_iris_qpv": "ensemble_iris_qpv", "commune": "commune", "epci": "epci",
    "intercommunalite": "epci", "departement": "departement", "dept": "departement",
    "region": "region", "france": "france", "national": "france", "nation": "france",
    "france metropolitaine": "france", "france entiere": "france",
    "france_qpv": "france_qpv", "qpv_france": "france_qpv", "qpv france": "france_qpv",
    "qpv de france": "france_qpv", "ensemble des qpv de france": "france_qpv",
}


_REFERENCE_SPEC = {
    "level": ["level", "niveau", "echelle"],
    "name": ["name", "nom", "libelle", "territoire", "territory"],
    "indicator": ["indicator", "indicateur"],
    "value": ["value", "valeur"],
    "vintage": ["vintage", "millesime", "annee", "year"],
    "source": ["source"],
}

# unit words of a reference table → (indicator unit, factor to the indicator's unit)
_UNIT_WORDS: dict[str, tuple[str, float]] = {
    "%": ("share", 0.01), "pct": ("share", 0.01), "percent": ("share", 0.01),
    "pourcent": ("share", 0.01), "pourcentage": ("share", 0.01),
    "share": ("share", 1.0), "part": ("share", 1.0), "proportion": ("share", 1.0),
    "eur": ("euros", 1.0), "euro": ("euros", 1.0), "euros": ("euros", 1.0), "€": ("euros", 1.0),
    "persons": ("count", 1.0), "personnes": ("count", 1.0), "habitants": ("count", 1.0),
    "hab": ("count", 1.0), "hab.": ("count", 1.0), "count": ("count", 1.0),
    "nombre": ("count", 1.0), "per_10000": ("per_10000", 1.0),
    "dwellings": ("count", 1.0), "logements": ("count", 1.0),
    "establishments": ("count", 1.0), "etablissements": ("count", 1.0),
    "établissements": ("count", 1.0),
    "pour 10000": ("per_10000", 1.0), "pour 10 000": ("per_10000", 1.0),
    "pour 10 000 hab.": ("per_10000", 1.0),
}
def _parse_french_number(text: Any) -> tuple[float | None, bool]:
    """Parse ``"19 110"``, ``"36,1 %"``, ``"0.361"`` → (value, had_percent_sign)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, False
    s = str(text).strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    pct = s.endswith("%")
    s = s.rstrip("%").replace("€", "")
    if s.count(",") == 1 and "." not in s:
        s = s.replace(",", ".")
    try:
        return float(s), pct
    except ValueError:
        return None, pct


def read_reference_table(
    source: str | Path | pd.DataFrame,
    *,
    indicators: Iterable[str | Indicator] | None = None,
    unknown: Literal["warn", "error", "ignore"] = "warn",
) -> pd.DataFrame:
    """Read and check a user-supplied table of comparison figures (département, région…).

    The table (CSV, ``;`` or ``,`` separated, UTF-8) has one row per figure with the columns
    ``level, name, indicator, value, vintage, source`` (also accepted: ``niveau, nom``/
    ``territory, indicateur, valeur, millesime``/``year``) and optionally ``unit``; other
    columns are ignored. Levels are those of :data:`REFERENCE_LEVELS` (``departement``,
    ``region``, ``france``, ``epci``, ``ensemble_qpv`` — the official figure for all the
    territory's QPV, used as the QPV aggregate of non-additive indicators —,
    ``ensemble_iris_qpv``, ``france_qpv``, ``commune``; ``qpv_epci``, ``iris_qpv``,
    ``qpv_france`` are read as such); accents and capitals are ignored. Indicators are
    catalogue keys or their ``aliases`` (``median_disposable_income`` → ``revenu_median``).

    Values are in the indicator's unit (shares 0–1, euros, counts, per 10,000): a share may
    be written in percent (``36,1 %``, or a ``unit`` of ``%``); a ``unit`` naming another
    kind of quantity than the indicator's (``EUR`` for a share) is an error. Decimal commas and
    spaces between thousands are accepted. A figure without vintage is kept with a missing
    vintage and a warning (it cannot be matched to a year).

    Parameters
    ----------
    source
        Path of the CSV file or a DataFrame with those columns.
    indicators
        Indicators allowed in the table (default :data:`CATALOGUE`); pass custom
        :class:`Indicator` records here to allow their keys.
    unknown
        Rows whose indicator is neither a key nor an alias: ``"warn"`` (default) drops them
        with a :class:`~qpvgeo.errors.DataQualityWarning` naming them and the closest known
        keys (a quoted-figures file often holds indicators qpvgeo does not compute);
        ``"error"`` makes them an error (strict validation, catches typos); ``"ignore"``
        drops them silently (listed in ``attrs``).

    Returns
    -------
    pandas.DataFrame
        Columns ``level, name, indicator, value, vintage, source`` (indicator = catalogue key,
        value float in the indicator's unit, vintage nullable integer ``Int64``), one row per
        kept input row, index ``0..n-1``; ``attrs["qpvgeo"]`` names the file and the dropped
        indicators.

    Raises
    ------
    InputFileError
        The file cannot be read.
    SchemaError
        Missing columns, unknown level or indicator, unreadable value or vintage, a unit that
        does not fit, a share above 1 without a percent sign — every faulty row listed at once.
    DuplicateKeyError
        The same (level, name, indicator, vintage) appears twice.
    EmptyLayerError
        The table has no row.
    """
    name = str(source) if not isinstance(source, pd.DataFrame) else "reference table"
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
    else:
        path = Path(source)
        if not path.is_file():
            raise InputFileError(f"{path}: reference table not found; give the path of a CSV "
                                 "with columns level;name;indicator;value;vintage;source")
        try:
            raw = pd.read_csv(path, sep=None, engine="python", dtype=str,
                              encoding="utf-8-sig", keep_default_na=False)
        except (UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
            raise InputFileError(f"{path}: cannot read the reference table ({exc}); save it "
                                 "as UTF-8 CSV separated by ';' or ','") from exc
        name = path.name
    if unknown not in ("warn", "error", "ignore"):
        raise SchemaError(f"unknown must be 'warn', 'error' or 'ignore', not {unknown!r}")
    _validate.check_not_empty(raw, name=name, what="row")
    raw.columns = [_strip_accents(str(c)).strip().lower() for c in raw.columns]
    cols = _validate.require_columns(
        raw, _REFERENCE_SPEC, name=name,
        hint="the reference table needs level;name;indicator;value;vintage;source")
    unit_col = _validate.find_column(raw, ["unit", "unite"])
    allowed_list = (list(CATALOGUE) if indicators is None
                    else [get_indicator(x) for x in indicators])
    allowed: dict[str, Indicator] = {}
    for i in allowed_list:
        for label in (i.key, *i.aliases):
            allowed.setdefault(label.lower(), i)
    problems: list[str] = []
    dropped: dict[str, int] = {}
    no_vintage: list[int] = []
    rows = []
    for pos, (_, r) in enumerate(raw.iterrows()):
        line = pos + 2  # header is line 1
        ind_txt = str(r[cols["indicator"]]).strip()
        ind = allowed.get(ind_txt.lower())
        if ind is None:
            if unknown != "error":
                dropped[ind_txt] = dropped.get(ind_txt, 0) + 1
                continue
            close = difflib.get_close_matches(ind_txt.lower(), allowed, n=1)
            problems.append(f"line {line}: unknown indicator {ind_txt!r}"
                            + (f" (did you mean {close[0]}?)" if close else ""))
        level_raw = _strip_accents(str(r[cols["level"]])).strip().lower().replace("-", " ")
        level = _LEVEL_ALIASES.get(level_raw, _LEVEL_ALIASES.get(level_raw.replace("_", " ")))
        if level is None:
            problems.append(f"line {line}: unknown level {r[cols['level']]!r} (expected one "
                            f"of {', '.join(REFERENCE_LEVELS)})")
        value, pct = _parse_french_number(r[cols["value"]])
        unit_txt = " ".join(str(r[unit_col]).strip().lower().split()) if unit_col else ""
        word = _UNIT_WORDS.get(unit_txt) if unit_txt else None
        if value is None:
            problems.append(f"line {line}: value {r[cols['value']]!r} is not a number")
        elif ind is not None:
            if unit_txt and unit_txt != "nan" and word is None:
                problems.append(f"line {line}: unit {unit_txt!r} not understood (use one of "
                                "%, share, EUR, persons, per_10000)")
            elif word is not None and word[0] != ind.unit:
                problems.append(f"line {line}: {ind.key} is in {ind.unit}, but the unit says "
                                f"{unit_txt!r}")
            elif pct and ind.unit != "share":
                problems.append(f"line {line}: {ind.key} is in {ind.unit}, not in percent")
            else:
                factor = 0.01 if pct else (word[1] if word else 1.0)
                value = value * factor
                if ind.unit == "share" and not 0 <= value <= 1:
                    problems.append(
                        f"line {line}: {ind.key} is a share (0–1) but the value is "
                        f"{value:g}; write 0.361 or '36,1 %', or add a column unit with '%'")
        vint_txt = str(r[cols["vintage"]]).strip()
        vint: int | None = None
        if vint_txt in ("", "nan", "None"):
            no_vintage.append(line)
        elif re.fullmatch(r"(19|20)\d\d", vint_txt):
            vint = int(vint_txt)
        else:
            problems.append(f"line {line}: vintage {vint_txt!r} is not a year such as 2020")
        label = str(r[cols["name"]]).strip()
        if not label:
            problems.append(f"line {line}: empty name")
        rows.append({"level": level, "name": label, "indicator": ind.key if ind else ind_txt,
                     "value": value, "vintage": vint,
                     "source": str(r[cols["source"]]).strip()})
    if problems:
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20
                                 else [])
        raise SchemaError(f"{name}: " + "; ".join(shown))
    if dropped and unknown == "warn":
        hints = []
        for d in sorted(dropped):
            close = difflib.get_close_matches(d.lower(), allowed, n=1, cutoff=0.9)
            hints.append(f"{d} (did you mean {allowed[close[0]].key}?)" if close else d)
        listed = ", ".join(hints[:8]) + (f", … ({len(hints) - 8} more)" if len(hints) > 8
                                         else "")
        warnings.warn(
            f"{name}: {sum(dropped.values())} row(s) about {len(hints)} indicator(s) qpvgeo "
            f"does not compute were left out ({listed}); see attrs['qpvgeo']"
            "['dropped_indicators'], or add Indicator records (indicators=...)",
            DataQualityWarning, stacklevel=2)
    if no_vintage:
        warnings.warn(
            f"{name}: line(s) {', '.join(map(str, no_vintage))} have no vintage; their figures "
            "are kept but cannot be matched to a year", DataQualityWarning, stacklevel=2)
    out = pd.DataFrame(rows, columns=["level", "name", "indicator", "value", "vintage",
                                      "source"])
    if out.empty:
        raise EmptyLayerError(f"{name}: no row left (every indicator unknown to qpvgeo)")
    out["value"] = out["value"].astype(float)
    out["vintage"] = pd.array(out["vintage"].tolist(), dtype="Int64")
    for c in ("level", "name", "indicator", "source"):
        out[c] = out[c].astype(object)
    dup = out.assign(_v=out["vintage"].fillna(-1)).duplicated(
        ["level", "name", "indicator", "_v"], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise DuplicateKeyError(
            f"{name}: {int(dup.sum())} rows share the same level, name, indicator and vintage "
            f"(e.g. {first['level']} / {first['name']} / {first['indicator']} / "
            f"{first['vintage']}); keep one figure per territory, indicator and vintage")
    out.attrs["qpvgeo"] = {"source": name, "dropped_indicators": sorted(dropped),
                           "rows_without_vintage": no_vintage}
    return out

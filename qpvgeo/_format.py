"""French number formatting and indicator labels shared by maps, charts and the report.

Private module of the presentation layer (no folium, no matplotlib here). Values are formatted
the French way: decimal comma, narrow no-break space between thousands, ``%`` after a space.
Missing values print as ``n.d.`` (non disponible), never as 0.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

__all__ = ["INDICATOR_LABELS", "REASON_TEXTS", "SHORT_LABELS", "esc", "fmt",
           "indicator_label", "indicator_unit", "is_reason_code", "reason_text"]

NNBSP = "\u202f"

# column -> (French label, unit). Units: share (0–1 shown in %), count, eur, per10k, m, m2, ha,
# ratio, pct_points, rate (already per 1,000), years, number.
INDICATOR_LABELS: dict[str, tuple[str, str]] = {
    # population et revenus
    "population": ("Population", "count"),
    "P20_POP": ("Population (recensement)", "count"),
    "pop_share_under25": ("Part des moins de 25 ans", "share"),
    "median_income": ("Revenu disponible médian par UC", "eur"),
    "DISP_MED20": ("Revenu disponible médian par UC", "eur"),
    "poverty_rate": ("Taux de pauvreté (60 %)", "share"),
    "DISP_TP6020": ("Taux de pauvreté (60 %)", "share"),
    "single_parent_share": ("Part des familles monoparentales", "share"),
    # éducation, emploi
    "no_diploma_share": ("Part des non-scolarisés sans diplôme", "share"),
    "neet_share": ("Part des jeunes ni en emploi ni en formation", "share"),
    "employment_rate": ("Taux d'emploi des 15–64 ans", "share"),
    "unemployment_rate": ("Taux de chômage des 15–64 ans", "share"),
    "activity_rate": ("Taux d'activité des 15–64 ans", "share"),
    # logement et énergie
    "heatloss_buildings": ("Bâtiments", "count"),
    "heatloss_classified": ("Bâtiments classés", "count"),
    "heatloss_strong_share": ("Part des bâtiments à déperditions fortes ou excessives", "share"),
    "heatloss_strong_area_share": ("Part de la surface de toit à déperditions fortes ou "
                                   "excessives", "share"),
    "rpls_count": ("Logements sociaux (RPLS)", "count"),
    "rpls_share": ("Part des logements sociaux parmi les résidences principales", "share"),
    "rpls_share_of_territory": ("Part du parc social du territoire", "share"),
    "rpls_per_ha": ("Logements sociaux par hectare", "number"),
    "rpls_vacancy_share": ("Part des logements sociaux vacants", "share"),
    "vacancy_share": ("Part des logements vacants", "share"),
    "poor_quality_share": ("Part des logements médiocres ou mauvais", "share"),
    # santé
    "health_reach_share": ("Part de la population à moins de 15 min d'un équipement", "share"),
    "health_per10k": ("Équipements de santé pour 10 000 habitants", "per10k"),
    # économie
    "establishments_t0": ("Établissements (première date)", "count"),
    "establishments_t1": ("Établissements (seconde date)", "count"),
    "establishments_change": ("Évolution du nombre d'établissements", "share"),
    "estab_change_share": ("Évolution du nombre d'établissements", "share"),
    "rpls_share_of_rp": ("Logements sociaux (RPLS) rapportés aux résidences principales",
                         "share"),
    "quality_poor_dwellings_share": ("Part des logements médiocres ou mauvais", "share"),
    "quality_poor_area_share": ("Part de la surface de logements médiocres ou mauvais",
                                "share"),
    "area_ha": ("Superficie", "ha"),
    "allocation": ("Part des effectifs reportée", "share"),
    "territory_share": ("Part de la surface dans le territoire", "share"),
    "motif_carte": ("Donnée manquante", "text"),
    "ips": ("Indice de position sociale (IPS)", "index"),
}


SHORT_LABELS: dict[str, str] = {
    "population": "Population",
    "part_moins_25": "Moins de 25 ans",
    "revenu_median": "Revenu médian par UC",
    "taux_pauvrete": "Taux de pauvreté",
    "taux_emploi_1564": "Taux d'emploi 15–64 ans",
    "taux_chomage_1564": "Taux de chômage 15–64 ans",
    "part_sans_diplome": "Sans diplôme (15 ans ou plus)",
    "part_diplome_sup": "Diplômés du supérieur",
    "part_menages_1p": "Ménages d'une personne",
    "part_familles_mono": "Familles monoparentales",
    "taux_vacance": "Logements vacants",
    "part_locataires_hlm": "Locataires HLM",
    "part_loges_gratuitement": "Logés gratuitement",
    "part_logements_sociaux": "Logements sociaux / résidences principales",
}
"""Compact French headers of the catalogue indicators (report tables, chart axes)."""

_CATALOGUE_UNITS = {"share": "share", "euros": "eur", "count": "count", "per_10000": "per10k"}


def _catalogue() -> dict[str, tuple[str, str]]:
    """``{key: (label, unit)}`` of :mod:`qpvgeo.indicators`' catalogue (cached)."""
    global _CATALOGUE_CACHE
    if _CATALOGUE_CACHE is None:
        try:
            from qpvgeo.indicators import CATALOGUE
        except ImportError:  # pragma: no cover - the engine is part of the package
            _CATALOGUE_CACHE = {}
        else:
            _CATALOGUE_CACHE = {i.key: (i.label, _CATALOGUE_UNITS.get(i.unit, "number"))
                                for i in CATALOGUE}
    return _CATALOGUE_CACHE


_CATALOGUE_CACHE: dict[str, tuple[str, str]] | None = None


def indicator_label(column: str, default: str | None = None, *, short: bool = False) -> str:
    """French label of an indicator column (the column name itself if unknown).

    Registered columns first, then the indicators of :mod:`qpvgeo.indicators`' catalogue
    (``short=True``: the compact header of :data:`SHORT_LABELS` when there is one).
    """
    if short and column in SHORT_LABELS:
        return SHORT_LABELS[column]
    if column in INDICATOR_LABELS:
        return INDICATOR_LABELS[column][0]
    cat = _catalogue()
    if column in cat:
        return cat[column][0]
    return default if default is not None else column


def indicator_unit(column: str) -> str:
    """Unit of an indicator column, guessed from its suffix when not registered.

    Catalogue indicators keep their unit (shares 0–1, euros, counts, per 10,000); their
    numerators and denominators (``*_num``, ``*_den``) are counts.
    """
    if column in INDICATOR_LABELS:
        return INDICATOR_LABELS[column][1]
    cat = _catalogue()
    if column in cat:
        return cat[column][1]
    base, _, suffix = column.rpartition("_")
    if suffix in ("num", "den") and base in cat:
        return "count" if cat[base][1] != "eur" else "eur"
    if column.endswith(("_share", "_rate")) or column.startswith("share_") \
            or "_share_" in column:
        return "share"
    if column.endswith(("_count", "_n", "_dwellings")) or column.startswith("n_"):
        return "count"
    if "_ips_" in column or column.endswith("_ips"):
        return "index"
    if column.endswith("_m2"):
        return "m2"
    if column.endswith("_ha"):
        return "ha"
    if column.endswith("_m"):
        return "m"
    if column.endswith("_per10k"):
        return "per10k"
    return "number"


REASON_TEXTS: dict[str, str] = {
    "not_given": "population non fournie au calcul",
    "missing": "dénominateur manquant (donnée absente ou secrète)",
    "zero": "dénominateur nul",
    "negative": "dénominateur négatif (donnée incohérente)",
    "numerator_missing": "numérateur manquant (donnée absente ou secrète)",
    "no_dwelling_offered": "aucun logement social proposé à la location dans la zone",
    "no_mode_column": "vacance non calculable : le fichier RPLS n'indique pas l'occupation "
                      "des logements (colonne MODE)",
    "no_classed_housing_in_zone": "aucun logement classé dans la zone",
    "no_dwellings_column": "la couche qualité n'a pas de colonne du nombre de logements",
    "no_legal_category": "catégorie juridique absente des fichiers SIRENE",
    "secret": "secret statistique (moins de 3 unités)",
}
"""Plain French wording of the machine reason codes of the engine (``*_missing_reason`` of
:mod:`qpvgeo.equipment`, :mod:`qpvgeo.housing`, :mod:`qpvgeo.economy`)."""

# (column pattern, code) -> wording more precise than the generic one
_COLUMN_REASONS: list[tuple[str, str, str]] = [
    (r"^estab_change", "zero", "aucun établissement à la première date"),
    (r"^creations_change", "zero", "aucune création la première année"),
    (r"^creations_\d+_ei_share", "zero", "aucune création dans l'année"),
    (r"per_(?:1000_|10000_)?inhab|per_10000|^pop", "zero", "population nulle"),
    (r"share_of_rp", "zero", "aucune résidence principale dans la zone"),
    (r"share_of_rp", "not_given", "résidences principales non fournies au calcul"),
]

_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def is_reason_code(value: Any) -> bool:
    """True for a machine reason code such as ``no_mode_column`` or ``zero``."""
    return isinstance(value, str) and bool(_CODE.match(value.strip()))


def reason_text(value: Any, column: str | None = None) -> str:
    """Plain French reason for a missing value (machine codes translated, text kept).

    Parameters
    ----------
    value
        A ``*_missing_reason`` cell: a code of :data:`REASON_TEXTS`, French text, or missing.
    column
        The column it explains (``creations_2023_ei_share``), for a more precise wording.

    Returns
    -------
    str
        French text; ``""`` for a missing or empty cell; an unknown code becomes "valeur non
        calculable" (the code stays in the exports' code column).
    """
    if _is_missing(value):
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if not is_reason_code(text):
        return text
    codes = [c for c in text.split(";") if c]
    out = []
    for code in codes:
        specific = None
        if column:
            for pattern, c, wording in _COLUMN_REASONS:
                if c == code and re.search(pattern, column):
                    specific = wording
                    break
        out.append(specific or REASON_TEXTS.get(code, "valeur non calculable"))
    return " ; ".join(dict.fromkeys(out))


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        try:
            import pandas as pd

            return bool(pd.isna(value))
        except (TypeError, ValueError):
            return False


def _group(number: str) -> str:
    """Insert narrow no-break spaces between thousands of an unsigned integer string."""
    out = []
    for i, ch in enumerate(reversed(number)):
        if i and i % 3 == 0:
            out.append(NNBSP)
        out.append(ch)
    return "".join(reversed(out))


def _decimal(value: float, digits: int) -> str:
    sign = "-" if value < 0 else ""
    text = f"{abs(value):.{digits}f}"
    whole, _, frac = text.partition(".")
    return sign + _group(whole) + ("," + frac if frac else "")


def fmt(value: Any, unit: str = "number", *, digits: int | None = None) -> str:
    """Format a value in French for display.

    Parameters
    ----------
    value
        Number (or text, returned as is). Missing values (None, NaN) give ``"n.d."``.
    unit
        ``share`` (0–1, shown as a percentage: 0.123 → ``12,3 %``), ``pct_points`` (difference
        of shares, shown in points), ``count``, ``eur``, ``per10k``, ``m``, ``m2``, ``ha``,
        ``ratio`` (``×1,4``), ``index`` (one decimal, e.g. an IPS) or ``number``.
    digits
        Decimals (defaults depend on the unit).

    Returns
    -------
    str
        Plain text (not HTML-escaped; use :func:`esc` when inserting into HTML by hand).
    """
    if _is_missing(value):
        return "n.d."
    if isinstance(value, str):
        return value
    v = float(value)
    if unit == "share":
        return _decimal(100 * v, 1 if digits is None else digits) + f"{NNBSP}%"
    if unit == "pct_points":
        s = _decimal(100 * v, 1 if digits is None else digits)
        return ("+" if v > 0 else "") + s + f"{NNBSP}pt"
    if unit == "count":
        return _decimal(v, 0 if digits is None else digits)
    if unit == "eur":
        return _decimal(v, 0 if digits is None else digits) + f"{NNBSP}€"
    if unit == "ratio":
        return "×" + _decimal(v, 2 if digits is None else digits)
    if unit in ("m", "m2", "ha"):
        suffix = {"m": "m", "m2": "m²", "ha": "ha"}[unit]
        return _decimal(v, 0 if (digits is None and unit != "ha") else (digits or 1)) \
            + f"{NNBSP}{suffix}"
    if unit in ("per10k", "index"):
        return _decimal(v, 1 if digits is None else digits)
    d = digits if digits is not None else (0 if v.is_integer() else 2)
    return _decimal(v, d)


def esc(value: Any) -> str:
    """HTML-escape any value shown from an input file (names, labels, attributes)."""
    if _is_missing(value):
        return ""
    return html.escape(str(value), quote=True)

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
"""

from __future__ import annotations

import csv
import difflib
import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo.errors import (
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    InputFileError,
    SchemaError,
)

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
# Catalogue
# ---------------------------------------------------------------------------------------------

HIGHER_WORSE = 1
"""Direction: a higher value means a worse situation (poverty rate, unemployment)."""
HIGHER_BETTER = -1
"""Direction: a higher value means a better situation (income, employment rate)."""
NEUTRAL = 0
"""Direction: no judgement (population, share under 25, single-person households)."""

ORIGIN_OFFICIAL = "officiel QPV"
"""Origin of a figure read from an official per-QPV table (INSEE/ONPV) as published."""
ORIGIN_ESTIMATE = "estimation IRIS"
"""Origin of a figure estimated from IRIS data (interpolation onto the zone)."""
ORIGIN_COMPUTED = "calcul qpvgeo"
"""Origin of a figure computed by qpvgeo from additive data (sums of IRIS or communes)."""
ORIGIN_OFFICIAL_TERRITORY = "officiel"
"""Origin of a figure read from an official table at the zone's own level (EPCI, commune)."""

KINDS = ("count", "ratio", "median")
UNITS = ("share", "euros", "count", "per_10000")

DATASETS: dict[str, str] = {
    "rp": "INSEE, recensement de la population (bases infracommunales IRIS)",
    "filosofi": "INSEE-DGFiP, Filosofi (revenus disponibles localisés)",
    "rpls": "SDES, répertoire des logements locatifs des bailleurs sociaux (RPLS)",
    "bpe": "INSEE, base permanente des équipements (BPE)",
    "thermographie": "thermographie aérienne infrarouge (traitement qpvgeo)",
    "sirene": "INSEE, répertoire SIRENE (établissements géolocalisés)",
}
"""Datasets an indicator may come from, with the French wording used in ``source`` columns."""


@dataclass(frozen=True)
class Indicator:
    """One indicator of the portrait, described as data.

    Attributes
    ----------
    key
        Identifier, used as column name in wide tables (``taux_emploi_1564``).
    label
        French label shown in tables and reports.
    theme
        French theme (``"Revenus"``, ``"Emploi"``…), for grouping.
    unit
        ``"share"`` (0–1, displayed as %), ``"euros"``, ``"count"`` or ``"per_10000"``
        (numerator per 10,000 units of the denominator).
    kind
        ``"count"`` (additive: aggregates are sums), ``"ratio"`` (ratio of sums: aggregates are
        Σ numerator / Σ denominator) or ``"median"`` (non-additive: never aggregated; the
        aggregate of several zones comes only from an official figure).
    direction
        :data:`HIGHER_WORSE` (1), :data:`HIGHER_BETTER` (-1) or :data:`NEUTRAL` (0).
    dataset
        Key of :data:`DATASETS`; the vintage is looked up under this key and the
        close-vintage rules of :func:`gap_evolution` depend on it.
    numerator, denominator
        Variable templates: ``{yy}`` is replaced by the vintage's two last digits; ``+`` sums
        variables; ``|`` separates alternatives tried in order (the first whose variables are
        all present wins). Column names match case-insensitively.
    value
        Template of a column holding the published value itself (median, or a published rate
        when numerator and denominator are not given).
    weight
        Template of the denominator of a published rate (e.g. persons of fiscal households for
        the poverty rate): with it, ``numerator = value × weight`` and the rate aggregates.
    value_scale
        Factor turning the published value into the unit (0.01 for a rate published in %).
    scale
        Factor applied to numerator / denominator (10,000 for ``per_10000``).
    note
        Caveat shown with the figure (French).
    aliases
        Other names of the same indicator accepted in reference tables
        (``"median_disposable_income"`` for ``revenu_median``). An alias names the same
        definition only: the declared-income poverty rate is not an alias of ``taux_pauvrete``.
    """

    key: str
    label: str
    theme: str
    unit: str
    kind: str
    direction: int
    dataset: str
    numerator: str | None = None
    denominator: str | None = None
    value: str | None = None
    weight: str | None = None
    value_scale: float = 1.0
    scale: float = 1.0
    note: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.key):
            problems.append(f"key {self.key!r} must be lower-case letters, digits and '_'")
        if self.unit not in UNITS:
            problems.append(f"unit {self.unit!r} not in {UNITS}")
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} not in {KINDS}")
        if self.direction not in (HIGHER_WORSE, HIGHER_BETTER, NEUTRAL):
            problems.append(f"direction {self.direction!r} must be 1, -1 or 0")
        if self.kind == "count" and not self.numerator:
            problems.append("a count needs a numerator")
        if self.kind == "ratio" and not ((self.numerator and self.denominator) or self.value):
            problems.append("a ratio needs a numerator and a denominator, or a value")
        if self.kind == "median" and not self.value:
            problems.append("a median needs a value column")
        if problems:
            raise SchemaError(f"indicator {self.key!r}: " + "; ".join(problems))

    @property
    def source_label(self) -> str:
        """French wording of the dataset (``DATASETS[dataset]`` or the dataset key)."""
        return DATASETS.get(self.dataset, self.dataset)

    @property
    def needs_vintage(self) -> bool:
        """Whether the variable names depend on the vintage (templates with ``{yy}``)."""
        return any("{yy}" in (t or "") for t in (self.numerator, self.denominator,
                                                  self.value, self.weight))

    def variables(self, vintage: int | None) -> dict[str, str | None]:
        """Return the templates with ``{yy}`` filled for ``vintage`` (role → expression)."""
        if vintage is None and self.needs_vintage:
            raise SchemaError(f"indicator {self.key!r}: a vintage is needed to name its "
                              "variables")
        yy = f"{int(vintage) % 100:02d}" if vintage is not None else ""
        return {role: (t.replace("{yy}", yy) if t else None)
                for role, t in (("numerator", self.numerator),
                                ("denominator", self.denominator),
                                ("value", self.value), ("weight", self.weight))}


_RP_SOURCE_NOTE = "Estimation par sondage du recensement : petits effectifs peu précis."

CATALOGUE: tuple[Indicator, ...] = (
    Indicator("population", "Population", "Démographie", "count", "count", NEUTRAL, "rp",
              numerator="P{yy}_POP",
              aliases=("population_totale",)),
    Indicator("part_moins_25", "Part des moins de 25 ans", "Démographie", "share", "ratio",
              NEUTRAL, "rp",
              numerator="P{yy}_POP0002+P{yy}_POP0305+P{yy}_POP0610+P{yy}_POP1117+P{yy}_POP1824"
                        "|P{yy}_POP0024",
              denominator="P{yy}_POP",
              aliases=("under25_share",)),
    Indicator("revenu_median", "Revenu disponible médian par unité de consommation",
              "Revenus", "euros", "median", HIGHER_BETTER, "filosofi",
              value="DISP_MED{yy}|MED{yy}",
              note="Médiane : ne s'additionne ni ne se moyenne entre quartiers.",
              aliases=("median_disposable_income",)),
    Indicator("taux_pauvrete", "Taux de pauvreté (seuil à 60 % du niveau de vie médian)",
              "Revenus", "share", "ratio", HIGHER_WORSE, "filosofi",
              value="DISP_TP60{yy}|TP60{yy}", weight="NBPERSMENFISC{yy}", value_scale=0.01,
              note="Taux publié : agrégeable seulement avec le nombre de personnes des "
                   "ménages fiscaux.",
              aliases=("poverty_rate", "poverty_rate_disposable_income")),
    Indicator("taux_emploi_1564", "Taux d'emploi des 15-64 ans", "Emploi", "share", "ratio",
              HIGHER_BETTER, "rp", numerator="P{yy}_ACTOCC1564", denominator="P{yy}_POP1564",
              aliases=("employment_rate_15_64",)),
    Indicator("taux_chomage_1564", "Taux de chômage des 15-64 ans (au sens du recensement)",
              "Emploi", "share", "ratio", HIGHER_WORSE, "rp", numerator="P{yy}_CHOM1564",
              denominator="P{yy}_ACT1564",
              aliases=("unemployment_rate_15_64",)),
    Indicator("part_sans_diplome",
              "Part des non-scolarisés de 15 ans ou plus sans diplôme (ou CEP)", "Éducation",
              "share", "ratio", HIGHER_WORSE, "rp", numerator="P{yy}_NSCOL15P_DIPLMIN",
              denominator="P{yy}_NSCOL15P",
              aliases=("no_diploma_share",)),
    Indicator("part_diplome_sup",
              "Part des non-scolarisés de 15 ans ou plus diplômés du supérieur", "Éducation",
              "share", "ratio", HIGHER_BETTER, "rp",
              numerator="P{yy}_NSCOL15P_SUP2+P{yy}_NSCOL15P_SUP34+P{yy}_NSCOL15P_SUP5"
                        "|P{yy}_NSCOL15P_SUP",
              denominator="P{yy}_NSCOL15P",
              aliases=("higher_education_share",)),
    Indicator("part_menages_1p", "Part des ménages d'une personne", "Familles", "share",
              "ratio", NEUTRAL, "rp", numerator="C{yy}_MENPSEUL", denominator="C{yy}_MEN",
              note=_RP_SOURCE_NOTE,
              aliases=("one_person_households_share",)),
    Indicator("part_familles_mono", "Part des familles monoparentales", "Familles", "share",
              "ratio", HIGHER_WORSE, "rp", numerator="C{yy}_FAMMONO", denominator="C{yy}_FAM",
              note=_RP_SOURCE_NOTE,
              aliases=("single_parent_families_share",)),
    Indicator("taux_vacance", "Taux de logements vacants", "Logement", "share", "ratio",
              HIGHER_WORSE, "rp", numerator="P{yy}_LOGVAC", denominator="P{yy}_LOG",
              aliases=("vacancy_rate",)),
    Indicator("part_locataires_hlm", "Part des résidences principales louées en HLM",
              "Logement", "share", "ratio", NEUTRAL, "rp", numerator="P{yy}_RP_LOCHLMV",
              denominator="P{yy}_RP",
              note="Déclaration des ménages au recensement (différent du décompte RPLS).",
              aliases=("hlm_tenants_share",)),
    Indicator("part_loges_gratuitement", "Part des résidences principales occupées à titre "
              "gratuit", "Logement", "share", "ratio", HIGHER_WORSE, "rp",
              numerator="P{yy}_RP_GRAT", denominator="P{yy}_RP",
              aliases=("housed_free_of_charge_share",)),
    Indicator("part_rp_4pieces_plus", "Part des résidences principales de 4 pièces ou plus",
              "Logement", "share", "ratio", NEUTRAL, "rp",
              numerator="P{yy}_RP_4P+P{yy}_RP_5PP", denominator="P{yy}_RP",
              aliases=("main_residences_4_rooms_or_more_share",)),
    Indicator("part_rp_avant_1946", "Part des résidences principales construites avant 1946",
              "Logement", "share", "ratio", NEUTRAL, "rp",
              numerator="P{yy}_RP_ACH19+P{yy}_RP_ACH45", denominator="P{yy}_RP_ACHTOT",
              note="Parmi les résidences principales dont l'époque de construction est "
                   "connue du recensement.",
              aliases=("main_residences_built_before_1945_share",)),
    # Per-zone tables computed by qpvgeo (housing.social_housing_stock,
    # thermography.heat_loss_shares, health.health_access): their column names, no {yy}.
    Indicator("logements_sociaux", "Logements sociaux (RPLS)", "Logement", "count", "count",
              NEUTRAL, "rpls", numerator="rpls_count",
              note="Logements des bailleurs sociaux localisés dans la zone (vacants compris).",
              aliases=("social_dwellings", "social_dwellings_in_qpv")),
    Indicator("part_logements_sociaux", "Logements sociaux (RPLS) rapportés aux résidences "
              "principales", "Logement", "share", "ratio", NEUTRAL, "rpls",
              numerator="rpls_count", denominator="rp_count",
              note="Logements RPLS (vacants compris) / résidences principales du recensement : "
                   "peut dépasser 100 % dans une petite zone.",
              aliases=("rpls_share_of_rp", "social_housing_share_of_main_residences")),
    Indicator("part_rpls_avant_1949", "Part des logements sociaux construits avant 1949",
              "Logement", "share", "ratio", NEUTRAL, "rpls",
              numerator="era_avant_1949_count", denominator="era_known_count",
              note="Parmi les logements sociaux dont l'année de construction est connue.",
              aliases=("social_dwellings_built_before_1949_share",)),
    Indicator("part_rpls_t1_t2", "Part des petits logements sociaux (T1 et T2)", "Logement",
              "share", "ratio", NEUTRAL, "rpls",
              numerator="size_t1_count+size_t2_count", denominator="size_known_count",
              aliases=("social_dwellings_t1_t2_share",)),
    Indicator("part_rpls_tres_sociaux", "Part des logements sociaux « très sociaux » (PLAI, "
              "HLM financés avant 1977)", "Logement", "share", "ratio", NEUTRAL, "rpls",
              numerator="finan_plai_count+finan_hlm_avant_1977_count",
              denominator="finan_known_count",
              note="Financements PLAI et assimilés, et HBM, PLR/PSR, HLM/O d'avant 1977, parmi "
                   "les logements dont le financement est connu.",
              aliases=("plai_plus_before_1977_share",)),
    Indicator("part_batiments_deperdition_forte", "Part des bâtiments à déperdition thermique "
              "forte ou excessive", "Environnement", "share", "ratio", HIGHER_WORSE,
              "thermographie", numerator="heatloss_strong_count",
              denominator="buildings_classified",
              note="Parmi les bâtiments classés ; thermographie relative à une nuit de vol.",
              aliases=("strong_heat_loss_buildings_share",)),
    Indicator("part_toiture_deperdition_forte", "Part de la surface de toiture à déperdition "
              "forte ou excessive", "Environnement", "share", "ratio", HIGHER_WORSE,
              "thermographie", numerator="heatloss_strong_area_m2",
              denominator="heatloss_classified_area_m2",
              aliases=("strong_heat_loss_roof_share",)),
    Indicator("medecins_generalistes_pour_10000", "Médecins généralistes pour 10 000 habitants",
              "Santé", "per_10000", "ratio", HIGHER_BETTER, "bpe",
              numerator="medecin_generaliste_inside_count", denominator="pop", scale=10000.0,
              note="Équipements situés dans la zone (BPE) ; l'accès à pied est dans le volet "
                   "santé.",
              aliases=("general_practitioners_per_10000",)),
    Indicator("dentistes_pour_10000", "Chirurgiens-dentistes pour 10 000 habitants", "Santé",
              "per_10000", "ratio", HIGHER_BETTER, "bpe",
              numerator="chirurgien_dentiste_inside_count", denominator="pop", scale=10000.0,
              aliases=("dentists_per_10000",)),
    Indicator("infirmiers_pour_10000", "Infirmiers pour 10 000 habitants", "Santé",
              "per_10000", "ratio", HIGHER_BETTER, "bpe",
              numerator="infirmier_inside_count", denominator="pop", scale=10000.0,
              aliases=("nurses_per_10000",)),
    Indicator("pharmacies_pour_10000", "Pharmacies pour 10 000 habitants", "Santé",
              "per_10000", "ratio", HIGHER_BETTER, "bpe",
              numerator="pharmacie_inside_count", denominator="pop", scale=10000.0,
              aliases=("pharmacies_per_10000",)),
    # SIRENE tables (economy.economic_activity), first date t0 and second date t1: the portrait
    # names the columns of the two stocks estab_t0_count, creations_t1_count…
    Indicator("evolution_etablissements", "Évolution du nombre d'établissements", "Économie",
              "share", "ratio", HIGHER_BETTER, "sirene",
              numerator="estab_change_count", denominator="estab_t0_count",
              note="Établissements actifs localisés dans la zone aux deux dates (stocks SIRENE).",
              aliases=("establishments_change", "establishments_change_2017_2023")),
    Indicator("creations_etablissements", "Établissements créés dans l'année", "Économie",
              "count", "count", NEUTRAL, "sirene", numerator="creations_t1_count",
              aliases=("establishment_creations",)),
    Indicator("creations_par_habitant", "Créations d'établissements par habitant", "Économie",
              "share", "ratio", HIGHER_BETTER, "sirene",
              numerator="creations_t1_count", denominator="pop",
              aliases=("creations_per_inhabitant",)),
    Indicator("part_creations_ei", "Part des créations en entreprise individuelle",
              "Économie", "share", "ratio", NEUTRAL, "sirene",
              numerator="creations_t1_ei_count", denominator="creations_t1_count",
              note="Catégorie juridique 1000 (entrepreneurs individuels, micro-entrepreneurs "
                   "compris) : un majorant de la part des micro-entreprises.",
              aliases=("micro_entrepreneur_share_of_creations",)),
    Indicator("part_etab_commerce_transport_hr", "Part des établissements du commerce, des "
              "transports, de l'hébergement et de la restauration", "Économie", "share",
              "ratio", NEUTRAL, "sirene",
              numerator="sector_t1_commerce_transport_hebergement_restauration_count",
              denominator="sector_t1_known_count",
              aliases=("trade_transport_accommodation_share_of_establishments",)),
)
"""The indicators of the diagnostic, in the order of the portrait table."""

_CATALOGUE_BY_KEY = {ind.key: ind for ind in CATALOGUE}


def catalogue(indicators: Iterable[Indicator] | None = None) -> pd.DataFrame:
    """Return the indicator catalogue as a table (one row per indicator).

    Parameters
    ----------
    indicators
        Indicators to list (default :data:`CATALOGUE`).

    Returns
    -------
    pandas.DataFrame
        Indexed by the indicator key (index name ``indicator``); columns ``key, label, theme,
        unit, kind, direction, dataset, numerator, denominator, value, weight, value_scale,
        scale, note, source_label``.
    """
    rows = []
    for ind in (CATALOGUE if indicators is None else indicators):
        row = asdict(ind)
        row["source_label"] = ind.source_label
        rows.append(row)
    table = pd.DataFrame(rows)
    table.index = pd.Index(table["key"], name="indicator")
    return table


def get_indicator(indicator: str | Indicator) -> Indicator:
    """Return the catalogue record of ``indicator`` (a key or an :class:`Indicator`).

    Raises
    ------
    SchemaError
        Unknown key; the message lists the closest known keys.
    """
    if isinstance(indicator, Indicator):
        return indicator
    try:
        return _CATALOGUE_BY_KEY[str(indicator)]
    except KeyError:
        close = difflib.get_close_matches(str(indicator), _CATALOGUE_BY_KEY, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SchemaError(
            f"unknown indicator {indicator!r}{hint}; known indicators: "
            f"{', '.join(_CATALOGUE_BY_KEY)}; or pass an Indicator(...) record"
        ) from None


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


def _vintage_for(
    ind: Indicator, vintage: int | Mapping[str, int] | None, *, required: bool = True
) -> int | None:
    """Vintage of ``ind``: an int, or a mapping by indicator key or dataset key."""
    if vintage is None:
        v = None
    elif isinstance(vintage, Mapping):
        v = vintage.get(ind.key, vintage.get(ind.dataset))
    else:
        v = vintage
    if v is None:
        if required:
            raise SchemaError(
                f"no vintage for indicator {ind.key!r} (dataset {ind.dataset!r}); pass "
                f"vintage=2020 or vintage={{'{ind.dataset}': 2020, ...}}"
            )
        return None
    try:
        year = int(v)
    except (TypeError, ValueError):
        raise SchemaError(f"vintage {v!r} for {ind.key!r} is not a year such as 2020") from None
    if not 1950 <= year <= 2100:
        raise SchemaError(f"vintage {year} for {ind.key!r} is not a plausible year")
    return year


# ---------------------------------------------------------------------------------------------
# Evaluating an indicator on a table of raw variables
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Wide tables
# ---------------------------------------------------------------------------------------------

_SUFFIXES = ("num", "den", "origin", "source", "vintage", "method", "is_estimate",
             "missing_reason")
_ID_CANDIDATES = ("code_qpv", "code_iris", "insee_com", "siren_epci", "code")
_NAME_CANDIDATES = ("nom_qpv", "nom_iris", "nom_com", "nom_epci", "nom", "name")


def _row_sources(table: pd.DataFrame, source: str | None) -> pd.Series:
    """Source label per row: explicit argument, else ``source`` column, else attrs."""
    if source is not None:
        return pd.Series(source, index=table.index, dtype=object)
    col = _validate.find_column(table, "source")
    if col is not None:
        return table[col].astype(object).where(table[col].notna(), "")
    attrs = table.attrs.get("qpvgeo", {}) if isinstance(table.attrs, dict) else {}
    return pd.Series(str(attrs.get("source") or ""), index=table.index, dtype=object)


_ILLUSTRATIVE_SUFFIX = " (données illustratives)"


def _is_illustrative_source(text: str) -> bool:
    """Whether a source label marks illustrative stand-in data."""
    return text.startswith(_validate.ILLUSTRATIVE) or text.endswith(_ILLUSTRATIVE_SUFFIX)


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    """Shallow copy without ``attrs``, for working copies.

    pandas deep-copies a frame's ``attrs`` into every derived frame: thousands of copies of
    provenance dictionaries in the loops over indicators and zones.
    """
    if not getattr(frame, "attrs", None):
        return frame
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def _source_text(ind: Indicator, file_source: str) -> str:
    if not file_source:
        return ind.source_label
    if file_source == _validate.ILLUSTRATIVE:
        return f"{ind.source_label}{_ILLUSTRATIVE_SUFFIX}"
    return f"{ind.source_label} — {file_source}"


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


# ---------------------------------------------------------------------------------------------
# French formatting
# ---------------------------------------------------------------------------------------------

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


def _fmt_ratio(r: float) -> str:
    return format_number(r, 1, strip_zero=True)


def ratio_phrase(ratios: Iterable[float] | pd.Series, *, zone_word: str = "") -> str:
    """Describe the range of zone/territory ratios as the diagnostic does, in French.

    All ratios ≥ 1: ``"C'est de 1,4 à 2 fois plus"`` (``"de l'équivalent à 1,7 fois plus"``
    when the smallest rounds to 1); all ≤ 1: ``"C'est de 1,4 à 1,9 fois moins"`` (inverse
    ratios); mixed: ``"Jusqu'à 1,4 fois plus"`` when the lowest rounds to 1, else
    ``"De 1,2 fois moins à 1,4 fois plus"``. Ratios are rounded half up to one decimal,
    ``,0`` dropped. Missing and non-positive ratios are ignored (a zero zone value is
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


# ---------------------------------------------------------------------------------------------
# Reference table (département, région, France…)
# ---------------------------------------------------------------------------------------------

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


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


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


# ---------------------------------------------------------------------------------------------
# Portrait table
# ---------------------------------------------------------------------------------------------

def _pick_reference(
    refs: pd.DataFrame, ind: Indicator, level: str, vintage: int | None
) -> pd.DataFrame:
    rows = refs[(refs["indicator"] == ind.key) & (refs["level"] == level)]
    if rows.empty:
        return rows
    out = []
    for _, grp in rows.groupby("name", sort=False):
        same = (grp["vintage"] == vintage).fillna(False).astype(bool) if vintage is not None \
            else pd.Series(False, index=grp.index)
        if same.any():
            out.append(grp[same].iloc[[0]])
        else:
            out.append(grp.sort_values("vintage").iloc[[-1]])
    return pd.concat(out)


def _wide_columns(table: pd.DataFrame, ind: Indicator, what: str) -> None:
    needed = [ind.key] + [f"{ind.key}_{s}" for s in _SUFFIXES]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise SchemaError(
            f"{what}: no columns for indicator {ind.key} ({', '.join(missing[:3])}…); build it "
            "with zone_indicators/territory_indicators/compute_indicators including this "
            "indicator")


def portrait_table(
    values: pd.DataFrame,
    territory: pd.DataFrame,
    *,
    indicators: Iterable[str | Indicator] | None = None,
    references: pd.DataFrame | None = None,
    key: str | None = None,
    name_col: str | None = None,
    zone_label: str = "QPV",
    territory_name: str | None = None,
) -> pd.DataFrame:
    """Summarise indicators as the diagnostic's table: territory, all zones, min, max, ratios.

    Parameters
    ----------
    values
        Per-zone indicators (:func:`zone_indicators` output), one row per QPV (or IRIS).
    territory
        Territory indicators (:func:`territory_indicators` output, one row).
    indicators
        Rows of the table, in order (default: the catalogue indicators present in
        ``values``, in catalogue order; one absent from ``territory`` gets a missing territory
        value with the reason).
    references
        Comparison figures (:func:`read_reference_table`): ``departement``, ``region``,
        ``france``, ``epci`` levels become columns and a French sentence; an
        ``ensemble_qpv`` row gives the zones' aggregate of a non-additive indicator (median);
        an ``epci`` row named as the territory gives the territory's official value where
        ``territory`` has none (e.g. the EPCI's Filosofi median).
    key, name_col
        Code and name columns of ``values`` (default from its attrs or usual names).
    zone_label
        Word for the zones in French sentences (``"QPV"``, ``"IRIS"``).
    territory_name
        Name of the territory in sentences (default the ``nom`` of ``territory``).

    Returns
    -------
    pandas.DataFrame
        One row per indicator (index ``indicator``) with columns: ``label, theme, unit,
        direction, kind``; ``territory_value, territory_num, territory_den``;
        ``zones_value`` (aggregate of the zones: Σ numerator / Σ denominator for ratios, sum
        for counts, official ``ensemble_qpv`` figure for medians, else missing),
        ``zones_num, zones_den, zones_aggregate_method``; ``zones_share_of_territory``
        (counts: Σ zones / territory, 0–1); ``n_zones, n_zones_with_data,
        zones_without_data`` (names, "; "-joined); ``min_code, min_name, min_value, max_code,
        max_name, max_value``; ``ratio_min, ratio_max`` (zone / territory),
        ``n_above_territory, n_below_territory``; French texts ``territory_text,
        zones_text, min_text, max_text, comparison, references_text,
        territory_comparison``; reference columns ``ref_<level>`` (and
        ``ref_<level>_name``) when one name per level, ``ref_<level>_<n>`` otherwise;
        provenance ``origin`` (counts by origin), ``source``, ``vintage``, ``method``,
        ``is_estimate``, ``share_zones_estimated`` (0–1), ``is_illustrative``,
        ``missing_reason``.
    """
    if len(territory) != 1:
        raise SchemaError(f"territory must have exactly one row, got {len(territory)}; build "
                          "it with territory_indicators")
    attrs = values.attrs.get("qpvgeo", {}) if isinstance(values.attrs, dict) else {}
    key = key or attrs.get("key") or _validate.find_column(values, list(_ID_CANDIDATES))
    name_col = (name_col or attrs.get("name_col")
                or _validate.find_column(values, list(_NAME_CANDIDATES)) or key)
    if key is None or key not in values.columns:
        raise SchemaError(_validate.missing_message("values", ["code_qpv"], values.columns,
                                                    "pass key='<zone code column>'"))
    assert name_col is not None
    terr = territory.iloc[0]
    tname = territory_name or str(terr.get("nom", "territoire"))
    if indicators is None:
        inds = [i for i in CATALOGUE if i.key in values.columns]
        extra = [k for k in attrs.get("indicators", []) if k not in _CATALOGUE_BY_KEY]
        if extra:
            raise SchemaError(f"values hold custom indicators ({', '.join(extra)}); pass them "
                              "as indicators=[Indicator(...), ...]")
    else:
        inds = [get_indicator(i) for i in indicators]
    refs = references if references is not None else pd.DataFrame(
        columns=["level", "name", "indicator", "value", "vintage", "source"])
    if references is not None:
        _validate.require_columns(references, ["level", "name", "indicator", "value",
                                               "vintage", "source"], name="references",
                                  hint="read it with read_reference_table")
    values, refs = _bare(values), _bare(refs)
    names = values[name_col].astype(object).where(values[name_col].notna(),
                                                  values[key].astype(object))
    rows = []
    terr = terr.copy()
    for ind in inds:
        _wide_columns(values, ind, "values")
        if ind.key not in territory.columns:
            # the territory table lacks it: a row all the same, territory value missing
            terr = pd.concat([terr, pd.Series({
                ind.key: np.nan, f"{ind.key}_num": np.nan, f"{ind.key}_den": np.nan,
                f"{ind.key}_origin": "", f"{ind.key}_source": "", f"{ind.key}_vintage": pd.NA,
                f"{ind.key}_method": "", f"{ind.key}_is_estimate": False,
                f"{ind.key}_missing_reason": "pas de valeur : indicateur absent du tableau "
                                             "du territoire"}, dtype=object)])
        _wide_columns(terr.to_frame().T, ind, "territory")
        rows.append(_portrait_row(ind, values, names, key, terr, tname, refs, zone_label))
    table = pd.DataFrame(rows)
    table.index = pd.Index([i.key for i in inds], name="indicator")
    table.attrs["qpvgeo"] = {
        "territory": tname, "zone_label": zone_label, "n_zones": len(values),
        "source": "; ".join(pd.unique(table["source"].astype(str))) if len(table) else "",
        "method": "qpvgeo.indicators.portrait_table",
    }
    return table


def _portrait_row(
    ind: Indicator, values: pd.DataFrame, names: pd.Series, key: str, terr: pd.Series,
    tname: str, refs: pd.DataFrame, zone_label: str,
) -> dict[str, Any]:
    k = ind.key
    v = values[k].astype(float)
    num = values[f"{k}_num"].astype(float)
    den = values[f"{k}_den"].astype(float)
    has = v.notna()
    n, n_data = len(values), int(has.sum())
    t_val = float(terr[k]) if pd.notna(terr[k]) else np.nan
    row: dict[str, Any] = {
        "label": ind.label, "theme": ind.theme, "unit": ind.unit, "direction": ind.direction,
        "kind": ind.kind, "territory_name": tname, "territory_value": t_val,
        "territory_num": terr[f"{k}_num"], "territory_den": terr[f"{k}_den"],
    }
    reasons: list[str] = []
    terr_src, terr_vint, terr_meth = (str(terr[f"{k}_source"]), terr[f"{k}_vintage"],
                                      str(terr[f"{k}_method"]))
    own = _own_reference(refs, ind, tname, _mode_int(values[f"{k}_vintage"]))
    if pd.isna(t_val) and own is not None:
        # the territory's official figure given in the reference table (level epci)
        t_val = float(own["value"])
        terr_src, terr_vint = str(own["source"]), own["vintage"]
        terr_meth = f"valeur officielle de la table de référence ({own['name']})"
        row.update({"territory_value": t_val, "territory_num": np.nan,
                    "territory_den": np.nan})
    if pd.isna(t_val):
        reasons.append(f"{tname} : {terr[f'{k}_missing_reason'] or 'valeur manquante'}")

    # aggregate of the zones
    agg, a_num, a_den = np.nan, np.nan, np.nan
    agg_method = ""
    agg_estimate = False
    if ind.kind == "count":
        if n_data:
            a_num = float(num[has].sum())
            agg = a_num * ind.scale
            agg_method = f"somme sur {n_data} {zone_label}"
    elif ind.kind == "ratio":
        ok = has & num.notna() & den.notna()
        if ok.any():
            a_num, a_den = float(num[ok].sum()), float(den[ok].sum())
            if a_den > 0:
                agg = a_num / a_den * ind.scale
                agg_method = (f"ratio des sommes Σ numérateur / Σ dénominateur sur "
                              f"{int(ok.sum())} {zone_label}")
                if int(ok.sum()) < n_data:
                    agg_method += (f" ({n_data - int(ok.sum())} {zone_label} à taux publié "
                                   "sans numérateur ni dénominateur exclus)")
            else:
                reasons.append(f"ensemble des {zone_label} : dénominateur total nul")
        elif n_data:
            reasons.append(f"ensemble des {zone_label} non calculable : les taux sont publiés "
                           "sans leurs effectifs. Fournir le chiffre publié pour l'ensemble "
                           f"des {zone_label} (table de référence)")
    if ind.kind == "median" or (pd.isna(agg) and n_data):
        off = _pick_reference(refs, ind, "ensemble_qpv", _mode_int(values[f"{k}_vintage"]))
        if not off.empty:
            o = off.iloc[0]
            agg, agg_method = float(o["value"]), (
                f"valeur officielle « {o['name']} » ({o['source']}"
                + (f", {int(o['vintage'])})" if pd.notna(o["vintage"]) else ", sans millésime)"))
            reasons = [r for r in reasons if not r.startswith("ensemble des")]
        elif ind.kind == "median":
            reasons.append(f"ensemble des {zone_label} non calculable : une médiane ne "
                           "s'additionne ni ne se moyenne entre quartiers. Fournir le chiffre "
                           f"publié pour l'ensemble des {zone_label} (table de référence)")
    if not n_data:
        reasons.append(f"aucun {zone_label} avec donnée")
    est = values[f"{k}_is_estimate"].fillna(False).astype(bool) & has
    if agg_method.startswith(("somme", "ratio")) and est.any():
        agg_estimate = True
    row.update({"zones_value": agg, "zones_num": a_num, "zones_den": a_den,
                "zones_aggregate_method": agg_method})
    row["zones_share_of_territory"] = (
        agg / t_val if ind.kind == "count" and pd.notna(agg) and t_val and t_val > 0
        else np.nan)
    row["n_zones"], row["n_zones_with_data"] = n, n_data
    row["zones_without_data"] = "; ".join(names[~has].astype(str))

    # min / max
    if n_data:
        vv = v[has].to_numpy()
        j_min, j_max = int(np.argmin(vv)), int(np.argmax(vv))
        codes_h = values.loc[has, key].to_numpy()
        names_h = names[has].to_numpy()
        row.update({"min_code": codes_h[j_min], "min_name": names_h[j_min],
                    "min_value": float(vv[j_min]), "max_code": codes_h[j_max],
                    "max_name": names_h[j_max], "max_value": float(vv[j_max])})
    else:
        row.update({"min_code": None, "min_name": None, "min_value": np.nan,
                    "max_code": None, "max_name": None, "max_value": np.nan})
    ratios = v[has] / t_val if pd.notna(t_val) and t_val > 0 else pd.Series(dtype=float)
    row["ratio_min"] = float(ratios.min()) if len(ratios) else np.nan
    row["ratio_max"] = float(ratios.max()) if len(ratios) else np.nan
    row["n_above_territory"] = int((v[has] > t_val).sum()) if pd.notna(t_val) else 0
    row["n_below_territory"] = int((v[has] < t_val).sum()) if pd.notna(t_val) else 0

    # texts
    row["territory_text"] = format_value(t_val, ind)
    ztext = format_value(agg, ind) if pd.notna(agg) else "n.d."
    if 0 < n_data < n:
        ztext += (f" (sur les {n_data} {zone_label} dont la donnée est disponible)"
                  if agg_method.startswith(("somme", "ratio")) else "")
    row["zones_text"] = ztext
    row["min_text"] = (f"Mini : {format_value(row['min_value'], ind)} pour {row['min_name']}"
                       if n_data else "")
    row["max_text"] = (f"Maxi : {format_value(row['max_value'], ind)} pour {row['max_name']}"
                       if n_data else "")
    if ind.kind == "count":
        row["comparison"] = (f"soit {format_value(row['zones_share_of_territory'], 'share')} "
                             f"du total {tname}" if pd.notna(row["zones_share_of_territory"])
                             else "")
    else:
        row["comparison"] = ratio_phrase(ratios)

    # references
    ref_texts, terr_cmp = [], ""
    t_vint = _mode_int(pd.Series([terr_vint]))
    for level in ("commune", "epci", "departement", "region", "france", "france_qpv",
                  "ensemble_iris_qpv"):
        picked = _pick_reference(refs, ind, level, t_vint)
        if level == "epci" and not picked.empty:
            picked = picked[picked["name"].map(_fold) != _fold(tname)]
        if picked.empty:
            continue
        if len(picked) == 1:
            p = picked.iloc[0]
            row[f"ref_{level}"] = float(p["value"])
            row[f"ref_{level}_name"] = p["name"]
        else:
            for j, (_, p) in enumerate(picked.iterrows(), start=1):
                row[f"ref_{level}_{j}"] = float(p["value"])
                row[f"ref_{level}_{j}_name"] = p["name"]
        for _, p in picked.iterrows():
            vtxt = format_value(float(p["value"]), ind)
            if pd.isna(p["vintage"]):
                vtxt += " (sans millésime)"
            elif t_vint is not None and int(p["vintage"]) != t_vint:
                vtxt += f" ({int(p['vintage'])})"
            ref_texts.append(f"{p['name']} : {vtxt}")
        if level == "france" and ind.kind != "count":
            phrase = _compare_phrase(t_val, float(picked.iloc[0]["value"]))
            if phrase:
                terr_cmp = (f"{tname} : {phrase} que la France" if phrase != "l'équivalent"
                            else f"{tname} : l'équivalent de la France")
    row["references_text"] = " ; ".join(ref_texts)
    row["territory_comparison"] = terr_cmp

    # provenance
    origins = values.loc[has, f"{k}_origin"].astype(str).value_counts()
    row["origin"] = " ; ".join(f"{o} : {c}" for o, c in origins.items())
    srcs = [terr_src, *values.loc[has, f"{k}_source"].astype(str)]
    row["source"] = " ; ".join(dict.fromkeys(s for s in srcs if s)) or ind.source_label
    vints = sorted({int(x) for x in [terr_vint, *values.loc[has, f"{k}_vintage"]]
                    if pd.notna(x)})
    row["vintage"] = "–".join(map(str, [vints[0], vints[-1]])) if len(vints) > 1 else (
        str(vints[0]) if vints else "")
    meths = [terr_meth, *values.loc[has, f"{k}_method"].astype(str)]
    row["method"] = " ; ".join(dict.fromkeys(m for m in meths if m))
    row["is_estimate"] = bool(est.any() or agg_estimate
                              or bool(terr.get(f"{k}_is_estimate", False)))
    row["share_zones_estimated"] = float(est.sum() / n_data) if n_data else np.nan
    ill = bool(values.get("is_illustrative", pd.Series(False, index=values.index)).any()
               or bool(terr.get("is_illustrative", False))
               or any(_is_illustrative_source(s) for s in srcs)
               or _validate.is_illustrative(refs))
    row["is_illustrative"] = ill
    if ill and not _is_illustrative_source(row["source"]):
        row["source"] = f"{row['source']}{_ILLUSTRATIVE_SUFFIX}"
    row["note"] = ind.note
    row["missing_reason"] = " ; ".join(reasons)
    return row


def _fold(text: Any) -> str:
    """Compare names loosely: no accents, lower case, single spaces."""
    return " ".join(_strip_accents(str(text)).lower().replace("-", " ").split())


def _own_reference(
    refs: pd.DataFrame, ind: Indicator, tname: str, vintage: int | None
) -> pd.Series | None:
    """Return the reference row (level ``epci``) naming the territory itself, if any."""
    picked = _pick_reference(refs, ind, "epci", vintage)
    if picked.empty:
        return None
    mine = picked[picked["name"].map(_fold) == _fold(tname)]
    return None if mine.empty else mine.iloc[0]


def _mode_int(s: pd.Series) -> int | None:
    s = pd.to_numeric(s, errors="coerce").dropna()
    if s.empty:
        return None
    return int(s.mode().iloc[0])


# ---------------------------------------------------------------------------------------------
# Gap evolution
# ---------------------------------------------------------------------------------------------

_CW_FROM = ("old_code", "code_from", "from", "code_old", "old", "code_qpv_2015", "qp2015",
            "code_qp2015", "source_code")
_CW_TO = ("new_code", "code_to", "to", "code_new", "new", "code_qpv_2024", "qp2024",
          "code_qp2024", "target_code")
_CW_WEIGHT = ("allocation", "weight_from", "weight", "share_of_old", "share_from", "poids")
_CW_COVER = ("weight_share_of_new", "share_of_new", "weight_to", "coverage", "share_to")


def _transfer(
    t0: pd.DataFrame, ind: Indicator, key0: str, crosswalk: pd.DataFrame,
    columns: Mapping[str, str | None], dominant_share: float,
) -> pd.DataFrame:
    """Carry the t0 indicator onto the t1 zones of a crosswalk (one row per t1 code)."""
    k = ind.key
    cw = crosswalk
    c_from, c_to, c_w = columns["from"], columns["to"], columns["weight"]
    assert c_from is not None
    assert c_to is not None
    assert c_w is not None
    c_cov = columns.get("cover")
    src = _bare(t0.set_index(t0[key0].astype(object)))
    if src.index.duplicated().any():
        raise DuplicateKeyError(f"t0: duplicated zone codes in {key0}")
    w = pd.to_numeric(cw[c_w], errors="coerce")
    if w.isna().any() or (w < 0).any() or (w > 1 + 1e-9).any():
        raise SchemaError(f"crosswalk: column {c_w} must hold shares 0–1 of each t0 zone "
                          "going to each t1 zone (no missing or negative value)")
    unknown = sorted(set(cw[c_from].astype(object)) - set(src.index))
    rows = []
    # plain arrays and a position lookup: the loop below runs once per t1 zone and indicator
    pos = {code: i for i, code in enumerate(src.index)}
    all_vals = pd.to_numeric(src[k], errors="coerce").to_numpy(dtype=float)
    all_nums = pd.to_numeric(src[f"{k}_num"], errors="coerce").to_numpy(dtype=float)
    all_dens = pd.to_numeric(src[f"{k}_den"], errors="coerce").to_numpy(dtype=float)
    all_vint = src[f"{k}_vintage"].to_numpy(dtype=object)
    all_reason = src[f"{k}_missing_reason"].astype(str).to_numpy(dtype=object)
    from_codes = cw[c_from].astype(object).to_numpy()
    to_codes = cw[c_to].astype(object).to_numpy()
    weights = w.to_numpy(dtype=float)
    covers = (pd.to_numeric(cw[c_cov], errors="coerce").to_numpy(dtype=float)
              if c_cov is not None else None)
    groups: dict[Any, list[int]] = {}
    for i, code in enumerate(to_codes):
        groups.setdefault(code, []).append(i)
    for code_to, members in groups.items():
        olds = [from_codes[i] for i in members]
        ww = weights[members]
        known = [o in pos for o in olds]
        rec: dict[str, Any] = {"code": code_to, "codes_t0": ";".join(map(str, olds)),
                               "reason": ""}
        if not all(known):
            rec.update(value=np.nan, num=np.nan, den=np.nan, reason="zone(s) t0 absente(s) : "
                       + ", ".join(o for o, kn in zip(olds, known, strict=True) if not kn))
            rows.append(rec)
            continue
        at = [pos[o] for o in olds]
        vals, nums, dens = all_vals[at], all_nums[at], all_dens[at]
        method = ""
        if ind.kind == "count" and np.isfinite(nums).all():
            n_ = float((ww * nums).sum())
            rec.update(value=n_ * ind.scale, num=n_, den=np.nan)
            method = "report des effectifs pondérés (table de correspondance)"
        elif ind.kind == "ratio" and np.isfinite(nums).all() and np.isfinite(dens).all():
            n_, d_ = float((ww * nums).sum()), float((ww * dens).sum())
            rec.update(value=n_ / d_ * ind.scale if d_ > 0 else np.nan, num=n_, den=d_,
                       reason="" if d_ > 0 else "dénominateur nul")
            method = "report des numérateurs et dénominateurs pondérés (table de correspondance)"
        else:
            # non-additive: only when one t0 zone dominates the t1 zone
            if covers is not None:
                cover = covers[members]
            elif np.isfinite(dens).all() and (ww * dens).sum() > 0:
                cover = ww * dens / (ww * dens).sum()
            else:
                cover = np.full(len(olds), np.nan)
            if len(olds) == 1 and ww[0] >= dominant_share:
                cover = np.array([1.0])
            j = int(np.nanargmax(cover)) if np.isfinite(cover).any() else -1
            if j >= 0 and cover[j] >= dominant_share and np.isfinite(vals[j]):
                rec.update(value=float(vals[j]), num=np.nan, den=np.nan)
                method = (f"valeur du QPV {olds[j]} qui couvre {cover[j]:.0%} de la zone "
                          "(non additif : reprise sans moyenne)")
            else:
                rec.update(value=np.nan, num=np.nan, den=np.nan, reason=(
                    "non transférable : indicateur non additif et aucune zone t0 ne couvre "
                    f"au moins {dominant_share:.0%} de la zone"))
        if pd.isna(rec.get("value")) and not rec.get("reason"):
            rec["reason"] = "t0 : " + " ; ".join(r for r in all_reason[at] if r)
        rec["method"] = method
        rec["vintage"] = _mode_int(pd.Series(all_vint[at]))
        rows.append(rec)
    out = pd.DataFrame(rows).set_index("code")
    out.attrs["unknown_t0_codes"] = unknown
    return out


def _crosswalk_columns(
    cw: pd.DataFrame, given: Mapping[str, str] | None
) -> dict[str, str | None]:
    given = dict(given or {})
    cols: dict[str, str | None] = {
        "from": given.get("from") or _validate.find_column(cw, list(_CW_FROM)),
        "to": given.get("to") or _validate.find_column(cw, list(_CW_TO)),
        "weight": given.get("weight") or _validate.find_column(cw, list(_CW_WEIGHT)),
        "cover": given.get("cover") or _validate.find_column(cw, list(_CW_COVER)),
    }
    missing = [r for r in ("from", "to", "weight") if cols[r] is None or cols[r] not in
               cw.columns]
    if missing:
        raise SchemaError(_validate.missing_message(
            "crosswalk", [{"from": "code_from", "to": "code_to", "weight": "weight"}[m]
                          for m in missing], cw.columns,
            "pass crosswalk_columns={'from': ..., 'to': ..., 'weight': ...} (weight: share "
            "0–1 of each t0 zone lying in each t1 zone)"))
    return cols


def _infra_communal(key: str, codes: pd.Series) -> bool:
    if key.lower() in ("code_qpv", "code_iris"):
        return True
    sample = codes.dropna().astype(str).head(50)
    pat_q = _validate.CODE_PATTERNS["qpv"][1]
    pat_i = _validate.CODE_PATTERNS["iris"][1]
    return bool(len(sample)) and bool(sample.map(lambda c: bool(pat_q.match(c) or
                                                                pat_i.match(c))).all())


def _vintage_caution(ind: Indicator, v0: int | None, v1: int | None, infra: bool) -> str:
    if v0 is None or v1 is None or not infra:
        return ""
    gap = abs(v1 - v0)
    if ind.dataset == "rp" and gap < 5:
        return (f"Recensement : millésimes {v0} et {v1} distants de moins de 5 ans ; l'INSEE "
                "déconseille de mesurer des évolutions infracommunales sur des millésimes si "
                "proches (comparer des millésimes distants d'au moins 5 ans)")
    if ind.dataset == "filosofi" and (gap < 5 or 2020 in (v0, v1)):
        return (f"Filosofi : évolutions locales {v0}–{v1} à lire avec prudence (l'INSEE "
                "déconseille de comparer des millésimes proches à l'échelle infracommunale ; "
                "le millésime 2020 est moins comparable)")
    return ""


def gap_evolution(
    t0: pd.DataFrame,
    t1: pd.DataFrame,
    territory_t0: pd.DataFrame,
    territory_t1: pd.DataFrame,
    indicator: str | Indicator,
    *,
    key: str | None = None,
    key_t0: str | None = None,
    name_col: str | None = None,
    crosswalk: pd.DataFrame | None = None,
    crosswalk_columns: Mapping[str, str] | None = None,
    measure: Literal["difference", "ratio"] = "difference",
    tolerance: float = 0.0,
    infra_communal: bool | None = None,
    dominant_share: float = 0.8,
) -> pd.DataFrame:
    """Gap of each zone to the territory at two dates, its change and the quadrant.

    The question of the diagnostic — "Les écarts entre les QPV et la CALL se sont-ils
    réduits ?" — crossed with "la situation des QPV s'est-elle améliorée ?". Works on any
    zones (QPV, IRIS concerned by a QPV, communes).

    * gap = zone − territory (indicator unit: share points 0–1, euros…), gap ratio = zone /
      territory;
    * gap change: with ``measure="difference"`` ``|gap_t1| − |gap_t0|``; with ``"ratio"``
      ``|ln ratio_t1| − |ln ratio_t0|``; above ``tolerance`` the gap "s'accroît", below
      ``-tolerance`` it "se réduit", else it is stable;
    * situation: ``direction × (value_t1 − value_t0)`` > 0 is a "dégradation", < 0 an
      "amélioration" (for neutral indicators: "hausse" / "baisse");
    * quadrant: situation × gap trend, e.g. ``"dégradation, écart accru"``.

    A count (population) has no gap to the territory: only its change is given (``situation``
    "hausse"/"baisse", ``quadrant`` = situation, gap columns missing).

    When the zones differ between dates (2015 ``QP…`` codes at t0, 2024 ``QN…`` at t1), pass
    a ``crosswalk``: the table of :func:`qpvgeo.overlay.crosswalk` (``old_code``, ``new_code``,
    ``allocation`` = share 0–1 of the t0 zone's counts carried to the t1 zone,
    ``weight_share_of_new``/``share_of_new`` = share of the t1 zone coming from the t0 zone),
    or any table with those roles named in ``crosswalk_columns``. Counts, numerators and
    denominators are carried with the weights and ratios re-formed (an estimate, marked);
    non-additive values (medians) are carried only when one t0 zone covers at least
    ``dominant_share`` of the t1 zone, else missing with the reason.

    Warns (:class:`~qpvgeo.errors.DataQualityWarning`) when INSEE advises against the
    comparison below commune level: census vintages less than 5 years apart; Filosofi
    vintages less than 5 years apart or involving 2020 (DOMAIN.md §10).

    Parameters
    ----------
    t0, t1
        Per-zone indicator tables (:func:`zone_indicators` / :func:`compute_indicators`) at
        the two dates.
    territory_t0, territory_t1
        Territory indicators (:func:`territory_indicators`) at the two dates.
    indicator
        Indicator key or record.
    key, key_t0
        Code columns of ``t1`` and ``t0`` (default detected).
    name_col
        Name column of ``t1``.
    crosswalk, crosswalk_columns
        Correspondence table and, when its columns are not those of
        :func:`qpvgeo.overlay.crosswalk`, the names of its roles: ``{"from": old code, "to":
        new code, "weight": share of the old zone carried, "cover": share of the new zone
        coming from the old one (optional)}``.
    measure
        Gap measure used for the trend and the quadrant.
    tolerance
        Changes within ± tolerance are "stable" (indicator unit, or log-ratio for
        ``measure="ratio"``).
    infra_communal
        Whether the zones are below commune level (default: detected from the codes).
    dominant_share
        Minimum share of a t1 zone covered by one t0 zone to carry a non-additive value.

    Returns
    -------
    pandas.DataFrame
        Index and order of ``t1``; columns ``code, name, codes_t0, value_t0, value_t1,
        territory_t0, territory_t1, gap_t0, gap_t1, gap_ratio_t0, gap_ratio_t1, gap_change,
        change_value, change_relative`` (value_t1 / value_t0 − 1), ``situation, gap_trend,
        quadrant, position_t1, vintage_t0, vintage_t1,
        is_estimate, method_t0, caution, missing_reason``. ``attrs["qpvgeo"]`` holds the
        indicator, measure and the zones without data; :func:`gap_summary` gives the counts.
    """
    ind = get_indicator(indicator)
    k = ind.key
    for tbl, what in ((t0, "t0"), (t1, "t1"), (territory_t0, "territory_t0"),
                      (territory_t1, "territory_t1")):
        _wide_columns(tbl, ind, what)
    for tbl, what in ((territory_t0, "territory_t0"), (territory_t1, "territory_t1")):
        if len(tbl) != 1:
            raise SchemaError(f"{what} must have exactly one row, got {len(tbl)}")
    if measure not in ("difference", "ratio"):
        raise SchemaError(f"measure must be 'difference' or 'ratio', not {measure!r}")
    a1 = t1.attrs.get("qpvgeo", {}) if isinstance(t1.attrs, dict) else {}
    a0 = t0.attrs.get("qpvgeo", {}) if isinstance(t0.attrs, dict) else {}
    t0, t1 = _bare(t0), _bare(t1)
    territory_t0, territory_t1 = _bare(territory_t0), _bare(territory_t1)
    key = key or a1.get("key") or _validate.find_column(t1, list(_ID_CANDIDATES))
    key_t0 = key_t0 or a0.get("key") or _validate.find_column(t0, list(_ID_CANDIDATES))
    if key is None or key not in t1.columns:
        raise SchemaError(_validate.missing_message("t1", ["code_qpv"], t1.columns,
                                                    "pass key='<zone code column>'"))
    if key_t0 is None or key_t0 not in t0.columns:
        raise SchemaError(_validate.missing_message("t0", ["code_qpv"], t0.columns,
                                                    "pass key_t0='<zone code column>'"))
    name_col = (name_col or a1.get("name_col")
                or _validate.find_column(t1, list(_NAME_CANDIDATES)))
    codes1 = t1[key].astype(object)
    codes0 = t0[key_t0].astype(object)
    _validate.check_unique(t1, key, name="t1")
    _validate.check_unique(t0, key_t0, name="t0")

    estimate0 = pd.Series(False, index=t1.index)
    method0 = pd.Series("", index=t1.index, dtype=object)
    codes_t0 = codes1.copy()
    if crosswalk is not None:
        cols = _crosswalk_columns(crosswalk, crosswalk_columns)
        moved = _transfer(t0, ind, key_t0, crosswalk, cols, dominant_share)
        al = moved.reindex(pd.Index(codes1.to_numpy(), dtype=object))
        al.index = t1.index
        v0 = al["value"].astype(float)
        reason0 = al["reason"].astype(object).where(al["reason"].notna(),
                                                    "zone absente de la table de correspondance")
        reason0 = reason0.where(v0.isna(), "")
        codes_t0 = al["codes_t0"].astype(object)
        vint0 = _mode_int(t0[f"{k}_vintage"])
        estimate0 = v0.notna()
        method0 = al["method"].astype(object).where(al["method"].notna(), "")
    else:
        common = codes1.isin(set(codes0))
        if not common.any():
            kinds0 = sorted({str(c)[:2] for c in codes0.dropna()})
            kinds1 = sorted({str(c)[:2] for c in codes1.dropna()})
            raise SchemaError(
                f"t0 and t1 share no zone code (t0 codes start with {', '.join(kinds0)}, t1 "
                f"with {', '.join(kinds1)}); when the geography changed (QPV 2015 → 2024) pass "
                "crosswalk=... (qpvgeo.overlay.crosswalk)")
        src = t0.set_index(codes0)
        al = src.reindex(pd.Index(codes1.to_numpy(), dtype=object))
        al.index = t1.index
        v0 = al[k].astype(float)
        reason0 = al[f"{k}_missing_reason"].astype(object).where(common, "zone absente à t0")
        reason0 = reason0.where(reason0.notna(), "").where(v0.isna(), "")
        vint0 = _mode_int(t0[f"{k}_vintage"])
        estimate0 = al[f"{k}_is_estimate"].fillna(False).astype(bool)
        method0 = al[f"{k}_method"].astype(object).where(al[f"{k}_method"].notna(), "")
    v1 = t1[k].astype(float)
    vint1 = _mode_int(t1[f"{k}_vintage"])
    terr0 = float(territory_t0[k].iloc[0])
    terr1 = float(territory_t1[k].iloc[0])

    infra = _infra_communal(key, codes1) if infra_communal is None else bool(infra_communal)
    caution = _vintage_caution(ind, vint0, vint1, infra)
    if caution:
        warnings.warn(f"{k}: {caution}", DataQualityWarning, stacklevel=2)

    gap0, gap1 = v0 - terr0, v1 - terr1
    r0 = v0 / terr0 if terr0 and terr0 > 0 else pd.Series(np.nan, index=t1.index)
    r1 = v1 / terr1 if terr1 and terr1 > 0 else pd.Series(np.nan, index=t1.index)
    if measure == "difference":
        change = gap1.abs() - gap0.abs()
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            l0 = pd.Series(np.log(r0.where(r0 > 0).to_numpy(dtype=float)), index=t1.index)
            l1 = pd.Series(np.log(r1.where(r1 > 0).to_numpy(dtype=float)), index=t1.index)
        change = l1.abs() - l0.abs()
    dv = v1 - v0
    trend = pd.Series(None, index=t1.index, dtype=object)
    trend[change > tolerance] = "écart accru"
    trend[change < -tolerance] = "écart réduit"
    trend[change.abs() <= tolerance] = "écart stable"
    situation = pd.Series(None, index=t1.index, dtype=object)
    if ind.direction == NEUTRAL:
        situation[dv > tolerance] = "hausse"
        situation[dv < -tolerance] = "baisse"
    else:
        signed = ind.direction * dv
        situation[signed > tolerance] = "dégradation"
        situation[signed < -tolerance] = "amélioration"
    situation[dv.abs() <= tolerance] = "stable"
    quadrant = (situation + ", " + trend).where(situation.notna() & trend.notna())
    position = pd.Series(None, index=t1.index, dtype=object)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (v1 / v0.where(v0 > 0)) - 1
    terr_rel = terr1 / terr0 - 1 if terr0 and terr0 > 0 else np.nan
    if ind.kind == "count":
        # a count (population) has no "gap to the territory": only its change is reported
        nan = pd.Series(np.nan, index=t1.index)
        gap0, gap1, r0, r1, change = nan, nan.copy(), nan.copy(), nan.copy(), nan.copy()
        trend = pd.Series(None, index=t1.index, dtype=object)
        situation = situation.replace({"amélioration": "hausse", "dégradation": "baisse"})
        quadrant = situation.copy()
        position[:] = None
    elif ind.direction == NEUTRAL:
        position[gap1 > 0] = "au-dessus du territoire"
        position[gap1 < 0] = "en dessous du territoire"
    else:
        position[ind.direction * gap1 > 0] = "défavorable"
        position[ind.direction * gap1 < 0] = "favorable"
    if ind.kind != "count":
        position[gap1 == 0] = "égal au territoire"

    reason1 = t1[f"{k}_missing_reason"].astype(object).where(v1.isna(), "")
    missing = []
    for i in t1.index:
        parts = []
        if pd.isna(terr0) or pd.isna(terr1):
            parts.append("valeur du territoire manquante")
        if pd.isna(v0[i]):
            parts.append("t0 : " + (str(reason0[i]) or "valeur manquante"))
        if pd.isna(v1[i]):
            parts.append("t1 : " + (str(reason1[i]) or "valeur manquante"))
        missing.append(" ; ".join(parts))
    is_est = (estimate0 | t1[f"{k}_is_estimate"].fillna(False).astype(bool)) & v0.notna()
    out = pd.DataFrame({
        "code": codes1,
        "name": (t1[name_col].astype(object) if name_col else codes1),
        "codes_t0": codes_t0,
        "value_t0": v0, "value_t1": v1,
        "territory_t0": terr0, "territory_t1": terr1,
        "gap_t0": gap0, "gap_t1": gap1, "gap_ratio_t0": r0, "gap_ratio_t1": r1,
        "gap_change": change, "change_value": dv, "change_relative": rel,
        "situation": situation, "gap_trend": trend, "quadrant": quadrant,
        "position_t1": position,
        "vintage_t0": pd.Series(vint0, index=t1.index, dtype="Int64"),
        "vintage_t1": pd.Series(vint1, index=t1.index, dtype="Int64"),
        "is_estimate": is_est, "method_t0": method0,
        "caution": caution, "missing_reason": missing,
    }, index=t1.index)
    out.attrs["qpvgeo"] = {
        "indicator": k, "label": ind.label, "unit": ind.unit, "direction": ind.direction,
        "kind": ind.kind, "territory_change_relative": terr_rel,
        "measure": measure, "tolerance": tolerance, "infra_communal": infra,
        "crosswalk": crosswalk is not None, "caution": caution,
        "zones_without_data": out.loc[out["quadrant"].isna(), "name"].astype(str).tolist(),
        "territory": str(territory_t1.iloc[0].get("nom", "territoire")),
    }
    return out


def gap_summary(evolution: pd.DataFrame, *, zone_label: str = "zones") -> pd.DataFrame:
    """Count the zones behind the diagnostic's sentences, from :func:`gap_evolution`.

    Parameters
    ----------
    evolution
        Output of :func:`gap_evolution`.
    zone_label
        Word for the zones in the French sentence (``"QPV"``, ``"IRIS"``).

    Returns
    -------
    pandas.DataFrame
        One row indexed by the indicator key with ``n_zones, n_with_data,
        zones_without_data, n_gap_widened, n_gap_narrowed, n_gap_stable,
        share_gap_widened`` (0–1, of zones with data), ``n_improved, n_worsened, n_stable``
        (``n_rose``/``n_fell`` for neutral indicators), one ``n_<quadrant>`` column per
        quadrant, ``n_unfavourable_t1, n_favourable_t1`` and ``sentence`` (French, e.g.
        "L'écart au territoire s'est accru pour 15 des 30 IRIS (50 %) …").
    """
    attrs = evolution.attrs.get("qpvgeo", {}) if isinstance(evolution.attrs, dict) else {}
    evolution = _bare(evolution)
    required = ["gap_trend", "situation", "quadrant", "position_t1", "name"]
    _validate.require_columns(evolution, required, name="evolution",
                              hint="pass the result of gap_evolution")
    ok = evolution["quadrant"].notna()
    n_data = int(ok.sum())
    trend = evolution.loc[ok, "gap_trend"]
    sit = evolution.loc[ok, "situation"]
    row: dict[str, Any] = {
        "n_zones": len(evolution), "n_with_data": n_data,
        "zones_without_data": "; ".join(evolution.loc[~ok, "name"].astype(str)),
        "n_gap_widened": int((trend == "écart accru").sum()),
        "n_gap_narrowed": int((trend == "écart réduit").sum()),
        "n_gap_stable": int((trend == "écart stable").sum()),
    }
    is_count = attrs.get("kind") == "count"
    row["share_gap_widened"] = (row["n_gap_widened"] / n_data if n_data and not is_count
                                else np.nan)
    neutral = attrs.get("direction", 1) == NEUTRAL or is_count
    if neutral:
        row["n_rose"] = int((sit == "hausse").sum())
        row["n_fell"] = int((sit == "baisse").sum())
    else:
        row["n_improved"] = int((sit == "amélioration").sum())
        row["n_worsened"] = int((sit == "dégradation").sum())
    row["n_stable"] = int((sit == "stable").sum())
    situations = ("hausse", "baisse", "stable") if neutral else (
        "amélioration", "dégradation", "stable")
    for s in situations if not is_count else ():
        for t in ("écart accru", "écart réduit", "écart stable"):
            col = "n_" + _strip_accents(f"{s}_{t}").replace(" ", "_").replace(",", "")
            row[col] = int((evolution.loc[ok, "quadrant"] == f"{s}, {t}").sum())
    pos = evolution.loc[evolution["position_t1"].notna(), "position_t1"]
    row["n_unfavourable_t1"] = int((pos == "défavorable").sum())
    row["n_favourable_t1"] = int((pos == "favorable").sum())
    territory = attrs.get("territory", "territoire")
    if n_data and is_count:
        tr = attrs.get("territory_change_relative", np.nan)
        sign = "+" if pd.notna(tr) and tr > 0 else ""
        row["sentence"] = (
            f"Hausse dans {row['n_rose']} des {n_data} {zone_label}, baisse dans "
            f"{row['n_fell']}" + (f" ({territory} : {sign}{format_value(tr, 'share')})"
                                  if pd.notna(tr) else "")
            + (f" ; {len(evolution) - n_data} {zone_label} sans donnée"
               if n_data < len(evolution) else "") + ".")
    elif n_data:
        share = format_value(row["share_gap_widened"], "share", 0)
        sentence = (f"L'écart au territoire s'est accru pour {row['n_gap_widened']} des "
                    f"{n_data} {zone_label} ({share}) et réduit pour {row['n_gap_narrowed']}")
        if not neutral:
            sentence += (f" ; la situation s'est dégradée pour {row['n_worsened']} et "
                         f"améliorée pour {row['n_improved']}")
        if n_data < len(evolution):
            sentence += f" ({len(evolution) - n_data} {zone_label} sans donnée)"
        row["sentence"] = sentence + "."
    else:
        row["sentence"] = f"Aucun {zone_label} avec des données aux deux dates."
    out = pd.DataFrame([row], index=pd.Index([attrs.get("indicator", "")], name="indicator"))
    out.attrs["qpvgeo"] = dict(attrs)
    return out


def gap_overview(
    t0: pd.DataFrame,
    t1: pd.DataFrame,
    territory_t0: pd.DataFrame,
    territory_t1: pd.DataFrame,
    *,
    indicators: Iterable[str | Indicator] | None = None,
    zone_label: str = "QPV",
    **kwargs: Any,
) -> pd.DataFrame:
    """Run :func:`gap_evolution` and :func:`gap_summary` for several indicators.

    Parameters
    ----------
    t0, t1, territory_t0, territory_t1
        As in :func:`gap_evolution`.
    indicators
        Keys or records (default: the catalogue indicators present in the four tables).
    zone_label
        Word for the zones in the sentences (``"QPV"``, ``"IRIS"``).
    **kwargs
        Passed to :func:`gap_evolution` (``crosswalk``, ``measure``, ``tolerance``…).

    Returns
    -------
    pandas.DataFrame
        One row per indicator (index ``indicator``): ``label`` then the columns of
        :func:`gap_summary` and ``caution``. Quadrant count columns absent for an indicator
        are 0.
    """
    if indicators is None:
        inds = [i for i in CATALOGUE if all(i.key in t.columns for t in
                                            (t0, t1, territory_t0, territory_t1))]
    else:
        inds = [get_indicator(i) for i in indicators]
    rows = []
    for i in inds:
        evo = gap_evolution(t0, t1, territory_t0, territory_t1, i, **kwargs)
        summary = gap_summary(evo, zone_label=zone_label)
        summary.insert(0, "label", i.label)
        summary["caution"] = evo.attrs["qpvgeo"]["caution"]
        rows.append(summary)
    if not rows:
        return pd.DataFrame(columns=["label", "sentence"],
                            index=pd.Index([], name="indicator"))
    out = pd.concat(rows)
    counts = [c for c in out.columns if c.startswith("n_")]
    out[counts] = out[counts].fillna(0).astype(int)
    return out

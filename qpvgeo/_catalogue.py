"""The indicator catalogue as data: :class:`Indicator` records, their units, kinds, directions
and datasets (see :mod:`qpvgeo.indicators`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import pandas as pd

from qpvgeo.errors import SchemaError

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

"""Health and school equipment (BPE) per zone: counts, walking reach, coverage.

The *Base permanente des équipements* (BPE, INSEE) codes each equipment with ``TYPEQU``. The
health codes **change between vintages** (``DOMAIN.md`` §5): the general practitioner is
``D201`` up to the 2023/2024 files and ``D265`` in 2025; the pharmacy ``D301`` up to 2021 and
``D307`` after. :data:`BPE_CODES` lists, per code *schema*, the codes used here with their French
label, the *kind* they are grouped into, their domain, and whether the code was checked against
a published file or nomenclature (``verified``); :func:`bpe_codes` selects a vintage.

Schemas: ``"2021"`` for BPE vintages up to 2021; ``"2023"`` for the files carrying the QPV 2024
columns (2023, 2024; assumed for 2022, not verified); ``"2025"`` from 2025. Codes of the domain
(``D…`` for health, ``C…`` for education) that are not in the table for the vintage are counted
and reported as unknown (a warning and ``attrs["qpvgeo"]["unknown_codes"]``), never mapped by
guess.

:func:`health_access` and :func:`school_access` wrap :func:`qpvgeo.equipment.equipment_access`
(reach, coverage, per 10,000 inhabitants, comparison with the territory).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo import _validate as v
from qpvgeo._progress import ProgressCallback
from qpvgeo.equipment import DEFAULT_REACH_M, WalkingGraph, attach_attributes, equipment_access
from qpvgeo.errors import DataQualityWarning, SchemaError

__all__ = [
    "BPE_CODES",
    "DEFAULT_HEALTH_KINDS",
    "KIND_LABELS",
    "bpe_codes",
    "bpe_schema",
    "health_access",
    "school_access",
    "unknown_codes",
]

_SPECIALISTS_2023 = [f"D{n}" for n in range(202, 215)]
_SPECIALISTS_2025 = [f"D{n}" for n in range(251, 277) if n != 265]

_ROWS: list[tuple[str, str, str, str, str, bool]] = [
    # schema, typequ, label, kind, domain, verified
    # ---- up to 2021 (codes of older files as documented by parsers; not re-checked)
    ("2021", "D101", "Établissement santé court séjour", "etablissement_sante", "sante", False),
    ("2021", "D102", "Établissement santé moyen séjour", "etablissement_sante", "sante", False),
    ("2021", "D103", "Établissement santé long séjour", "etablissement_sante", "sante", False),
    ("2021", "D104", "Établissement psychiatrique", "etablissement_sante", "sante", False),
    ("2021", "D106", "Urgences", "urgences", "sante", False),
    ("2021", "D107", "Maternité", "maternite", "sante", False),
    ("2021", "D108", "Centre de santé", "centre_sante", "sante", False),
    ("2021", "D113", "Maison de santé pluridisciplinaire", "maison_sante", "sante", False),
    ("2021", "D201", "Médecin généraliste", "medecin_generaliste", "sante", False),
    ("2021", "D221", "Chirurgien-dentiste", "chirurgien_dentiste", "sante", False),
    ("2021", "D231", "Sage-femme", "sage_femme", "sante", False),
    ("2021", "D232", "Infirmier", "infirmier", "sante", False),
    ("2021", "D233", "Masseur-kinésithérapeute", "masseur_kinesitherapeute", "sante", False),
    ("2021", "D301", "Pharmacie", "pharmacie", "sante", False),
    ("2021", "C201", "Collège", "college", "enseignement", False),
    ("2021", "C301", "Lycée d'enseignement général et/ou technologique", "lycee",
     "enseignement", False),
    ("2021", "C302", "Lycée d'enseignement professionnel", "lycee", "enseignement", False),
    ("2021", "C303", "Lycée d'enseignement technique ou professionnel agricole", "lycee",
     "enseignement", False),
    # ---- files with the QPV 2024 columns (2023, 2024)
    ("2023", "D101", "Établissement santé court séjour", "etablissement_sante", "sante", True),
    ("2023", "D102", "Établissement santé moyen séjour", "etablissement_sante", "sante", True),
    ("2023", "D103", "Établissement santé long séjour", "etablissement_sante", "sante", True),
    ("2023", "D104", "Établissement psychiatrique", "etablissement_sante", "sante", True),
    ("2023", "D106", "Urgences", "urgences", "sante", True),
    ("2023", "D107", "Maternité", "maternite", "sante", True),
    ("2023", "D108", "Centre de santé", "centre_sante", "sante", True),
    ("2023", "D113", "Maison de santé pluridisciplinaire", "maison_sante", "sante", True),
    ("2023", "D201", "Médecin généraliste", "medecin_generaliste", "sante", True),
    *[("2023", c, "Médecin spécialiste", "specialiste", "sante", True)
      for c in _SPECIALISTS_2023],
    ("2023", "D221", "Chirurgien-dentiste", "chirurgien_dentiste", "sante", True),
    ("2023", "D231", "Sage-femme", "sage_femme", "sante", True),
    ("2023", "D233", "Masseur-kinésithérapeute", "masseur_kinesitherapeute", "sante", True),
    ("2023", "D244", "Infirmier", "infirmier", "sante", True),
    ("2023", "D302", "Laboratoire d'analyses et de biologie médicales", "laboratoire", "sante",
     True),
    ("2023", "D307", "Pharmacie", "pharmacie", "sante", True),
    ("2023", "C107", "École maternelle", "ecole_maternelle", "enseignement", True),
    ("2023", "C108", "École primaire", "ecole_primaire", "enseignement", True),
    ("2023", "C109", "École élémentaire", "ecole_elementaire", "enseignement", True),
    ("2023", "C201", "Collège", "college", "enseignement", True),
    ("2023", "C301", "Lycée d'enseignement général et/ou technologique", "lycee",
     "enseignement", True),
    ("2023", "C302", "Lycée d'enseignement professionnel", "lycee", "enseignement", True),
    ("2023", "C303", "Lycée d'enseignement technique ou professionnel agricole", "lycee",
     "enseignement", True),
    # ---- 2025 nomenclature (health professions renumbered)
    ("2025", "D265", "Médecin généraliste", "medecin_generaliste", "sante", True),
    *[("2025", c, "Médecin spécialiste", "specialiste", "sante", True)
      for c in _SPECIALISTS_2025],
    ("2025", "D277", "Chirurgien-dentiste", "chirurgien_dentiste", "sante", True),
    ("2025", "D281", "Infirmier", "infirmier", "sante", True),
    ("2025", "D307", "Pharmacie", "pharmacie", "sante", True),
    ("2025", "C201", "Collège", "college", "enseignement", False),
]

BPE_CODES = pd.DataFrame(_ROWS, columns=["schema", "typequ", "label", "kind", "domain",
                                         "verified"])
"""BPE ``TYPEQU`` codes used by qpvgeo, per code schema (see the module docstring).

``verified`` is False where the code is inferred from neighbouring vintages and not confirmed
in a published file; check the nomenclature of your vintage before relying on those kinds.
"""

KIND_LABELS: dict[str, str] = {
    "medecin_generaliste": "Médecins généralistes",
    "specialiste": "Médecins spécialistes",
    "chirurgien_dentiste": "Chirurgiens-dentistes",
    "infirmier": "Infirmiers",
    "sage_femme": "Sages-femmes",
    "masseur_kinesitherapeute": "Masseurs-kinésithérapeutes",
    "pharmacie": "Pharmacies",
    "laboratoire": "Laboratoires d'analyses médicales",
    "etablissement_sante": "Établissements de santé",
    "urgences": "Urgences",
    "maternite": "Maternités",
    "centre_sante": "Centres de santé",
    "maison_sante": "Maisons de santé pluridisciplinaires",
    "ecole_maternelle": "Écoles maternelles",
    "ecole_primaire": "Écoles primaires",
    "ecole_elementaire": "Écoles élémentaires",
    "college": "Collèges",
    "lycee": "Lycées",
}
"""French labels of the kinds (for tables, maps and the report)."""

DEFAULT_HEALTH_KINDS: tuple[str, ...] = (
    "medecin_generaliste", "chirurgien_dentiste", "infirmier", "pharmacie", "specialiste",
    "etablissement_sante",
)
"""Kinds reported by :func:`health_access` by default (those of the diagnostic)."""

_DOMAIN_LETTER = {"sante": "D", "enseignement": "C"}


def bpe_schema(vintage: int | str) -> str:
    """Return the code schema of a BPE vintage (``"2021"``, ``"2023"`` or ``"2025"``).

    Examples
    --------
    >>> bpe_schema(2019), bpe_schema("2024"), bpe_schema(2025)
    ('2021', '2023', '2025')
    """
    try:
        year = int(str(vintage)[:4])
    except ValueError as exc:
        raise SchemaError(f"BPE vintage must be a year such as 2023, got {vintage!r}") from exc
    if year <= 2021:
        return "2021"
    if year <= 2024:
        return "2023"
    return "2025"


def bpe_codes(vintage: int | str, domain: str | None = None) -> pd.DataFrame:
    """Return the code table of a BPE vintage (columns of :data:`BPE_CODES` but ``schema``).

    Parameters
    ----------
    vintage
        BPE vintage (year of the file, e.g. 2023).
    domain
        ``"sante"`` or ``"enseignement"`` to keep one domain.
    """
    t = BPE_CODES[BPE_CODES["schema"] == bpe_schema(vintage)]
    if domain is not None:
        if domain not in _DOMAIN_LETTER:
            raise ValueError(f"domain must be one of {', '.join(_DOMAIN_LETTER)}")
        t = t[t["domain"] == domain]
    return t.drop(columns="schema").reset_index(drop=True)


def _kinds_for(vintage: int | str, kinds: Sequence[str], domain: str) -> dict[str, list[str]]:
    table = bpe_codes(vintage, domain)
    out: dict[str, list[str]] = {}
    unknown = [k for k in kinds if k not in set(table["kind"])]
    if unknown:
        raise SchemaError(
            f"BPE {vintage}: no code for kind(s) {', '.join(unknown)} in the {domain} table of "
            f"this vintage (known kinds: {', '.join(pd.unique(table['kind']))})")
    for k in kinds:
        out[k] = table.loc[table["kind"] == k, "typequ"].tolist()
    return out


def unknown_codes(bpe: pd.DataFrame, vintage: int | str, domain: str = "sante", *,
                  code_col: str = "typequ", name: str | None = None) -> pd.Series:
    """Count the codes of ``domain`` present in ``bpe`` but absent from the vintage's table.

    Returns
    -------
    pandas.Series
        Number of equipment per unknown code (empty when every code is known).
    """
    col = v.find_column(bpe, code_col, required=True, name=name,
                        hint="pass code_col='<column holding TYPEQU>'")
    assert col is not None
    codes = bpe[col].astype(str).str.strip().str.upper()
    letter = _DOMAIN_LETTER[domain]
    known = set(bpe_codes(vintage)["typequ"])
    in_domain = codes.str.startswith(letter)
    unk = codes[in_domain & ~codes.isin(known)]
    return unk.value_counts().sort_index()


def _access(
    bpe: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, vintage: int | str, domain: str,
    kinds: Sequence[str], code_col: str, name: str | None, **kwargs: Any,
) -> pd.DataFrame:
    mapping = _kinds_for(vintage, kinds, domain)
    unk = unknown_codes(bpe, vintage, domain, code_col=code_col, name=name)
    if len(unk):
        shown = ", ".join(f"{c} ({n})" for c, n in unk.head(10).items())
        warnings.warn(
            f"{v.layer_name(name)}: {int(unk.sum())} {domain} equipment with TYPEQU codes not in "
            f"the BPE {vintage} table of qpvgeo ({shown}); they are not counted. Check the "
            "vintage (codes change between BPE vintages) or pass kinds={...} explicitly",
            DataQualityWarning, stacklevel=3)
    out = equipment_access(bpe, zones, kinds=mapping, code_col=code_col, name=name, **kwargs)
    meta = out.attrs.setdefault("qpvgeo", {})
    meta["unknown_codes"] = {str(c): int(n) for c, n in unk.items()}
    meta["vintage"] = str(vintage)
    meta["bpe_schema"] = bpe_schema(vintage)
    meta["codes"] = mapping
    if meta.get("source") in (None, ""):
        meta["source"] = f"BPE {vintage}"
    elif meta["source"] != v.ILLUSTRATIVE:
        meta["source"] = f"{meta['source']} (BPE {vintage})"
    return out


def health_access(
    bpe: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    vintage: int | str,
    kinds: Sequence[str] = DEFAULT_HEALTH_KINDS,
    code_col: str = "typequ",
    population: str | pd.Series | None = None,
    population_is_estimate: bool | str | pd.Series | None = None,
    residences: gpd.GeoDataFrame | None = None,
    residence_weight: str | None = "nb_logts",
    graph: WalkingGraph | gpd.GeoDataFrame | Any | None = None,
    reach_m: float = DEFAULT_REACH_M,
    territory: gpd.GeoDataFrame | None = None,
    territory_population: float | None = None,
    territory_row: bool = False,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Health equipment per zone: inside, within walking reach, per 10,000 inhabitants, coverage.

    Parameters
    ----------
    bpe
        BPE equipment points (:func:`qpvgeo.io.read_bpe`), any CRS; not modified.
    zones
        Zone polygons (index identifies zones).
    vintage
        BPE vintage (e.g. 2023): selects the ``TYPEQU`` codes (:func:`bpe_codes`).
    kinds
        Kinds to report (see :data:`KIND_LABELS`; default :data:`DEFAULT_HEALTH_KINDS`).
    code_col
        Column holding ``TYPEQU``.
    population, population_is_estimate, residences, residence_weight, graph, reach_m,
    territory, territory_population, territory_row, progress
        See :func:`qpvgeo.equipment.equipment_access` (reach defaults to 1,125 m, 15 minutes
        at 4.5 km/h; network when ``graph`` is given, Euclidean otherwise).
    name
        Name of the BPE file used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order; columns of
        :func:`qpvgeo.equipment.equipment_access` for each kind (``medecin_generaliste_…``,
        ``pharmacie_…``). ``attrs["qpvgeo"]`` holds the vintage, the codes used and the unknown
        codes found (also warned about).
    """
    return _access(bpe, zones, vintage, "sante", kinds, code_col, name,
                   population=population, population_is_estimate=population_is_estimate,
                   residences=residences, residence_weight=residence_weight, graph=graph,
                   reach_m=reach_m, territory=territory,
                   territory_population=territory_population, territory_row=territory_row,
                   progress=progress)


def school_access(
    bpe: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    vintage: int | str,
    kinds: Sequence[str] = ("college",),
    attributes: pd.DataFrame | None = None,
    on: str | tuple[str, str] | None = None,
    summaries: Mapping[str, str | Sequence[str]] | None = None,
    code_col: str = "typequ",
    population: str | pd.Series | None = None,
    residences: gpd.GeoDataFrame | None = None,
    residence_weight: str | None = "nb_logts",
    graph: WalkingGraph | gpd.GeoDataFrame | Any | None = None,
    reach_m: float = DEFAULT_REACH_M,
    territory: gpd.GeoDataFrame | None = None,
    territory_population: float | None = None,
    territory_row: bool = False,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Schools per zone (collèges by default) with summaries of their attributes (IPS, REP).

    Parameters
    ----------
    bpe
        BPE equipment points, any CRS; not modified. A layer without ``code_col`` (e.g. the
        collèges of the IPS file, with coordinates) is taken as schools of the first kind.
        An ``ep`` column (``REP``, ``REP+``, blank: *éducation prioritaire*) gives the counts
        of reachable schools in REP (``{kind}_reach_rep_sum``) and REP+
        (``{kind}_reach_rep_plus_sum``).
    zones
        Zone polygons (index identifies zones).
    vintage
        BPE vintage (selects the codes).
    kinds
        School kinds (``college``, ``lycee``, and from 2023 ``ecole_maternelle``,
        ``ecole_primaire``, ``ecole_elementaire``).
    attributes, on
        Optional attribute table (e.g. one row per collège with its social-position index
        ``ips`` and a 0/1 ``rep_plus``) joined to the points on ``on`` (see
        :func:`qpvgeo.equipment.attach_attributes`).
    summaries
        ``{column: stats}`` over the schools within reach; default ``{"ips": ["mean", "min",
        "max"]}`` when the points (or ``attributes``) carry an ``ips`` column, and ``sum`` of
        ``rep`` / ``rep_plus`` flags when present.
    code_col, population, residences, residence_weight, graph, reach_m, territory,
    territory_population, territory_row, name, progress
        See :func:`health_access`.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order; columns of
        :func:`qpvgeo.equipment.equipment_access` per kind, plus ``{kind}_reach_{col}_{stat}``.
    """
    pts = bpe
    if attributes is not None:
        if on is None:
            raise SchemaError("school_access: pass on='<key>' (or (points_key, table_key)) to "
                              "join the attribute table")
        pts = attach_attributes(bpe, attributes, on=on, name="attributes")
    if v.find_column(pts, code_col) is None:
        # a layer of schools of one kind (e.g. the collèges' IPS file with coordinates)
        code_col = "_typequ"
        first = bpe_codes(vintage, "enseignement").query("kind == @kinds[0]")["typequ"]
        if first.empty:
            raise SchemaError(f"school_access: no code for kind {kinds[0]} in BPE {vintage}")
        pts = pts.assign(_typequ=first.iloc[0])
    ep = v.find_column(pts, ["ep", "education_prioritaire"])
    if ep is not None and not pd.api.types.is_numeric_dtype(pts[ep]):
        label = pts[ep].astype(str).str.strip().str.upper().str.replace(" ", "", regex=False)
        pts = pts.assign(rep=(label == "REP").astype(float),
                         rep_plus=(label == "REP+").astype(float))
    if summaries is None:
        summaries = {}
        if "ips" in pts.columns:
            summaries["ips"] = ["mean", "min", "max"]
        for flag in ("rep", "rep_plus"):
            if flag in pts.columns:
                summaries[flag] = "sum"
    return _access(pts, zones, vintage, "enseignement", kinds, code_col, name,
                   population=population, residences=residences,
                   residence_weight=residence_weight, graph=graph, reach_m=reach_m,
                   territory=territory, territory_population=territory_population,
                   summaries=summaries or None, territory_row=territory_row, progress=progress)

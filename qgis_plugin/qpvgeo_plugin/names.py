"""French field names of the output layers.

The library names its columns in English (``share_of_qpv``, ``heatloss_strong_share``); the
plugin writes them with French names. One table for every algorithm, so that the same library
column always gets the same French name. Codes and official variable names (``code_qpv``,
``P20_POP``) are kept; a column missing from the table keeps its library name.
"""

from __future__ import annotations

from collections.abc import Iterable

EXACT = {
    # overlay
    "area_m2": "surface_m2",
    "share_of_iris": "part_de_l_iris",
    "share_of_qpv": "part_du_qpv",
    "weight": "poids",
    "weight_share_of_iris": "part_poids_iris",
    "weight_share_of_qpv": "part_poids_qpv",
    "weight_fallback_iris": "repli_surface_iris",
    "weight_fallback_qpv": "repli_surface_qpv",
    # interpolation
    "missing_vars": "variables_manquantes",
    "not_interpolable": "non_interpolables",
    "n_sources": "nb_unites_source",
    "source_codes": "codes_source",
    "coverage_share": "part_couverte",
    "share_estimated": "part_estimee",
    "is_estimate": "est_estimation",
    "method": "methode",
    "weight_fallback": "repli_surface",
    "source": "source",
    # thermography: buildings
    "heatloss_class": "classe_deperdition",
    "heatloss_label": "libelle_deperdition",
    "heatloss_reason": "raison_non_classe",
    "heatloss_class_share": "part_classe",
    "heatloss_stat": "statistique_toit",
    "heatloss_valid_px": "pixels_valides",
    "heatloss_valid_area_m2": "surface_mesuree_m2",
    "heatloss_coverage": "couverture_mesure",
    "heatloss_interior": "mesure_interieur_toit",
    "heatloss_method": "methode_deperdition",
    # thermography: zones
    "buildings_count": "nb_batiments",
    "buildings_classified": "nb_batiments_classes",
    "buildings_unclassified": "nb_batiments_non_classes",
    "buildings_not_measured": "nb_batiments_non_mesures",
    "heatloss_strong_count": "nb_deperditions_fortes",
    "heatloss_strong_share": "part_deperditions_fortes",
    "heatloss_classified_area_m2": "surface_classee_m2",
    "heatloss_strong_area_m2": "surface_deperditions_fortes_m2",
    "heatloss_strong_area_share": "part_surface_deperditions_fortes",
    "heatloss_missing_reason": "raison_manque",
    # housing (RPLS)
    "rpls_count": "nb_logements_sociaux",
    "rp_count": "nb_residences_principales",
    "rp_is_estimate": "rp_estimation",
    "rpls_share_of_rp": "part_rpls_parmi_rp",
    "area_ha": "surface_ha",
    "rpls_per_ha": "rpls_par_ha",
    "pop": "population",
    "pop_is_estimate": "population_estimation",
    "pop_missing_reason": "population_raison_manque",
    "rpls_per_1000_inhab": "rpls_pour_1000_hab",
    "territory_rpls_count": "nb_rpls_territoire",
    "rpls_share_of_territory": "part_rpls_du_territoire",
    "rpls_let_count": "nb_rpls_loues",
    "rpls_vacant_count": "nb_rpls_vacants",
    "rpls_empty_count": "nb_rpls_vides",
    "rpls_vacancy_share": "taux_vacance_rpls",
    "rpls_vacancy_missing_reason": "taux_vacance_rpls_raison_manque",
    # equipment access (BPE)
    "reach_m": "portee_m",
    "reach_method": "methode_portee",
    "coverage_basis": "base_couverture",
}

# prefix of a library column -> French prefix (applied before the suffix rule)
PREFIXES = [
    ("heatloss_frac_", "part_classe_"),
    ("heatloss_count_", "nb_classe_"),
    ("era_", "epoque_"),
    ("finan_", "financement_"),
    ("size_", "taille_"),
]

# suffix of a library column -> French suffix (first match wins: longest first)
SUFFIXES = [
    ("_per_10000_territory", "_pour_10000_territoire"),
    ("_per_10000_ratio", "_indice_vs_territoire"),
    ("_nearest_median_m", "_dist_mediane_m"),
    ("_nearest_mean_m", "_dist_moyenne_m"),
    ("_missing_reason", "_raison_manque"),
    ("_unknown_share", "_part_inconnue"),
    ("_unknown_count", "_nb_inconnu"),
    ("_known_count", "_nb_connu"),
    ("_known_share", "_part_connue"),
    ("_inside_count", "_nb_dans_zone"),
    ("_reach_count", "_nb_a_portee"),
    ("_covered_share", "_part_pop_couverte"),
    ("_covered_pop", "_pop_couverte"),
    ("_per_10000", "_pour_10000_hab"),
    ("_is_estimate", "_estimation"),
    ("_count", "_nb"),
    ("_share", "_part"),
    ("_detail", "_detail"),
    ("_min", "_min"),
    ("_max", "_max"),
]


def french(column: str, keep: Iterable[str] = ()) -> str:
    """French name of a library column (``keep``: names never translated, e.g. variables)."""
    if column in keep:
        return column
    if column in EXACT:
        return EXACT[column]
    for prefix, french_prefix in PREFIXES:
        if column.startswith(prefix) and len(column) > len(prefix):
            if prefix.startswith("heatloss_"):
                return french_prefix + column[len(prefix):]
            column = french_prefix + column[len(prefix):]
            break
    for suffix, french_suffix in SUFFIXES:
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)] + french_suffix
    return column


def french_map(columns: Iterable[str], keep: Iterable[str] = ()) -> dict[str, str]:
    """``{library column: French name}`` for ``columns``; duplicates keep the library name."""
    keep = set(keep)
    out: dict[str, str] = {}
    used: set[str] = set()
    for col in columns:
        name = french(str(col), keep)
        if name in used:
            name = str(col)
        used.add(name)
        out[str(col)] = name
    return out

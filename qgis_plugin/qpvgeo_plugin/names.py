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
}

# prefix of a library column -> French prefix
PREFIXES = [
    ("heatloss_frac_", "part_classe_"),
    ("heatloss_count_", "nb_classe_"),
]

# suffix of a library column -> French suffix (longest first)
SUFFIXES = [
    ("_missing_reason", "_raison_manque"),
    ("_known_share", "_part_connue"),
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
            return french_prefix + column[len(prefix):]
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

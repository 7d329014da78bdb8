"""The portrait lists the engines' data-quality warnings in French (``qpvgeo._warnings_fr``).

The engines are made to warn on tiny inputs, so a message reworded in an engine without its
French wording fails here instead of reaching users untranslated.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon, box

from qpvgeo import io
from qpvgeo._warnings_fr import UNTRANSLATED, french_warning
from qpvgeo.equipment import assign_points
from qpvgeo.errors import DataQualityWarning
from qpvgeo.interpolation import interpolate

DATA = Path(__file__).parent / "data"


def _caught(func, *args, **kwargs) -> list[str]:
    """Warnings of one call, recorded as the portrait records them ("Category : message")."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func(*args, **kwargs)
    texts = [f"{w.category.__name__} : {w.message}" for w in caught
             if issubclass(w.category, DataQualityWarning)]
    assert texts, "the engine emitted no data-quality warning"
    return texts


def test_points_outside_the_territory_and_zones_in_french():
    zones = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100)], crs=2154)
    territory = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs=2154)
    points = gpd.GeoDataFrame(geometry=[Point(50, 50), Point(5000, 5000), Point(6000, 10)],
                              crs=2154)
    (text,) = _caught(assign_points, points, zones, territory=territory)
    assert french_warning(text) == (
        "Qualité des données : couche d'entrée : 2 points sur 3 hors du territoire et de "
        "toute zone ; ils ne sont pas comptés (vérifier le système de coordonnées ou "
        "filtrer la couche sur le territoire)")
    (text,) = _caught(assign_points, points.iloc[:2], zones)
    assert french_warning(text) == ("Qualité des données : couche d'entrée : 1 point sur 2 hors "
                                    "de toute zone, comptés dans aucune")


def test_equipment_without_coordinates_in_french():
    (text,) = _caught(io.read_bpe, DATA / "bpe21_ensemble_xy_extract.csv")
    out = french_warning(text)
    assert out.startswith("Qualité des données : bpe21_ensemble_xy_extract.csv : 1 équipement "
                          "sur 4 sans coordonnées écartés"), out
    assert UNTRANSLATED not in out


def test_partly_covered_target_in_french():
    iris = gpd.GeoDataFrame({"code_iris": ["624980101"], "pop": [100.0]},
                            geometry=[box(0, 0, 100, 100)], crs=2154)
    # the QPV reaches 300 m beyond the IRIS: a quarter of it is covered
    qpv = gpd.GeoDataFrame({"code_qpv": ["QN06224M"]},
                           geometry=[Polygon([(0, 0), (400, 0), (400, 100), (0, 100)])],
                           crs=2154)
    (text,) = _caught(interpolate, iris, qpv, extensive="pop")
    assert french_warning(text) == (
        "Qualité des données : 1 zone cible seulement en partie couverte(s) par les unités "
        "sources (ex. QN06224M (25\u202f%) de la surface) : leurs effectifs ne portent que sur "
        "cette partie (voir coverage_share) ; étendre la couche source (ex. IRIS des communes "
        "voisines)")


@pytest.mark.parametrize(("english", "french"), [
    # as the demo portrait records them (figures and names kept, thousands spaced)
    ("DataQualityWarning : illustratif_sirene_2023.csv: 247 establishment(s) out of 16414 "
     "without coordinates were dropped (missing, non-diffusible or unreadable X/Y)",
     "Qualité des données : illustratif_sirene_2023.csv : 247 établissements sur 16\u202f414 "
     "sans coordonnées écartés (coordonnées absentes, non diffusibles ou illisibles)"),
    ("DataQualityWarning : weights: 4373 of 50409 feature(s) have no value in column nb_logts; "
     "they carry no weight (counted as 0)",
     "Qualité des données : couche de pondération : 4\u202f373 objet(s) sur 50\u202f409 sans "
     "valeur dans la colonne nb_logts ; ils ne portent aucun poids dans la pondération"),
    ("DataQualityWarning : bpe: 4 sante equipment with TYPEQU codes not in the BPE 2023 table "
     "of qpvgeo (D265 (3), D2O1 (1)); they are not counted. Check the vintage (codes change "
     "between BPE vintages) or pass kinds={...} explicitly",
     "Qualité des données : bpe : 4 équipements de santé dont le code TYPEQU n'est pas dans la "
     "table BPE 2023 de qpvgeo (D265 (3), D2O1 (1)) ; ils ne sont pas comptés. Vérifier le "
     "millésime de la BPE (les codes changent d'un millésime à l'autre)"),
    ("DataQualityWarning : qp2015.shp: no INSEE commune code column (commune names are in "
     "COMMUNE_QP); insee_com is left missing. Join the QPV to read_communes(...) spatially, or "
     "pass columns={'insee_com': '<column>'}",
     "Qualité des données : qp2015.shp : pas de colonne de code commune INSEE (les noms de "
     "communes sont dans COMMUNE_QP) ; le code commune (insee_com) des QPV reste vide. Joindre "
     "les QPV aux communes par localisation, ou indiquer la colonne "
     "(columns={'insee_com': '<colonne>'})"),
    ("DataQualityWarning : ref.csv: 22 row(s) about 11 indicator(s) qpvgeo does not compute "
     "were left out (jobs, neet_share, … (3 more)); see attrs['qpvgeo']['dropped_indicators'], "
     "or add Indicator records (indicators=...)",
     "Qualité des données : ref.csv : 22 ligne(s) portant sur 11 indicateur(s) que qpvgeo ne "
     "calcule pas ont été laissées de côté (jobs, neet_share, … (3 autres))"),
    ("DataQualityWarning : ref.csv: line(s) 30, 41 have no vintage; their figures are kept but "
     "cannot be matched to a year",
     "Qualité des données : ref.csv : ligne(s) 30, 41 sans millésime ; leurs valeurs sont "
     "gardées mais ne peuvent être rattachées à une année"),
])
def test_known_messages(english, french):
    assert french_warning(english) == french


def test_french_messages_are_kept_and_unknown_ones_marked():
    already = ("DataQualityWarning : revenu_median: Filosofi : évolutions locales 2015–2020 à "
               "lire avec prudence")
    assert french_warning(already) == ("Qualité des données : revenu_median : Filosofi : "
                                       "évolutions locales 2015–2020 à lire avec prudence")
    odd = "UserWarning : something new happened"
    assert french_warning(odd) == f"Avertissement : something new happened {UNTRANSLATED}"
    assert french_warning("bare message") == f"bare message {UNTRANSLATED}"


def test_singular_and_plural_agree():
    one = french_warning("DataQualityWarning : bpe: 1 of 9 equipment lie outside every zone "
                         "and are not counted in any zone (pass territory= …)")
    assert "1 équipement sur 9" in one
    many = french_warning("DataQualityWarning : rpls: 12 of 90 dwellings lie outside every "
                          "zone and are not counted in any zone (pass territory= …)")
    assert "12 logements sur 90" in many


def test_repaired_geometries_in_french():
    from qpvgeo._validate import repair_geometries

    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    gdf = gpd.GeoDataFrame({"x": [1, 2]}, geometry=[bowtie, None], crs=2154)
    (text,) = _caught(repair_geometries, gdf, name="qpv.geojson")
    assert french_warning(text) == (
        "Qualité des données : qpv.geojson : 1 géométrie(s) invalide(s) réparée(s) (make_valid) "
        "; 1 géométrie(s) vide(s) ou absente(s) écartée(s)")


def test_command_line_shows_data_quality_warnings_in_french(tmp_path, capsys):
    from qpvgeo.cli import main

    iris = gpd.GeoDataFrame({"CODE_IRIS": ["624980101"], "NOM_IRIS": ["Centre"],
                             "TYP_IRIS": ["H"]}, geometry=[box(0, 0, 100, 100)], crs=2154)
    iris.to_file(tmp_path / "iris.gpkg")
    # the QPV reaches 300 m beyond the only IRIS: a quarter of it is covered
    qpv = gpd.GeoDataFrame({"code_qp": ["QN06224M"], "lib_qp": ["Cité test"],
                            "insee_com": ["62498"]}, geometry=[box(0, 0, 400, 100)], crs=2154)
    qpv.to_file(tmp_path / "qpv.gpkg")
    (tmp_path / "base.csv").write_text("IRIS;COM;P20_POP\n624980101;62498;100\n",
                                       encoding="utf-8")
    rc = main(["interpolate", "--iris", str(tmp_path / "iris.gpkg"), "--qpv",
               str(tmp_path / "qpv.gpkg"), "--table", str(tmp_path / "base.csv"),
               "--comptages", "P20_POP", "-o", str(tmp_path / "est.csv")])
    assert rc == 0
    err = capsys.readouterr().err
    assert ("qpvgeo : Qualité des données : 1 zone cible seulement en partie couverte(s) par "
            "les unités sources (ex. QN06224M (25\u202f%) de la surface)") in err
    assert "only partly covered" not in err
    # outside the command, Python's own display is back
    assert warnings.showwarning.__module__ == "warnings"

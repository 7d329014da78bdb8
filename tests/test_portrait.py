"""Tests of the main job (qpvgeo.portrait, qpvgeo.config, the portrait and init-config CLI).

Fixture territory, worked by hand (EPSG:2154, metres; X0 = 700 000, Y0 = 7 040 000):

    communes   62001 [X0, X0+2000] × [Y0, Y0+2000]     62002 [X0+2000, X0+4000] × same
    QPV        QN06201M [X0+500, X0+1000] × [Y0+500, Y0+1000]   (25 ha)
               QN06202M [X0+2500, X0+3000] × [Y0+500, Y0+900]   (20 ha)
    buildings  10 m squares every 50 m from (X0+20, Y0+20): 80 × 40 = 3 200
    raster     1 m classified, class = 1 + column // 1000 (4 vertical bands: faibles,
               moyennes, fortes, excessives in the CALL 4-class scheme)

QN06201M holds the buildings with x0, y0 in {520, 570, …, 970}: 10 × 10 = 100, all in band 1
(not strong) → strong share 0/100 = 0. QN06202M: x0 in {2520, …, 2970} (10) × y0 in
{520, …, 870} (8) = 80, all in band 3 ("fortes") → strong share 80/80 = 1. The territory
(the two communes) holds 3 200 buildings, 800 per band → strong share (800 + 800)/3 200 = 0.5.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from qpvgeo import portrait
from qpvgeo.cli import main
from qpvgeo.config import (
    CONFIG_TEMPLATE,
    OPTION_DEFAULTS,
    VINTAGE_DEFAULTS,
    PortraitConfig,
    load_config,
)
from qpvgeo.errors import DataQualityWarning, InputFileError, SchemaError
from qpvgeo.portrait import run_portrait

# rasterio 1.4 multiplies affine transforms with `*` (affine 3.x warns); not our code
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")

X0, Y0 = 700000.0, 7040000.0
EVIL = "<img src=x onerror=alert(1)>"


def _layers(tmp_path):
    com = gpd.GeoDataFrame(
        {"insee_com": ["62001", "62002"], "nom_com": ["Alpha", "Beta"]},
        geometry=[shapely.box(X0, Y0, X0 + 2000, Y0 + 2000),
                  shapely.box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000)], crs=2154)
    qpv = gpd.GeoDataFrame(
        {"code_qpv": ["QN06201M", "QN06202M"], "nom_qpv": [EVIL, "Cité B"]},
        geometry=[shapely.box(X0 + 500, Y0 + 500, X0 + 1000, Y0 + 1000),
                  shapely.box(X0 + 2500, Y0 + 500, X0 + 3000, Y0 + 900)], crs=2154)
    xs, ys = np.meshgrid(np.arange(X0 + 20, X0 + 4000, 50), np.arange(Y0 + 20, Y0 + 2000, 50))
    xs, ys = xs.ravel(), ys.ravel()
    bld = gpd.GeoDataFrame(
        {"building_id": [f"B{i}" for i in range(len(xs))], "usage1": "Résidentiel",
         "nb_logts": 2.0}, geometry=shapely.box(xs, ys, xs + 10, ys + 10), crs=2154)
    arr = np.repeat(np.repeat(np.arange(1, 5, dtype=np.uint8), 1000)[None, :], 2000, axis=0)
    raster = tmp_path / "thermo.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=4000, height=2000, count=1,
                       dtype="uint8", crs="EPSG:2154", nodata=255,
                       transform=from_origin(X0, Y0 + 2000, 1, 1)) as dst:
        dst.write(arr, 1)
    return {"qpv": qpv, "communes": com, "batiments": bld, "thermographie": raster}


@pytest.fixture(scope="module")
def territory(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("terr")
    layers = _layers(tmp)
    cfg = PortraitConfig(name="Territoire test", siren_epci=None, files={}, layers=layers,
                         vintages=dict(VINTAGE_DEFAULTS),
                         options=dict(OPTION_DEFAULTS, npnru=["QN06201M"]))
    return tmp, cfg


@pytest.fixture(scope="module")
def result(territory):
    tmp, cfg = territory
    return run_portrait(cfg, tmp / "out", offline=True)


def test_outputs_written(result):
    out = result.out_dir
    for f in ("carte.html", "rapport.html", "portrait.gpkg", "indicateurs.csv",
              "indicateurs.xlsx", "resume.json", portrait.MARKER):
        assert (out / f).is_file(), f
    assert (out / "graphiques" / "deperditions_classes.svg").is_file()
    assert (out / "assets" / "leaflet" / "leaflet.js").is_file()
    summary = json.loads((out / "resume.json").read_text(encoding="utf-8"))
    assert "Carte web" in summary["durees_s"]
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_heat_loss_numbers_hand_worked_and_equal_to_library(result, territory):
    from qpvgeo.thermography import DEFAULT_SCHEME, building_heat_loss, heat_loss_shares

    t = result.tables["deperditions"].set_index("code_qpv")
    assert t.loc["QN06201M", "buildings_count"] == 10 * 10
    assert t.loc["QN06201M", "heatloss_strong_share"] == 0 / 100
    assert t.loc["QN06202M", "buildings_count"] == 10 * 8
    assert t.loc["QN06202M", "heatloss_strong_share"] == 80 / 80
    # all QPV together (their union, one zone): (0 + 80) strong of 100 + 80 buildings
    assert t.loc["ensemble_qpv", "buildings_count"] == 100 + 80
    assert t.loc["ensemble_qpv", "heatloss_strong_share"] == pytest.approx(80 / 180)
    assert t.loc["territoire", "buildings_count"] == 80 * 40
    assert t.loc["territoire", "heatloss_strong_share"] == pytest.approx((800 + 800) / 3200)
    # the same numbers as the library called directly
    _, cfg = territory
    b = building_heat_loss(cfg.layers["thermographie"], cfg.layers["batiments"],
                           scheme=DEFAULT_SCHEME)
    ref = heat_loss_shares(b, cfg.layers["qpv"])
    for i, code in zip(ref.index, cfg.layers["qpv"]["code_qpv"], strict=True):
        assert t.loc[code, "heatloss_strong_share"] == ref.loc[i, "heatloss_strong_share"]
        assert t.loc[code, "buildings_classified"] == ref.loc[i, "buildings_classified"]


def test_csv_and_xlsx_carry_the_numbers_and_provenance(result):
    from openpyxl import load_workbook

    out = result.out_dir
    long = pd.read_csv(out / "indicateurs.csv", sep=";", dtype={"code_zone": str})
    row = long.loc[(long["table"] == "deperditions") & (long["code_zone"] == "QN06202M")
                   & (long["indicateur"] == "heatloss_strong_share")]
    assert row["valeur"].tolist() == [1.0]
    assert row["unite"].tolist() == ["share"]
    assert row["source"].notna().all()
    assert row["methode"].notna().all()
    assert set(long["nom_zone"].dropna()) >= {EVIL, "Cité B", "Territoire test"}
    wb = load_workbook(out / "indicateurs.xlsx")
    assert {"indicateurs", "deperditions", "provenance"} <= set(wb.sheetnames)
    prov = list(wb["provenance"].iter_rows(values_only=True))
    assert prov[0][:6] == ("table", "titre", "section", "source", "millesime", "methode")
    assert "deperditions" in [r[0] for r in prov[1:]]


def test_geopackage_layers_and_embedded_styles(result):
    path = result.out_dir / "portrait.gpkg"
    import pyogrio

    names = {n for n, _ in pyogrio.list_layers(path)}
    assert {"qpv", "batiments", "territoire"} <= names
    qpv = gpd.read_file(path, layer="qpv")
    assert qpv.crs.to_epsg() == 2154
    assert set(qpv["code_qpv"]) == {"QN06201M", "QN06202M"}
    assert "heatloss_strong_share" in qpv.columns
    assert "area_ha" in qpv.columns
    assert EVIL in set(qpv["nom_qpv"])
    b = gpd.read_file(path, layer="batiments")
    assert len(b) == 3200
    assert "heatloss_label" in b.columns
    con = sqlite3.connect(path)
    rows = con.execute("SELECT f_table_name, f_geometry_column, useAsDefault, styleQML "
                       "FROM layer_styles").fetchall()
    contents = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = "
                           "'layer_styles'").fetchall()
    con.close()
    assert contents == [("attributes",)]
    by_layer = {r[0]: r for r in rows}
    assert {"qpv", "batiments", "territoire"} <= set(by_layer)
    assert all(r[2] == 1 for r in rows)
    root = ET.fromstring(by_layer["batiments"][3].split("\n", 1)[1])
    rend = root.find("renderer-v2")
    assert rend.get("type") == "categorizedSymbol"
    assert rend.get("attr") == "heatloss_label"
    from qpvgeo.thermography import DEFAULT_SCHEME

    values = [c.get("value") for c in rend.iter("category")]
    assert values[:len(DEFAULT_SCHEME.classes)] == [c.label for c in DEFAULT_SCHEME.classes]
    colours = [o.get("value") for o in rend.iter("Option") if o.get("name") == "color"]
    r, g, b_ = (int(DEFAULT_SCHEME.classes[-1].colour[i:i + 2], 16) for i in (1, 3, 5))
    assert colours[len(DEFAULT_SCHEME.classes) - 1] == f"{r},{g},{b_},255"
    qroot = ET.fromstring(by_layer["qpv"][3].split("\n", 1)[1])
    assert qroot.find("renderer-v2").get("attr") == "heatloss_strong_share"


def test_report_escapes_and_marks_sections(result):
    page = (result.out_dir / "rapport.html").read_text(encoding="utf-8")
    assert EVIL not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Logement et énergie" in page
    assert "Source :" in page
    assert "millésime" in page
    assert "Section non calculée" in page  # absent layers give notes, not a crash
    assert "Bâtiments subissant d&#39;importantes pertes thermiques" in page
    assert "QPV retenus au titre du NPNRU" in page
    assert "Données illustratives" not in page  # no illustrative input here


def test_map_escapes_names(result):
    page = (result.out_dir / "carte.html").read_text(encoding="utf-8")
    assert EVIL not in page
    assert "QPV du NPNRU" in page


def test_rerun_gives_same_numbers(result, territory, tmp_path):
    _, cfg = territory
    again = run_portrait(cfg, tmp_path / "again", offline=True)
    a = (result.out_dir / "indicateurs.csv").read_bytes()
    b = (again.out_dir / "indicateurs.csv").read_bytes()
    assert a == b
    assert (result.out_dir / "carte.html").read_bytes() == \
        (again.out_dir / "carte.html").read_bytes()


def test_failure_mid_run_leaves_previous_output_intact(territory, tmp_path, monkeypatch):
    _, cfg = territory
    out = tmp_path / "portrait"
    run_portrait(cfg, out)
    # the folder is staged under a private temporary name, but ends readable as any folder
    # the user creates (0777 minus the umask), like the files in it
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((out / "rapport.html").stat().st_mode) == 0o666 & ~umask
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("arrêt simulé pendant l'écriture du rapport")

    monkeypatch.setattr(portrait, "_write_report", boom)
    with pytest.raises(RuntimeError, match="arrêt simulé"):
        run_portrait(cfg, out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["portrait"]


def test_refuses_to_replace_a_foreign_folder(territory, tmp_path):
    _, cfg = territory
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "lettre.txt").write_text("important")
    with pytest.raises(InputFileError, match="not written by qpvgeo"):
        run_portrait(cfg, foreign)
    assert (foreign / "lettre.txt").read_text() == "important"


def test_missing_optional_layers_are_notes(territory, tmp_path):
    _, cfg = territory
    only_qpv = PortraitConfig(name="Seul", siren_epci=None, files={},
                              layers={"qpv": cfg.layers["qpv"]})
    res = run_portrait(only_qpv, tmp_path / "o")
    notes = " ".join(n for ns in res.notes.values() for n in ns)
    assert "thermographie" in notes
    assert "RPLS" in notes
    assert "BPE" in notes
    assert (res.out_dir / "rapport.html").is_file()
    assert "deperditions" not in res.tables


# --- configuration -------------------------------------------------------------------------

def test_config_relative_paths_and_errors(tmp_path):
    (tmp_path / "donnees").mkdir()
    gpd.GeoDataFrame({"code_qpv": ["QN06201M"], "nom_qpv": ["A"]},
                     geometry=[shapely.box(0, 0, 1, 1)], crs=2154).to_file(
        tmp_path / "donnees" / "qpv.gpkg")
    cfg_path = tmp_path / "territoire.toml"
    cfg_path.write_text('[territoire]\nnom = "T"\nsiren_epci = "246200364"\n'
                        '[fichiers]\nqpv = "donnees/qpv.gpkg"\n'
                        '[options]\nmarche_minutes = 10\nnpnru = ["QN06201M"]\n',
                        encoding="utf-8")
    cfg = load_config(cfg_path)
    assert cfg.files["qpv"] == (tmp_path / "donnees" / "qpv.gpkg").resolve()
    assert cfg.options["marche_minutes"] == 10.0
    assert cfg.options["npnru"] == ["QN06201M"]
    assert cfg.missing()[0] == "qpv_2015"
    cfg_path.write_text('[fichiers]\nqpv = "donnees/qpv.gpkg"\nbatiment = "x.shp"\n')
    with pytest.raises(SchemaError, match="batiment"):
        load_config(cfg_path)
    cfg_path.write_text('[fichiers]\nqpv = "donnees/absent.gpkg"\n')
    with pytest.raises(InputFileError, match=r"absent\.gpkg"):
        load_config(cfg_path)
    cfg_path.write_text('[territoire]\nsiren_epci = 246200364\n[fichiers]\n'
                        'qpv = "donnees/qpv.gpkg"\n')
    with pytest.raises(SchemaError, match="siren_epci"):
        load_config(cfg_path)
    cfg_path.write_text('[fichiers\nqpv = "x"')
    with pytest.raises(InputFileError, match="TOML"):
        load_config(cfg_path)


def test_init_config_cli(tmp_path, capsys):
    import tomllib

    target = tmp_path / "territoire.toml"
    assert main(["init-config", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert set(data) == {"territoire", "fichiers", "millesimes", "options"}
    assert text.startswith("# Configuration du portrait de territoire")
    assert CONFIG_TEMPLATE.format(filename="territoire.toml") == text
    assert main(["init-config", str(target)]) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err


def test_portrait_cli_with_config(tmp_path, capsys):
    layers = _layers(tmp_path)
    layers["qpv"].to_file(tmp_path / "qpv.gpkg")
    layers["communes"].to_file(tmp_path / "communes.gpkg")
    (tmp_path / "t.toml").write_text(
        '[territoire]\nnom = "Test CLI"\n[fichiers]\nqpv = "qpv.gpkg"\n'
        'communes = "communes.gpkg"\n', encoding="utf-8")
    code = main(["portrait", "--config", str(tmp_path / "t.toml"), "--out",
                 str(tmp_path / "sortie")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Portrait écrit dans" in printed
    assert "Durées par étape" in printed
    assert (tmp_path / "sortie" / "rapport.html").is_file()


# --- census, estimates and gap evolution on the fixture territory ---------------------------
#
# IRIS (EPSG:2154): 620010101 = [X0, X0+1000] × [Y0, Y0+2000] (left half of commune 62001),
# 620010102 = [X0+1000, X0+2000] × same, 620020101 = commune 62002 whole. Buildings are uniform
# (2 dwellings each): QPV A (QN06201M) holds 100 of the 20 × 40 = 800 buildings of IRIS
# 620010101 (1/8 of its dwellings); QPV B (QN06202M) 80 of the 1 600 of IRIS 620020101.
#
#   IRIS        P20_POP P20_POP1564 P20_ACTOCC1564 | P15_POP P15_POP1564 P15_ACTOCC1564
#   620010101   1600    800         440            | 1500    800         320
#   620010102   1000    500         300            | 1000    500         250
#   620020101   4000    2000        1200           | 3800    2000        1000
#
# Official QPV table 2020 (B only): P20_POP 250, P20_POP1564 150, P20_ACTOCC1564 60.
# A is estimated: population 1600/8 = 200, employment rate (440/8)/(800/8) = 0.55.
# B is official: 250 and 60/150 = 0.4. Territory: 6 600 and (440+300+1200)/3300 = 1940/3300.
# 2015 (QPV 2015 = same outlines, codes QP062001/QP062002, no official table): A 320/800 = 0.4,
# B 1000/2000 = 0.5, territory 1570/3300. Gaps: A |0.4 − 1570/3300| = 250/3300 → |0.55 −
# 1940/3300| = 125/3300 (narrowed, improved); B 80/3300 → 620/3300 (widened, worsened).

IRIS_CODES = ["620010101", "620010102", "620020101"]


def _census_layers(layers):
    iris = gpd.GeoDataFrame(
        {"code_iris": IRIS_CODES, "nom_iris": ["Ouest", "Est", "Beta"],
         "insee_com": ["62001", "62001", "62002"]},
        geometry=[shapely.box(X0, Y0, X0 + 1000, Y0 + 2000),
                  shapely.box(X0 + 1000, Y0, X0 + 2000, Y0 + 2000),
                  shapely.box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000)], crs=2154)
    t1 = pd.DataFrame({"code_iris": IRIS_CODES, "P20_POP": [1600.0, 1000.0, 4000.0],
                       "P20_POP1564": [800.0, 500.0, 2000.0],
                       "P20_ACTOCC1564": [440.0, 300.0, 1200.0]})
    t0 = pd.DataFrame({"code_iris": IRIS_CODES, "P15_POP": [1500.0, 1000.0, 3800.0],
                       "P15_POP1564": [800.0, 500.0, 2000.0],
                       "P15_ACTOCC1564": [320.0, 250.0, 1000.0]})
    official = pd.DataFrame({"code_qpv": ["QN06202M"], "P20_POP": [250.0],
                             "P20_POP1564": [150.0], "P20_ACTOCC1564": [60.0]})
    q15 = layers["qpv"].assign(code_qpv=["QP062001", "QP062002"])
    return {**layers, "iris": iris, "insee_iris": t1, "insee_iris_t0": t0,
            "insee_qpv": official, "qpv_2015": q15}


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("census")
    layers = _census_layers(_layers(tmp))
    cfg = PortraitConfig(name="Territoire test", siren_epci=None, files={}, layers=layers,
                         vintages=dict(VINTAGE_DEFAULTS), options=dict(OPTION_DEFAULTS))
    return cfg, run_portrait(cfg, tmp / "out", offline=True)


def test_census_official_first_estimates_elsewhere(census):
    _, res = census
    t = res.tables["population"].set_index("code_qpv")
    assert t.loc["QN06201M", "population"] == pytest.approx(1600 / 8)
    assert t.loc["QN06201M", "taux_emploi_1564"] == pytest.approx((440 / 8) / (800 / 8))
    assert t.loc["QN06201M", "taux_emploi_1564_origin"] == "estimation IRIS"
    assert bool(t.loc["QN06201M", "is_estimate"])
    assert t.loc["QN06201M", "share_estimated"] == pytest.approx(1.0)  # IRIS cut by the QPV
    assert t.loc["QN06202M", "population"] == 250
    assert t.loc["QN06202M", "taux_emploi_1564"] == pytest.approx(60 / 150)
    assert t.loc["QN06202M", "taux_emploi_1564_origin"] == "officiel QPV"
    assert not bool(t.loc["QN06202M", "is_estimate"])
    assert t.loc["territoire", "population"] == 1600 + 1000 + 4000
    assert t.loc["territoire", "taux_emploi_1564"] == pytest.approx(1940 / 3300)
    # the same numbers as the library called directly
    from qpvgeo.indicators import zone_indicators
    from qpvgeo.interpolation import interpolate

    cfg, _ = census
    lay = cfg.layers
    est = interpolate(lay["iris"][["code_iris", "geometry"]], lay["qpv"],
                      extensive=["P20_POP", "P20_POP1564", "P20_ACTOCC1564"],
                      values=lay["insee_iris"], weights=lay["batiments"], weight_col="nb_logts")
    ref = zone_indicators(lay["qpv"], vintage={"rp": 2020, "filosofi": 2020},
                          official=[lay["insee_qpv"]], estimates=est)
    for code, value in zip(ref["code_qpv"], ref["taux_emploi_1564"], strict=True):
        assert t.loc[code, "taux_emploi_1564"] == pytest.approx(value, rel=1e-12)


def test_report_marks_estimated_cells_only(census):
    _, res = census
    page = (res.out_dir / "rapport.html").read_text(encoding="utf-8")
    # A's population and employment rate are estimates; B's official figures are not marked
    assert page.count("<sup>e</sup>") == 2
    assert "valeur estimée à partir des IRIS (1 valeur)" in page


def test_concerned_iris_and_their_total(census):
    _, res = census
    t = res.tables["iris_concernes"].set_index("code_iris")
    assert list(t.index) == ["620010101", "620020101", "ensemble_iris", "territoire"]
    assert t.loc["ensemble_iris", "taux_emploi_1564"] == pytest.approx((440 + 1200)
                                                                      / (800 + 2000))


def test_gap_evolution_by_hand(census):
    _, res = census
    d = res.tables["evolution_qpv_detail"]
    d = d.loc[d["indicator"] == "taux_emploi_1564"].set_index("code_qpv")
    a, b = d.loc["QN06201M"], d.loc["QN06202M"]
    assert a["value_t0"] == pytest.approx(0.4)
    assert a["value_t1"] == pytest.approx(0.55)
    assert a["gap_change"] == pytest.approx(125 / 3300 - 250 / 3300)
    assert (a["situation"], a["gap_trend"]) == ("amélioration", "écart réduit")
    assert b["value_t0"] == pytest.approx(0.5)
    assert b["value_t1"] == pytest.approx(0.4)
    assert b["gap_change"] == pytest.approx(620 / 3300 - 80 / 3300)
    assert (b["situation"], b["gap_trend"]) == ("dégradation", "écart accru")
    s = res.tables["evolution_qpv"].set_index("indicator").loc["taux_emploi_1564"]
    assert (s["n_gap_widened"], s["n_gap_narrowed"]) == (1, 1)
    p = res.tables["passage_qpv"]
    assert set(zip(p["code_qpv_2015"], p["code_qpv"], strict=True)) == {
        ("QP062001", "QN06201M"), ("QP062002", "QN06202M")}
    assert p["allocation"].tolist() == pytest.approx([1.0, 1.0])
    iris = res.tables["evolution_iris_detail"]
    iris = iris.loc[iris["indicator"] == "taux_emploi_1564"].set_index("code_iris")
    assert iris.loc["620020101", "value_t0"] == pytest.approx(1000 / 2000)
    assert iris.loc["620020101", "value_t1"] == pytest.approx(1200 / 2000)
    assert (res.out_dir / "graphiques" / "evolution_qpv_taux_emploi_1564.png").is_file()


def test_census_files_given_as_a_list_are_joined(tmp_path):
    (tmp_path / "a.csv").write_text("IRIS;COM;P20_POP\n620010101;62001;1600\n"
                                    "620010102;62001;s\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("IRIS;P20_POP;P20_POP1564\n620010101;1600;800\n"
                                    "620020101;4000;2000\n", encoding="utf-8")
    from qpvgeo.io import read_insee_table

    a, b = (read_insee_table(tmp_path / n, "iris") for n in ("a.csv", "b.csv"))
    m = portrait.merge_insee_tables([a, b], "code_iris").set_index("code_iris")
    assert list(m.index) == IRIS_CODES
    assert m.loc["620020101", "P20_POP"] == 4000  # only in the second table
    assert np.isnan(m.loc["620010102", "P20_POP"])  # secret stays missing
    assert "P20_POP" in m.loc["620010102", "secret_vars"]
    assert np.isnan(m.loc["620010102", "P20_POP1564"])  # absent from b: missing, not 0
    b.loc[0, "P20_POP"] = 1601.0
    with pytest.warns(DataQualityWarning, match="P20_POP"):
        portrait.merge_insee_tables([a, b], "code_iris")
    layers = _layers(tmp_path)
    layers["qpv"].to_file(tmp_path / "qpv.gpkg")
    (tmp_path / "t.toml").write_text('[fichiers]\nqpv = "qpv.gpkg"\n'
                                     'insee_iris = ["a.csv", "b.csv"]\n', encoding="utf-8")
    cfg = load_config(tmp_path / "t.toml")
    assert cfg.paths("insee_iris") == [tmp_path / "a.csv", tmp_path / "b.csv"]
    (tmp_path / "t.toml").write_text('[fichiers]\nqpv = ["qpv.gpkg"]\n', encoding="utf-8")
    with pytest.raises(SchemaError, match="not a list"):
        load_config(tmp_path / "t.toml")


def test_territory_keeps_straddling_qpv_and_npnru_field(territory, tmp_path):
    _, cfg = territory
    qpv = cfg.layers["qpv"]
    # C straddles the territory's east edge (X0+4000): 300 × 200 m, 100 m inside → 1/3;
    # D lies 20 m inside over 1 000 m → 20/1000 = 2 % < MIN_TERRITORY_SHARE: a neighbour's
    extra = gpd.GeoDataFrame(
        {"code_qpv": ["QN06203M", "QN06204M"], "nom_qpv": ["C", "D"]},
        geometry=[shapely.box(X0 + 3900, Y0 + 100, X0 + 4200, Y0 + 300),
                  shapely.box(X0 + 3980, Y0 + 1000, X0 + 4980, Y0 + 1200)], crs=2154)
    layer = pd.concat([qpv, extra], ignore_index=True).assign(npnru=["0", "oui", "1", "0"])
    small = PortraitConfig(name="T", siren_epci=None, files={},
                           layers={"qpv": gpd.GeoDataFrame(layer, crs=2154),
                                   "communes": cfg.layers["communes"]},
                           options=dict(OPTION_DEFAULTS, champ_npnru="npnru"))
    res = run_portrait(small, tmp_path / "o")
    t = res.tables["qpv"].set_index("code_qpv")
    assert list(t.index) == ["QN06201M", "QN06202M", "QN06203M", "territoire"]
    assert t.loc["QN06203M", "territory_share"] == pytest.approx(100 / 300)
    assert set(res.tables["npnru"]["code_qpv"]) == {"QN06202M", "QN06203M"}


# --- the demo territory, end to end (illustrative CALL stand-ins) ---------------------------

def demo_output(tmp_path_factory) -> Path:
    """The offline portrait of the demo territory, written once per test session."""
    out = tmp_path_factory.getbasetemp() / "demo-portrait"
    if not (out / portrait.MARKER).exists():
        run_portrait(None, out, offline=True)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import warnings

    from qpvgeo.config import demo_config
    from qpvgeo.datasets import load_demo

    out = demo_output(tmp_path_factory)
    cfg = demo_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # known demo facts, listed in the run's summary
        layers = load_demo(["qpv", "iris", "epci", "buildings", "rpls", "sirene_2017",
                            "sirene_2023", *(f"{b}_2020" for b in
                                             ("pop", "activite", "diplomes", "logement",
                                              "familles", "filosofi")),
                            "qpv_indicators_2020"])
    sheets = pd.read_excel(out / "indicateurs.xlsx", sheet_name=None,
                           dtype={"code_qpv": str, "code_zone": str})
    return out, cfg, layers, sheets


def _library_zones(layers):
    """The demo's QPV of the CALL and the territory polygon, as the portrait selects them."""
    epci = layers["epci"]
    terr = epci.loc[epci["siren_epci"] == "246200364"].geometry.union_all()
    qpv = layers["qpv"]
    share = qpv.geometry.intersection(terr).area / qpv.geometry.area
    keep = (share >= portrait.MIN_TERRITORY_SHARE) | qpv["siren_epci"].astype(str).str.contains(
        "246200364")
    return qpv.loc[keep.to_numpy()].sort_values("code_qpv"), terr


@pytest.mark.slow
def test_demo_every_table_has_every_qpv_and_the_territory(demo):
    out, _, layers, sheets = demo
    qpv, _ = _library_zones(layers)
    codes = set(qpv["code_qpv"])
    assert len(codes) == 22  # 3 of them straddle a neighbouring EPCI
    for name in ("population", "deperditions", "logement_social", "qualite_logement", "sante",
                 "economie"):
        got = sheets[name]["code_qpv"].astype(str)
        # the QPV aggregate of census figures is in the summary table ("portrait")
        extra = {"territoire"} if name == "population" else {"ensemble_qpv", "territoire"}
        assert set(got) == codes | extra, name
        assert got.is_unique, name
    npnru = set(qpv.loc[qpv["npnru"] == 1, "code_qpv"])
    assert set(sheets["npnru"]["code_qpv"]) == npnru
    summary = json.loads((out / "resume.json").read_text(encoding="utf-8"))
    assert summary["donnees_illustratives"] is True
    assert {"Recensement et revenus", "Évolution des écarts", "Carte web"} <= set(
        summary["durees_s"])
    # the data-quality warnings of the run are listed in French, none left untranslated
    assert summary["avertissements"]
    for w in summary["avertissements"]:
        assert w.startswith("Qualité des données : "), w
        assert "non traduit" not in w, w
    assert any("hors du territoire et de toute zone" in w for w in summary["avertissements"])
    long = pd.read_csv(out / "indicateurs.csv", sep=";", dtype={"code_zone": str})
    assert long["donnees_illustratives"].all()
    for col in ("source", "millesime", "methode", "unite"):
        assert long[col].notna().all(), col
    assert long["estimation"].any()
    assert not long["estimation"].all()
    missing = long.loc[long["valeur"].isna()]
    assert len(missing)  # e.g. the secret Filosofi cells of QN06216M
    assert missing["motif_valeur_manquante"].notna().all()
    page = (out / "rapport.html").read_text(encoding="utf-8")
    assert "Données illustratives" in page
    for section in ("population", "education", "logement", "sante", "economie", "npnru",
                    "evolution"):
        assert f'<section id="{section}">' in page, section
    svg = next((out / "graphiques").glob("*.svg")).read_text(encoding="utf-8")
    assert "DONNÉES ILLUSTRATIVES" in svg


@pytest.mark.slow
def test_demo_numbers_equal_the_library(demo):
    import warnings

    from qpvgeo.economy import economic_activity
    from qpvgeo.housing import social_housing
    from qpvgeo.indicators import zone_indicators
    from qpvgeo.interpolation import interpolate
    from qpvgeo.thermography import DEFAULT_SCHEME, building_heat_loss, heat_loss_shares

    _, cfg, layers, sheets = demo
    qpv, _ = _library_zones(layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = portrait.merge_insee_tables(
            [layers[f"{b}_2020"] for b in ("pop", "activite", "diplomes", "logement",
                                           "familles", "filosofi")], "code_iris")
        counts = [c for c in table.columns if c.startswith(("P20_", "C20_"))]
        disp = [c for c in table.columns if c.startswith("DISP_")]
        est = interpolate(layers["iris"][["code_iris", "geometry"]], qpv, extensive=counts,
                          intensive=disp, values=table, weights=layers["buildings"],
                          weight_col="nb_logts")
        ref = zone_indicators(qpv, vintage={"rp": 2020, "filosofi": 2020},
                              official=[layers["qpv_indicators_2020"]], estimates=est)
        b = building_heat_loss(cfg.files["thermographie"], layers["buildings"],
                               scheme=DEFAULT_SCHEME)
        heat = heat_loss_shares(b, qpv)
        rpls = social_housing(layers["rpls"], qpv, duplicates="drop")
        eco = economic_activity(layers["sirene_2017"], layers["sirene_2023"], qpv, year0=2017,
                                year1=2023, duplicates="drop")
    codes = qpv["code_qpv"].to_numpy()
    pop = sheets["population"].set_index("code_qpv")
    for col in ("population", "taux_emploi_1564", "part_sans_diplome", "taux_pauvrete"):
        np.testing.assert_allclose(pop.loc[codes, col].to_numpy(dtype=float),
                                   ref[col].to_numpy(dtype=float), rtol=1e-9, err_msg=col)
    dep = sheets["deperditions"].set_index("code_qpv")
    np.testing.assert_allclose(dep.loc[codes, "heatloss_strong_share"].to_numpy(dtype=float),
                               heat["heatloss_strong_share"].to_numpy(dtype=float), rtol=1e-12)
    soc = sheets["logement_social"].set_index("code_qpv")
    np.testing.assert_array_equal(soc.loc[codes, "rpls_count"].to_numpy(dtype=float),
                                  rpls["rpls_count"].to_numpy(dtype=float))
    ec = sheets["economie"].set_index("code_qpv")
    shared = [c for c in eco.columns if c in ec.columns and c.startswith(("estab_", "creations_"))
              and pd.api.types.is_numeric_dtype(eco[c]) and "per_inhab" not in c]
    assert shared
    for col in shared:
        np.testing.assert_allclose(ec.loc[codes, col].to_numpy(dtype=float),
                                   eco[col].to_numpy(dtype=float), rtol=1e-12, err_msg=col)


# --- the GeoPackage in real QGIS (marker qgis: run with .venv-qgis, make test-qgis) ----------

_QGIS_SCRIPT = r'''
import json, sys
from qgis.core import (QgsApplication, QgsMapRendererParallelJob, QgsMapSettings, QgsProject,
                       QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
out, layers = {}, []
for name in sys.argv[2:]:
    lyr = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    r = lyr.renderer()
    info = {"valid": lyr.isValid(), "n": lyr.featureCount(), "renderer": r.type(),
            "attr": r.classAttribute() if hasattr(r, "classAttribute") else None}
    if r.type() == "categorizedSymbol":
        info["categories"] = [[c.value(), c.label(), c.symbol().color().name()]
                              for c in r.categories()]
    if r.type() == "graduatedSymbol":
        info["ranges"] = [[x.upperValue(), x.label(), x.symbol().color().name()]
                          for x in r.ranges()]
    out[name] = info
    layers.append(lyr)
QgsProject.instance().addMapLayers(layers)
ms = QgsMapSettings()
ms.setLayers([layers[1], layers[0]])
ms.setDestinationCrs(layers[0].crs())
ms.setBackgroundColor(QColor("white"))
ms.setExtent(layers[1].extent())
ms.setOutputSize(QSize(800, 400))
ms.setFlag(QgsMapSettings.Antialiasing, False)
job = QgsMapRendererParallelJob(ms)
job.start()
job.waitForFinished()
img = job.renderedImage()
colours = {}
for x in range(0, img.width(), 3):
    for y in range(0, img.height(), 3):
        c = QColor(img.pixel(x, y)).name()
        colours[c] = colours.get(c, 0) + 1
out["pixels"] = colours
QgsProject.instance().removeAllMapLayers()
del layers, lyr, r, job, ms, img
print(json.dumps(out))
app.exitQgis()
'''


@pytest.mark.qgis
def test_geopackage_opens_styled_in_qgis(census):
    """QGIS opens each layer with its embedded default style and draws the class colours."""
    import os
    import subprocess
    import sys

    try:
        import qgis.core  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"PyQGIS introuvable : {exc} (lancer avec .venv-qgis : make test-qgis)")
    from qpvgeo.maps import class_breaks, palette
    from qpvgeo.thermography import DEFAULT_SCHEME

    _, result = census
    names = ["qpv", "batiments", "iris_qpv", "territoire"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", _QGIS_SCRIPT,
                           str(result.out_dir / "portrait.gpkg"), *names],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(info[n]["valid"] for n in names)
    assert (info["qpv"]["n"], info["batiments"]["n"]) == (2, 3200)
    q = info["qpv"]
    assert (q["renderer"], q["attr"]) == ("graduatedSymbol", "heatloss_strong_share")
    # the web map's classes and colours: strong shares 0 and 1 → two classes
    _, breaks = class_breaks(result.tables["deperditions"]["heatloss_strong_share"].iloc[:2])
    assert [r[0] for r in q["ranges"]] == pytest.approx(breaks)
    assert [r[2] for r in q["ranges"]] == [c.lower() for c in palette(len(breaks))]
    assert q["ranges"][0][1] == "0,0\u202f% – 0,0\u202f%"  # French labels, shares in %
    b = info["batiments"]
    assert (b["renderer"], b["attr"]) == ("categorizedSymbol", "heatloss_label")
    cats = {c[0]: c[2] for c in b["categories"]}
    for cls in DEFAULT_SCHEME.classes:
        assert cats[cls.label] == cls.colour.lower()
    assert info["iris_qpv"]["renderer"] == info["territoire"]["renderer"] == "singleSymbol"
    # drawn: the fixture's buildings are in 4 vertical bands, one per class colour
    pixels = info["pixels"]
    for cls in DEFAULT_SCHEME.classes:
        assert pixels.get(cls.colour.lower(), 0) > 0, cls.label


# --- territory figures that do not add up: the EPCI's own Filosofi figures --------------------

def _official_ctx(layers: dict) -> portrait.Context:
    cfg = PortraitConfig(name="T", siren_epci="246200364", files={}, layers={})
    ctx = portrait.Context(config=cfg)
    ctx.layers.update(layers)
    ctx.layers["territoire"] = gpd.GeoDataFrame(
        {"code": ["territoire"], "nom": ["T"]},
        geometry=[shapely.box(X0, Y0, X0 + 4000, Y0 + 2000)], crs=2154)
    return ctx


def test_territory_median_and_poverty_from_the_epci_row():
    epci = pd.DataFrame({"siren_epci": ["200072460", "246200364"],
                         "MED20": [19000.0, 17020.0], "TP6020": [20.0, 36.1],
                         "NBPERSMENFISC20": [1000.0, 242000.0], "source": "illustratif"})
    row, how = portrait._territory_official(_official_ctx({"insee_epci": epci}))
    assert row["MED20"].tolist() == [17020.0]  # the configured EPCI's row, not the other
    assert "246200364" in how
    from qpvgeo.indicators import territory_indicators

    t = territory_indicators(pd.DataFrame({"P20_POP": [1.0]}), vintage=2020, official=row)
    assert t["revenu_median"].iloc[0] == 17020
    assert t["taux_pauvrete"].iloc[0] == pytest.approx(0.361)
    assert t["revenu_median_origin"].iloc[0] == "officiel"


def test_territory_poverty_rate_weighted_from_its_communes():
    # 62001: 30 % of 1 000 persons, 62002: 50 % of 3 000 → (300 + 1 500) / 4 000 = 45 %;
    # a commune of another territory (62999) is left out; a median cannot be combined
    com = pd.DataFrame({"insee_com": ["62001", "62002", "62999"],
                        "TP6020": [30.0, 50.0, 90.0], "NBPERSMENFISC20": [1000.0, 3000.0, 5.0],
                        "MED20": [18000.0, 15000.0, 9000.0]})
    communes = _layers_communes()
    row, how = portrait._territory_official(_official_ctx({"insee_commune": com,
                                                          "communes": communes}))
    assert row["TP6020"].iloc[0] == pytest.approx((0.30 * 1000 + 0.50 * 3000) / 4000 * 100)
    assert row["NBPERSMENFISC20"].iloc[0] == 4000
    assert "MED20" not in row.columns
    assert "2 communes" in how
    # one commune missing its rate: no territory figure rather than a partial one
    com.loc[1, "TP6020"] = np.nan
    row, _ = portrait._territory_official(_official_ctx({"insee_commune": com,
                                                        "communes": communes}))
    assert row is None


def _layers_communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"insee_com": ["62001", "62002"], "nom_com": ["Alpha", "Beta"]},
        geometry=[shapely.box(X0, Y0, X0 + 2000, Y0 + 2000),
                  shapely.box(X0 + 2000, Y0, X0 + 4000, Y0 + 2000)], crs=2154)


_CODE_WORD = r"\b[a-z]+(?:_[a-z0-9]+)+\b"  # machine codes such as no_mode_column
_DEV_WORDS = ("official=", "territory_indicators", "ensemble_qpv", "NBPERSMENFISC",
              "(niveau ", "not_given")


def _plain_french(texts: pd.Series) -> list[str]:
    """Texts holding a machine code or developer wording."""
    texts = texts.dropna().astype(str)
    bad = texts.str.contains(_CODE_WORD, regex=True)
    for w in _DEV_WORDS:
        bad |= texts.str.contains(w, regex=False)
    return sorted(set(texts[bad]))


@pytest.mark.slow
def test_demo_territory_filosofi_remarks_colleges_and_references(demo):
    out, _, _, sheets = demo
    # the EPCI's Filosofi row gives the territory's median and poverty rate
    p = sheets["portrait"].set_index("indicator")
    assert p.loc["revenu_median", "territory_value"] == 17020
    assert p.loc["taux_pauvrete", "territory_value"] == pytest.approx(0.361)
    for k in ("revenu_median", "taux_pauvrete"):
        assert p.loc[k, "comparison"].startswith("C'est de "), k
    # every remark, reason and note is plain French
    assert _plain_french(p["remarque"]) == []
    long = pd.read_csv(out / "indicateurs.csv", sep=";", dtype=str)
    assert _plain_french(long["motif_valeur_manquante"]) == []
    assert not long["motif_valeur_manquante"].str.contains("non précisé", na=False).any()
    for name, sheet in sheets.items():
        for col in [c for c in sheet.columns if str(c).endswith("missing_reason")]:
            assert _plain_french(sheet[col]) == [], (name, col)
    # the reference values of the indicators computed from RPLS and SIRENE are shown
    eco = sheets["synthese_economie"].set_index("indicator")
    assert "QPV de France métropolitaine : 53,0" in eco.loc["evolution_etablissements",
                                                           "references_text"]
    log = sheets["synthese_logement"].set_index("indicator")
    assert "Hauts-de-France : 38,0" in log.loc["part_rpls_tres_sociaux", "references_text"]
    # collèges: the diagnostic's table and the per-QPV summary
    from qpvgeo.datasets import load_demo

    colleges = load_demo(["colleges"])["colleges"]
    tab = sheets["colleges"]
    shown = colleges.loc[colleges["uai"].isin(set(tab["uai"]))]
    assert (tab["ep"].fillna("") == "REP").sum() == (shown["ep"] == "REP").sum()
    assert set(colleges.loc[colleges["ep"].notna(), "uai"]) <= set(tab["uai"])
    per_qpv = sheets["colleges_qpv"].set_index("code_qpv")
    n_rep = per_qpv.drop(index=["territoire"])["college_reach_rep_sum"]
    assert (n_rep <= per_qpv.drop(index=["territoire"])["college_reach_count"]).all()
    page = (out / "rapport.html").read_text(encoding="utf-8")
    from markupsafe import escape

    assert escape("Collèges en éducation prioritaire ou à portée à pied d'un QPV") in page
    assert "habitants vivent dans les 22 QPV" in page
    assert escape("l'écart au territoire s'est accru pour la majorité des QPV") in page
    # walking areas on the street network, labelled so
    carte = (out / "carte.html").read_text(encoding="utf-8")
    assert json.dumps("accessible à pied en 15 min (réseau des rues)")[1:-1] in carte


def test_step_notes_say_which_files_or_modules_are_missing(monkeypatch):
    # a step that cannot run leaves a note in its section: the missing [fichiers] keys first,
    # then (files present) the missing qpvgeo modules, singular or plural
    from qpvgeo import _portrait_context as pc

    class Ctx:
        def __init__(self, files: set[str]) -> None:
            self.config = type("Cfg", (), {"has": lambda _self, key: key in files})()
            self.notes: dict[str, list[str]] = {}

        def note(self, section: str, text: str) -> None:
            self.notes.setdefault(section, []).append(text)

    ctx = Ctx({"sirene_t0"})
    assert pc._engines(ctx, "economie", ["sirene_t0", "sirene_t1"], "non calculée",
                       "economy") is None
    assert ctx.notes == {"economie": ["non calculée ([fichiers] sirene_t0, sirene_t1)."]}
    ctx = Ctx({"bpe"})
    equipment, health = pc._engines(ctx, "sante", ["bpe"], "x", "equipment", "health")
    assert (equipment.__name__, health.__name__) == ("qpvgeo.equipment", "qpvgeo.health")
    assert ctx.notes == {}
    monkeypatch.setattr(pc, "_module", lambda name: None if name == "health" else object())
    assert pc._engines(ctx, "sante", ["bpe"], "x", "equipment", "health") is None
    assert pc._engines(ctx, "logement", [], "", "health") is None
    assert ctx.notes == {"sante": ["modules qpvgeo.equipment / qpvgeo.health indisponibles."],
                         "logement": ["module qpvgeo.health indisponible."]}

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
import sqlite3
import xml.etree.ElementTree as ET

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
from qpvgeo.errors import InputFileError, SchemaError
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


def test_xlsx_text_never_becomes_a_formula(tmp_path):
    from openpyxl import Workbook, load_workbook

    wb = Workbook()
    portrait._sheet(wb.active, pd.DataFrame({"nom": ["=HYPERLINK(\"x\")"], "v": [1.5]}))
    wb.save(tmp_path / "t.xlsx")
    cell = load_workbook(tmp_path / "t.xlsx").active["A2"]
    assert cell.data_type == "s"
    assert cell.value == "=HYPERLINK(\"x\")"


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

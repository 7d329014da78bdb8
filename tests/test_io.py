"""Readers of qpvgeo.io on small fixtures in official layouts (tests/data) and on real files.

Fixture geometries are squares on whole Lambert-93 metres near Lens (origin X0, Y0 below, see
tests/data/make_fixtures.py), so areas and coordinates are written as arithmetic.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from qpvgeo import io
from qpvgeo.errors import (
    CodeFormatError,
    CrsMismatchError,
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    InputFileError,
    MissingCRSError,
    QpvgeoError,
    SchemaError,
)

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parents[1]
SHAPES = REPO / "data" / "shapes"
X0, Y0 = 686_000.0, 7_034_000.0


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------------------------
# read_layer: CRS policy, geometry repair, empty layers, layers, missing files
# --------------------------------------------------------------------------------------------


def test_geojson_wgs84_is_reprojected_to_lambert93():
    gdf = io.read_layer(DATA / "qpv2024_wgs84.geojson")
    assert gdf.crs.to_epsg() == 2154
    # three 200 m squares whose lower-left corners are X0, X0 + 1000, X0 + 2000
    np.testing.assert_allclose(gdf.area, [200 * 200] * 3, rtol=1e-6)
    np.testing.assert_allclose(gdf.bounds["minx"], [X0, X0 + 1000, X0 + 2000], atol=1e-3)
    np.testing.assert_allclose(gdf.bounds["miny"], [Y0] * 3, atol=1e-3)


def test_shapefile_in_cc50_is_reprojected():
    gdf = io.read_layer(DATA / "iris_contours_cc50.shp")
    raw = gpd.read_file(DATA / "iris_contours_cc50.shp")
    assert raw.crs.to_epsg() == 3950
    assert gdf.crs.to_epsg() == 2154
    # 2 x 2 squares of 500 m: 4 * 500 * 500 m², corner back at (X0, Y0) within a millimetre
    assert gdf.area.sum() == pytest.approx(4 * 500 * 500, rel=1e-6)
    minx, miny, maxx, maxy = gdf.total_bounds
    assert (minx, miny, maxx, maxy) == pytest.approx((X0, Y0, X0 + 1000, Y0 + 1000), abs=1e-3)


def test_layer_without_crs_is_typed_error_and_crs_override_works():
    with pytest.raises(MissingCRSError, match=r"no_crs\.shp.*crs="):
        io.read_layer(DATA / "no_crs.shp")
    gdf = io.read_layer(DATA / "no_crs.shp", crs="EPSG:2154")
    assert gdf.crs.to_epsg() == 2154
    assert gdf.area.iloc[0] == pytest.approx(500 * 500)
    # the same numbers taken as CC50 coordinates land elsewhere once reprojected
    moved = io.read_layer(DATA / "no_crs.shp", crs="EPSG:3950")
    assert abs(moved.total_bounds[0] - X0) > 1000


def test_crs_argument_never_overrides_a_declared_crs():
    with pytest.raises(CrsMismatchError, match="declares its CRS"):
        io.read_layer(DATA / "iris_contours_cc50.shp", crs="EPSG:2154")
    # the same CRS as declared is accepted
    gdf = io.read_layer(DATA / "iris_contours_cc50.shp", crs="EPSG:3950")
    assert len(gdf) == 4


def test_real_invalid_geometry_is_repaired_and_counted():
    path = SHAPES / "call_cites_minieres_zone_tampon_erbm.geojson"
    before = md5(path)
    raw = gpd.read_file(path).to_crs(2154)
    bad = raw.loc[raw["id_lsm"] == 10010, "geometry"].iloc[0]
    assert not bad.is_valid  # published with a self-intersection (Méricourt)
    with pytest.warns(DataQualityWarning, match="1 invalid geometry repaired"):
        gdf = io.read_layer(path)
    assert len(gdf) == len(raw) == 58
    assert gdf.is_valid.all()
    fixed = gdf.loc[gdf["id_lsm"] == 10010, "geometry"].iloc[0]
    assert fixed.geom_type in ("Polygon", "MultiPolygon")
    # the repair changes the area by a sliver only (< 0.1 %), other features are untouched
    assert fixed.area == pytest.approx(bad.area, rel=1e-3)
    others = raw["id_lsm"] != 10010
    np.testing.assert_allclose(gdf.area[others], raw.area[others])
    assert md5(path) == before  # input file not modified


def test_empty_layer_is_typed_error():
    with pytest.raises(EmptyLayerError, match=r"empty_layer\.gpkg"):
        io.read_layer(DATA / "empty_layer.gpkg")
    with pytest.raises(EmptyLayerError):
        io.read_qpv(DATA / "empty_layer.gpkg")


def test_missing_file_is_input_file_error_and_oserror():
    with pytest.raises(InputFileError, match=r"nope\.geojson: file not found"):
        io.read_layer(DATA / "nope.geojson")
    with pytest.raises(OSError):
        io.read_insee_table(DATA / "nope.csv")


def test_not_a_vector_file_is_input_file_error(tmp_path):
    path = write(tmp_path / "broken.geojson", "{ this is not json")
    with pytest.raises(InputFileError, match=r"broken\.geojson"):
        io.read_layer(path)


def test_multi_layer_file_needs_a_layer_name():
    with pytest.raises(SchemaError, match=r"2 layers \(.*batiment.*commune.*layer="):
        io.read_layer(DATA / "bdtopo_batiment.gpkg")
    with pytest.raises(SchemaError, match="no layer 'bati'"):
        io.read_layer(DATA / "bdtopo_batiment.gpkg", layer="bati")
    assert len(io.read_layer(DATA / "bdtopo_batiment.gpkg", layer="commune")) == 1


def test_integer_commune_codes_are_zero_padded_with_warning():
    raw = gpd.read_file(DATA / "communes_int_codes.shp")
    assert pd.api.types.is_integer_dtype(raw["INSEE_COM"])  # as stored in the .dbf
    with pytest.warns(DataQualityWarning, match="INSEE_COM.*leading zeros restored"):
        communes = io.read_communes(DATA / "communes_int_codes.shp")
    assert communes["insee_com"].tolist() == ["01053", "62498"]


# --------------------------------------------------------------------------------------------
# QPV
# --------------------------------------------------------------------------------------------


def test_read_qpv_2024_geojson():
    qpv = io.read_qpv(DATA / "qpv2024_wgs84.geojson")
    assert list(qpv.columns[:4]) == ["code_qpv", "nom_qpv", "insee_com", "generation"]
    assert qpv.columns[-1] == "geometry"
    assert qpv["code_qpv"].tolist() == ["QN06224M", "QN06226M", "QN06227M"]
    assert qpv["insee_com"].tolist() == ["62498;62528", "62498", "62498"]
    assert set(qpv["generation"]) == {"2024"}
    assert qpv["nom_qpv"].iloc[0] == "Cité 12-14"
    assert "lib_com" in qpv.columns
    assert "code_qp" not in qpv.columns
    assert qpv.attrs["qpvgeo"]["vintage"] == "2024"
    assert qpv.crs.to_epsg() == 2154
    np.testing.assert_allclose(qpv.area, [40_000.0] * 3, rtol=1e-6)


def _qpv_variant(tmp_path: Path, rename: dict, codes=None, name="variant.gpkg") -> Path:
    gdf = gpd.read_file(DATA / "qpv2024_wgs84.geojson").rename(columns=rename)
    if codes is not None:
        gdf[next(iter(rename.values()))] = codes
    path = tmp_path / name
    gdf.to_file(path, driver="GPKG")
    return path


def test_read_qpv_anct_metro_spelling_code_qp_lib_qp(tmp_path):
    path = _qpv_variant(tmp_path, {"code_qp": "Code_QP", "lib_qp": "Lib_QP"})
    qpv = io.read_qpv(path)
    assert qpv["code_qpv"].tolist()[0] == "QN06224M"
    assert qpv["nom_qpv"].tolist()[2] == "Sellier Cité 4"


def test_read_qpv_2015_generation_without_commune_codes(tmp_path):
    gdf = gpd.read_file(DATA / "qpv2024_wgs84.geojson")
    gdf = gpd.GeoDataFrame(
        {"CODE_QP": ["QP062033", "QP062035", "QP062036"], "NOM_QP": gdf["lib_qp"],
         "COMMUNE_QP": ["Lens, Loos-en-Gohelle", "Lens", "Lens"]},
        geometry=gdf.geometry, crs=gdf.crs)
    path = tmp_path / "QP_METROPOLEOUTREMER_WGS84_EPSG4326.shp"
    gdf.to_file(path, encoding="utf-8")
    with pytest.warns(DataQualityWarning, match="commune names are in COMMUNE_QP"):
        qpv = io.read_qpv(path)
    assert set(qpv["generation"]) == {"2015"}
    assert qpv["insee_com"].isna().all()  # names are not codes: missing, not invented
    assert qpv["COMMUNE_QP"].iloc[0] == "Lens, Loos-en-Gohelle"


def test_read_qpv_mixed_generations_is_schema_error(tmp_path):
    path = _qpv_variant(tmp_path, {"code_qp": "code_qp"},
                        codes=["QN06224M", "QP062035", "QN06227M"])
    with pytest.raises(SchemaError, match=r"mixes QPV generations \(2 2024.*1 2015"):
        io.read_qpv(path)


def test_read_qpv_bad_codes_and_duplicates(tmp_path):
    path = _qpv_variant(tmp_path, {"code_qp": "code_qp"}, codes=["62498", "QN06226M", "x"],
                        name="bad.gpkg")
    with pytest.raises(CodeFormatError, match="not QPV codes"):
        io.read_qpv(path)
    path = _qpv_variant(tmp_path, {"code_qp": "code_qp"},
                        codes=["QN06224M", "QN06224M", "QN06227M"], name="dup.gpkg")
    with pytest.raises(DuplicateKeyError, match="QN06224M"):
        io.read_qpv(path)


def test_read_qpv_missing_required_column_lists_what_was_found(tmp_path):
    path = _qpv_variant(tmp_path, {"lib_qp": "libelle"})
    with pytest.raises(SchemaError) as err:
        io.read_qpv(path)
    msg = str(err.value)
    assert "variant.gpkg" in msg
    assert "no column lib_qp" in msg
    assert "found code_qp, libelle" in msg
    assert "columns={'lib_qp':" in msg
    # the suggested fix works
    qpv = io.read_qpv(path, columns={"lib_qp": "libelle"})
    assert qpv["nom_qpv"].iloc[1] == "Cité 2"
    with pytest.raises(SchemaError, match="does not have"):
        io.read_qpv(path, columns={"lib_qp": "nom"})


def test_read_qpv_list_bom_trailing_columns_lost_zero_and_multi_communes():
    with pytest.warns(DataQualityWarning, match="insee_com had 1 commune code"):
        qpv = io.read_qpv_list(DATA / "listeqp2024-cog2024_extract.csv")
    assert list(qpv.columns) == ["code_qpv", "nom_qpv", "insee_com", "generation", "insee_reg",
                                 "lib_reg", "insee_dep", "lib_dep", "lib_com", "siren_epci",
                                 "lib_epci"]  # BOM stripped, trailing empty columns dropped
    assert qpv["insee_com"].tolist() == ["62498;62528", "01053", "02571;02691"]
    assert qpv["insee_dep"].tolist() == ["62", "01", "02"]  # text, zeros kept
    assert qpv["nom_qpv"].iloc[0] == "Cité 12-14"


def test_read_qpv_list_on_the_real_dept62_list():
    qpv = io.read_qpv_list(SHAPES / "qpv2024_dept62_list.csv")
    assert len(qpv) == 64
    assert qpv["code_qpv"].iloc[0] == "QN06201M"
    assert qpv["code_qpv"].iloc[-1] == "QN06264N"
    assert (qpv["touches_call"] == "1").sum() == 22
    row = qpv.set_index("code_qpv").loc["QN06234M"]
    assert row["insee_com"] == "62133;62570;62628;62771"


def test_read_qpv_correspondence_long_table():
    corr = io.read_qpv_correspondence(DATA / "liste-correspondance-qp2024-qp2015_extract.csv")
    assert list(corr.columns) == ["code_qpv_2024", "nom_qpv_2024", "statut", "rank",
                                  "code_qpv_2015", "nom_qpv_2015"]
    # QN06224M has 2 predecessors, QN06226M 1, QN06264N none (one row, 2015 code missing)
    assert corr["code_qpv_2024"].tolist() == ["QN06224M", "QN06224M", "QN06226M", "QN06264N"]
    assert corr["code_qpv_2015"].tolist()[:3] == ["QP062033", "QP062034", "QP062035"]
    assert pd.isna(corr["code_qpv_2015"].iloc[3])
    assert pd.isna(corr["rank"].iloc[3])
    assert corr["rank"].tolist()[:3] == [1, 2, 1]


# --------------------------------------------------------------------------------------------
# IRIS, communes, EPCI
# --------------------------------------------------------------------------------------------


def test_read_iris_contours_iris_2_1_shapefile():
    iris = io.read_iris(DATA / "iris_contours_cc50.shp")
    assert list(iris.columns[:5]) == ["code_iris", "nom_iris", "insee_com", "typ_iris", "nom_com"]
    assert iris["code_iris"].tolist() == ["624980101", "624980102", "624980103", "624980104"]
    assert iris["typ_iris"].tolist() == ["H", "A", "H", "H"]
    assert iris["nom_iris"].iloc[3] == "Grande Résidence"
    assert iris.crs.to_epsg() == 2154


def test_read_iris_2024_geopackage_lower_case_and_geometrie(tmp_path):
    src = gpd.read_file(DATA / "iris_contours_cc50.shp").to_crs(2154)
    gdf = gpd.GeoDataFrame(
        {"cleabs": ["IRIS0001", "IRIS0002", "IRIS0003", "IRIS0004"],
         "code_insee": src["INSEE_COM"], "nom_commune": src["NOM_COM"], "iris": src["IRIS"],
         "code_iris": src["CODE_IRIS"], "nom_iris": src["NOM_IRIS"],
         "type_iris": src["TYP_IRIS"]},
        geometry=src.geometry, crs=2154)
    path = tmp_path / "CONTOURS-IRIS.gpkg"
    gdf.to_file(path, layer="contours_iris", layer_options={"GEOMETRY_NAME": "geometrie"})
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=2154).to_file(
        path, layer="autre")
    iris = io.read_iris(path)  # picks contours_iris among two layers
    assert iris.geometry.name == "geometry"
    assert iris["typ_iris"].tolist() == ["H", "A", "H", "H"]
    assert iris["insee_com"].tolist() == ["62498"] * 4
    assert iris["nom_com"].iloc[0] == "Lens"
    assert "cleabs" in iris.columns


def test_read_iris_pre_2015_dcomiris_and_numeric_codes(tmp_path):
    src = gpd.read_file(DATA / "iris_contours_cc50.shp")
    gdf = gpd.GeoDataFrame(
        {"DEPCOM": np.array([1053] * 4, dtype="int64"),
         "DCOMIRIS": np.array([10530101, 10530102, 10530103, 10530104], dtype="int64"),
         "NOM_IRIS": src["NOM_IRIS"], "TYP_IRIS": src["TYP_IRIS"]},
        geometry=src.geometry, crs=src.crs)
    path = tmp_path / "iris_2012.shp"
    gdf.to_file(path)
    with pytest.warns(DataQualityWarning, match="leading zeros restored"):
        iris = io.read_iris(path)
    assert iris["code_iris"].tolist()[0] == "010530101"
    assert iris["insee_com"].tolist() == ["01053"] * 4


def test_read_communes_real_admin_express_call():
    path = SHAPES / "call_communes_adminexpress2018.geojson"
    communes = io.read_communes(path)
    assert len(communes) == 36
    assert communes.crs.to_epsg() == 2154
    assert list(communes.columns) == ["insee_com", "nom_com", "siren_epci", "geometry"]
    assert communes.area.sum() / 1e6 == pytest.approx(240.6, abs=0.05)  # SOURCES.md: 240.57
    assert set(communes["siren_epci"]) == {"246200364"}
    assert communes["insee_com"].str.fullmatch(r"62\d{3}").all()


def test_read_communes_mission_bassin_minier_and_corsica():
    mbm = io.read_communes(SHAPES / "call_cahc_communes_mbm.geojson")
    assert len(mbm) == 50
    assert mbm["siren_epci"].value_counts().to_dict() == {"246200364": 36, "246200299": 14}
    corse = io.read_communes(DATA / "communes_corse_geoapi.geojson")
    assert corse["insee_com"].tolist() == ["2A004", "2B033"]
    assert corse["nom_com"].tolist() == ["Ajaccio", "Bastia"]


def test_read_epci_real():
    epci = io.read_epci(SHAPES / "epci_call_and_neighbours.geojson")
    assert sorted(epci["siren_epci"]) == ["200072460", "246200299", "246200364"]
    call = epci.set_index("siren_epci").loc["246200364"]
    assert call["nom_epci"] == "CA de Lens - Liévin"
    assert call.geometry.area / 1e6 == pytest.approx(240.56, abs=0.05)


# --------------------------------------------------------------------------------------------
# INSEE tables
# --------------------------------------------------------------------------------------------


def test_census_iris_base_csv():
    df = io.read_insee_table(DATA / "base-ic-evol-struct-pop-2020_extract.csv", level="iris")
    assert list(df.columns[:4]) == ["code_iris", "insee_com", "TYP_IRIS", "LAB_IRIS"]
    assert df.columns[-1] == "secret_vars"
    assert df["code_iris"].tolist() == ["620010000", "624980101", "624980102"]
    assert df["LAB_IRIS"].tolist() == ["5", "1", "1"]  # geography labels stay text
    assert df["P20_POP"].dtype == float
    # weighted non-integer values are read as they are
    assert df["P20_POP"].sum() == pytest.approx(1994 + 2500.5 + 1800)
    assert df["P20_POP0014"].iloc[0] == pytest.approx(412.3456789)
    # a blank cell is missing, a written 0 is 0
    assert math.isnan(df["P20_POP0014"].iloc[2])
    assert df["C20_POP15P_CS1"].iloc[1] == 0.0
    assert df["secret_vars"].tolist() == ["", "", "P20_POP0014;C20_POP15P_CS1"]
    meta = df.attrs["qpvgeo"]
    assert meta["source"] == "base-ic-evol-struct-pop-2020_extract.csv"
    assert (meta["vintage"], meta["level"], meta["secret_cells"]) == (2020, "iris", 2)


def test_filosofi_latin1_secret_cells_and_decimal_comma():
    path = DATA / "BASE_TD_FILO_DISP_IRIS_2020_extract_latin1.csv"
    before = md5(path)
    df = io.read_insee_table(path, level="iris")
    assert df.attrs["qpvgeo"]["encoding"] == "cp1252"
    assert df["LIBIRIS"].iloc[0] == "Cité 12 - Résidence"  # accents decoded
    assert df["LIBCOM"].iloc[3] == "Liévin"
    # decimal comma detected: 10110,5 -> 10110.5 ; 0,312 -> 0.312
    assert df["DISP_Q120"].iloc[0] == 10110.5
    assert df["DISP_GI20"].iloc[0] == 0.312
    assert df.attrs["qpvgeo"]["decimal"] == ","
    # s / nd / ns / blank -> NaN (never 0), flagged row by row
    gare = df.iloc[1]
    assert gare[["DISP_MED20", "DISP_Q120", "DISP_TP6020", "DISP_GI20"]].isna().all()
    assert gare["secret_vars"] == "DISP_MED20;DISP_Q120;DISP_TP6020;DISP_GI20"
    assert df["secret_vars"].iloc[2] == "DISP_Q120;DISP_TP6020;DISP_GI20"
    assert df["DISP_MED20"].iloc[2] == 16010
    assert not (df[["DISP_MED20", "DISP_Q120", "DISP_TP6020", "DISP_GI20"]] == 0).any().any()
    assert df.attrs["qpvgeo"]["secret_cells"] == 4 + 3
    assert df.attrs["qpvgeo"]["vintage"] == 2020
    assert md5(path) == before


def test_qpv_table_with_bom_and_trailing_empty_columns():
    df = io.read_insee_table(DATA / "qpv_table_bom_trailing.csv", level="qpv")
    assert list(df.columns) == ["code_qpv", "nom_qpv", "P20_POP", "P20_POP0014", "DISP_MED20",
                                "secret_vars"]
    assert df["code_qpv"].tolist() == ["QN06224M", "QN06226M", "QN06227M"]
    assert df["P20_POP"].sum() == pytest.approx(4321.5 + 1750 + 2210)
    assert df["secret_vars"].tolist() == ["", "P20_POP0014", "DISP_MED20"]


def test_iris_table_whose_codes_lost_their_zeros():
    with pytest.warns(DataQualityWarning) as record:
        df = io.read_insee_table(DATA / "iris_codes_lost_zeros.csv", level="iris")
    messages = " | ".join(str(w.message) for w in record)
    assert "column IRIS had 2 iris code(s)" in messages
    assert "column COM had 2 commune code(s)" in messages
    assert df["code_iris"].tolist() == ["010530101", "010530102", "624980101"]
    assert df["insee_com"].tolist() == ["01053", "01053", "62498"]


def test_census_xlsx_with_title_rows():
    df = io.read_insee_table(DATA / "base-ic-logement-2020_extract.xlsx", level="iris")
    assert df["code_iris"].tolist() == ["624980101", "624980102"]
    assert df["UU2020"].tolist() == ["62701", "62701"]
    assert df["MODIF_IRIS"].iloc[0] == "00"
    assert df["P20_LOG"].tolist() == [1234.5, 456.0]
    assert math.isnan(df["P20_RP_LOCHLMV"].iloc[1])
    assert df["secret_vars"].tolist() == ["", "P20_RP_LOCHLMV"]
    assert df.attrs["qpvgeo"]["vintage"] == 2020


def test_commune_level_table_text_column_and_unknown_markers(tmp_path):
    path = write(tmp_path / "communes.csv",
                 "CODGEO;LIBGEO;QUALITE;P20_POP;MED20\n"
                 "62498;Lens;bonne;32899;17020\n"
                 "2A004;Ajaccio;moyenne;c;19100\n"
                 "62001;Ablain-Saint-Nazaire;bonne;1994;\n")
    with pytest.warns(DataQualityWarning, match=r"P20_POP \('c'\)"):
        df = io.read_insee_table(path, level="commune")
    assert df["insee_com"].tolist() == ["62498", "2A004", "62001"]
    assert df["nom_com"].tolist()[1] == "Ajaccio"
    assert df["QUALITE"].tolist() == ["bonne", "moyenne", "bonne"]  # no number: stays text
    assert math.isnan(df["P20_POP"].iloc[1])
    assert df["secret_vars"].tolist() == ["", "P20_POP", "MED20"]


def test_insee_table_errors(tmp_path):
    with pytest.raises(CodeFormatError, match=r"CODGEO.*pass level='qpv'"):
        io.read_insee_table(DATA / "qpv_table_bom_trailing.csv", level="iris")
    nokey = write(tmp_path / "nokey.csv", "ZONE;P20_POP\nA;1\n")
    with pytest.raises(SchemaError) as err:
        io.read_insee_table(nokey, level="iris")
    assert "nokey.csv: no column IRIS (found ZONE, P20_POP)" in str(err.value)
    dup = write(tmp_path / "dup.csv", "IRIS;P20_POP\n624980101;1\n624980101;2\n")
    with pytest.raises(DuplicateKeyError, match="624980101"):
        io.read_insee_table(dup)
    mixed = write(tmp_path / "mixed.csv", "IRIS;DISP_MED20\n624980101;1,5\n624980102;2.5\n")
    with pytest.raises(SchemaError, match="mixes decimal commas"):
        io.read_insee_table(mixed)
    with pytest.raises(ValueError, match="level must be"):
        io.read_insee_table(dup, level="departement")  # type: ignore[arg-type]
    empty = write(tmp_path / "empty.csv", "IRIS;P20_POP\n")
    with pytest.raises(EmptyLayerError):
        io.read_insee_table(empty)


def test_insee_table_vintage_given_and_detected():
    path = DATA / "qpv_table_bom_trailing.csv"
    assert io.read_insee_table(path, level="qpv", vintage=2020).attrs["qpvgeo"]["vintage"] == 2020
    with pytest.warns(DataQualityWarning, match="vintage=2019 was given"):
        df = io.read_insee_table(path, level="qpv", vintage=2019)
    assert df.attrs["qpvgeo"]["vintage"] == 2019


# --------------------------------------------------------------------------------------------
# Points: BPE, RPLS, SIRENE
# --------------------------------------------------------------------------------------------


def test_read_bpe_2021_schema():
    with pytest.warns(DataQualityWarning, match="1 equipment.*out of 4 without coordinates"):
        bpe = io.read_bpe(DATA / "bpe21_ensemble_xy_extract.csv")
    assert list(bpe.columns[:4]) == ["typequ", "insee_com", "code_iris", "code_qpv"]
    assert bpe.index.tolist() == [0, 1, 2]  # row 3 had no coordinates
    assert bpe["typequ"].tolist() == ["D201", "C201", "D307"]
    # unsplit commune: DCIRIS '62001' -> IRIS code '620010000'
    assert bpe["code_iris"].tolist() == ["624980101", "624980102", "620010000"]
    # QP holds 2015 QPV codes, or HZ / CSZ outside QPV -> missing
    assert bpe["code_qpv"].iloc[0] == "QP062033"
    assert bpe["code_qpv"].iloc[1:].isna().all()
    assert bpe["QP"].tolist() == ["QP062033", "HZ", "CSZ"]  # original kept
    # Lambert-93 assumed without an EPSG column: coordinates unchanged
    assert (bpe.geometry.x.iloc[0], bpe.geometry.y.iloc[0]) == (686100.5, 7034100.25)
    assert "assumed" in bpe.attrs["qpvgeo"]["crs_of_coordinates"]


def test_read_bpe_new_schema_epsg_column_and_wgs84_fallback():
    with pytest.warns(DataQualityWarning, match="1 equipment"):
        bpe = io.read_bpe(DATA / "bpe24_ensemble_xy_extract.csv")
    assert bpe["code_qpv"].tolist()[:2] == ["QN06224M", "QN06226M"]  # from QP2024
    assert pd.isna(bpe["code_qpv"].iloc[2])
    # row 1: EPSG 3950 coordinates of (686 500, 7 034 500); row 2: LONGITUDE/LATITUDE of
    # (686 300, 7 034 300), written with 8 decimals (~1 mm)
    np.testing.assert_allclose(bpe.geometry.x, [686_100, 686_500, 686_300], atol=0.01)
    np.testing.assert_allclose(bpe.geometry.y, [7_034_100, 7_034_500, 7_034_300], atol=0.01)
    assert bpe["SIRET"].iloc[0] == "12345678900011"


def test_read_bpe_missing_coordinates_columns(tmp_path):
    path = write(tmp_path / "bpe.csv", "DEPCOM;TYPEQU;X_L93;Y_L93\n62498;D201;686000;7034000\n")
    with pytest.raises(SchemaError, match="no columns LAMBERT_X, LAMBERT_Y"):
        io.read_bpe(path)
    bpe = io.read_bpe(path, columns={"LAMBERT_X": "X_L93", "LAMBERT_Y": "Y_L93"})
    assert bpe.geometry.iloc[0].equals(shapely.Point(686000, 7034000))


def test_read_rpls_dido_export():
    with pytest.warns(DataQualityWarning, match="1 dwelling"):
        rpls = io.read_rpls(DATA / "rpls_2025_dido_extract.csv")
    assert list(rpls.columns[:7]) == ["insee_com", "construct_year", "finan_code", "nb_pieces",
                                      "surface_m2", "dpe_energie", "code_qpv"]
    assert rpls["surface_m2"].sum() == pytest.approx(67.5 + 81.25 + 48)
    assert rpls["construct_year"].tolist() == [1972, 1972, 2015]
    assert rpls["finan_code"].tolist() == ["52", "52", "13"]
    assert rpls["dpe_energie"].iloc[0] == "E"
    assert pd.isna(rpls["dpe_energie"].iloc[1])
    assert rpls["code_qpv"].tolist()[:2] == ["QN06224M", "QN06224M"]
    assert pd.isna(rpls["code_qpv"].iloc[2])
    assert rpls["QPV_CODE"].tolist() == ["1", "1", "2"]  # kept, not interpreted
    assert rpls.geometry.x.tolist() == [686050, 686060, 680500]
    assert rpls.crs.to_epsg() == 2154


def test_read_rpls_older_regional_latin1_file():
    path = DATA / "rpls_2019_regional_latin1.csv"
    with pytest.raises(SchemaError) as err:
        io.read_rpls(path)
    msg = str(err.value)
    assert "no column PLG_QP24" in msg
    assert "found DEPCOM_CODE" in msg
    assert "columns={'PLG_QP24': None}" in msg
    rpls = io.read_rpls(path, columns={"PLG_QP24": None})
    assert rpls["insee_com"].tolist() == ["62510", "62510"]  # DEPCOM_CODE accepted
    assert rpls["finan_code"].tolist() == ["50", "12"]  # FINAN accepted
    assert rpls["surface_m2"].tolist() == [62.5, 45.0]  # decimal comma
    assert math.isnan(rpls["construct_year"].iloc[1])
    assert rpls["code_qpv"].isna().all()
    assert rpls["LIBCOM"].iloc[0] == "Liévin"
    with pytest.raises(SchemaError, match="cannot work without it"):
        io.read_rpls(path, columns={"PLG_QP24": None, "DEPCOM": None})


def test_read_sirene_stock_alone():
    with pytest.warns(DataQualityWarning, match="1 establishment"):
        sirene = io.read_sirene(DATA / "StockEtablissement_extract.csv")
    assert list(sirene.columns[:7]) == ["siret", "creation_date", "naf", "categorie_juridique",
                                        "etat", "insee_com", "code_qpv"]
    assert sirene.index.tolist() == [0, 1, 3]  # the [ND] establishment has no coordinates
    assert sirene["siret"].iloc[0] == "01234567800019"  # leading zero kept
    assert sirene["creation_date"].iloc[0] == pd.Timestamp("2018-03-15")
    assert pd.isna(sirene["creation_date"].loc[3])
    assert sirene["etat"].tolist() == ["A", "F", "A"]
    assert sirene["categorie_juridique"].isna().all()
    assert sirene["code_qpv"].isna().all()
    assert (sirene.geometry.x.iloc[0], sirene.geometry.y.iloc[0]) == (686120.5, 7034130.0)


def test_read_sirene_with_geolocation_and_legal_units():
    with pytest.warns(DataQualityWarning, match="1 establishment"):
        sirene = io.read_sirene(
            DATA / "StockEtablissement_extract.csv",
            geolocation=DATA / "GeolocalisationEtablissement_extract.csv",
            legal_units=DATA / "StockUniteLegale_extract.csv",
        )
    assert sirene["code_qpv"].tolist()[0] == "QN06224M"
    assert pd.isna(sirene["code_qpv"].iloc[1])
    assert sirene["code_qpv"].iloc[2] == "QN06228M"
    assert sirene["categorie_juridique"].tolist() == ["1000", "5710", "5499"]
    # coordinates from the geolocation file (x + 4.5 / y + 5 m from the stock's)
    assert sirene.geometry.x.tolist() == [686125, 686705, 680705]
    assert sirene.attrs["qpvgeo"]["geolocation"] == "GeolocalisationEtablissement_extract.csv"


def test_read_sirene_refuses_the_geolocation_file_as_stock():
    with pytest.raises(SchemaError, match="geolocation="):
        io.read_sirene(DATA / "GeolocalisationEtablissement_extract.csv")


# --------------------------------------------------------------------------------------------
# Buildings
# --------------------------------------------------------------------------------------------


def test_read_buildings_bdtopo_shapefile():
    bati = io.read_buildings(DATA / "bdtopo_shp" / "BATIMENT.shp")
    assert list(bati.columns[:5]) == ["building_id", "usage1", "nb_logts", "nb_etages",
                                      "hauteur"]
    assert bati["usage1"].tolist() == ["Résidentiel", "Indifférencié"]
    assert bati["nb_logts"].iloc[0] == 12
    assert math.isnan(bati["nb_logts"].iloc[1])
    assert math.isnan(bati["hauteur"].iloc[1])
    np.testing.assert_allclose(bati.area, [20 * 20, 10 * 10])


def test_read_buildings_bdtopo_geopackage_3d():
    bati = io.read_buildings(DATA / "bdtopo_batiment.gpkg")  # layer batiment chosen
    assert bati["building_id"].tolist() == ["BATIMENT0000000399999991"]
    assert math.isnan(bati["nb_logts"].iloc[0])
    assert bati["nb_etages"].iloc[0] == 3
    assert not bati.has_z.any()
    assert bati.area.iloc[0] == pytest.approx(15 * 15)


def test_read_buildings_refuses_points(tmp_path):
    gdf = gpd.GeoDataFrame({"ID": ["a"], "USAGE1": ["x"], "NB_LOGTS": [1], "NB_ETAGES": [1],
                            "HAUTEUR": [3.0]}, geometry=[shapely.Point(X0, Y0)], crs=2154)
    path = tmp_path / "points.gpkg"
    gdf.to_file(path)
    with pytest.raises(SchemaError, match="expected polygon geometries"):
        io.read_buildings(path)


def test_every_error_is_a_qpvgeo_error():
    for exc in (InputFileError, SchemaError, MissingCRSError, EmptyLayerError, CodeFormatError):
        assert issubclass(exc, QpvgeoError)


# --------------------------------------------------------------------------------------------
# National files: commune filter, chunked reading, progress
# --------------------------------------------------------------------------------------------


def test_commune_filter_on_point_files_and_progress():
    calls = []
    with pytest.warns(DataQualityWarning, match="1 equipment"):
        bpe = io.read_bpe(DATA / "bpe21_ensemble_xy_extract.csv", communes=["62498"],
                          progress=lambda f, m: calls.append((f, m)))
    # rows 0, 1, 3 are in Lens (62498); row 3 has no coordinates; row 2 (62001) is filtered
    assert bpe.index.tolist() == [0, 1]
    assert set(bpe["insee_com"]) == {"62498"}
    assert calls[-1][0] == pytest.approx(1.0)
    assert all(0 <= f <= 1 for f, _ in calls)
    rpls = io.read_rpls(DATA / "rpls_2019_regional_latin1.csv", communes="62510",
                        columns={"PLG_QP24": None})
    assert len(rpls) == 2
    with pytest.warns(DataQualityWarning, match="1 establishment"):
        sirene = io.read_sirene(DATA / "StockEtablissement_extract.csv", communes=["62510"],
                                geolocation=DATA / "GeolocalisationEtablissement_extract.csv")
    # 62510 has rows 2 ([ND], dropped) and 3
    assert sirene.index.tolist() == [3]
    assert sirene["code_qpv"].tolist() == ["QN06228M"]


def test_commune_filter_errors():
    with pytest.raises(EmptyLayerError, match="none of the 4 rows"):
        io.read_bpe(DATA / "bpe21_ensemble_xy_extract.csv", communes=["59350"])
    with pytest.raises(CodeFormatError, match="not an INSEE commune code"):
        io.read_bpe(DATA / "bpe21_ensemble_xy_extract.csv", communes=["Lens"])


def test_chunked_reading_keeps_file_row_numbers(tmp_path):
    from qpvgeo import _io_tables

    lines = ["DEPCOM;V"] + [f"{62498 if i % 3 == 0 else 62510};{i}" for i in range(10)]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    df, info = _io_tables.read_text_table(
        path, name="big.csv", keep=lambda c: c["DEPCOM"] == "62498", chunksize=4)
    assert df.index.tolist() == [0, 3, 6, 9]  # rows kept across chunk boundaries
    assert df["V"].tolist() == ["0", "3", "6", "9"]
    assert info["rows_read"] == 10


def test_insee_zip_archive_as_downloaded(tmp_path):
    import zipfile

    src = DATA / "BASE_TD_FILO_DISP_IRIS_2020_extract_latin1.csv"
    archive = tmp_path / "BASE_TD_FILO_DISP_IRIS_2020_CSV.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src, "BASE_TD_FILO_DISP_IRIS_2020.csv")
        zf.writestr("meta_BASE_TD_FILO_DISP_IRIS_2020.csv", "COD_VAR;LIB_VAR\nIRIS;Code\n")
    df = io.read_insee_table(archive)
    assert df["code_iris"].tolist() == ["624980101", "624980102", "624980103", "625100101"]
    assert df["DISP_Q120"].iloc[0] == 10110.5
    assert df["LIBIRIS"].iloc[0] == "Cité 12 - Résidence"  # cp1252 detected inside the zip
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.write(src, "a.csv")
        zf.write(src, "b.csv")
    with pytest.raises(SchemaError, match="2 data tables"):
        io.read_insee_table(two)


@pytest.mark.parametrize("decimal", [".", ","])
def test_parse_numbers_property(decimal):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from qpvgeo import _io_tables

    cells = st.one_of(
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda x: round(x, 3)),
        st.sampled_from(["s", "nd", "ns", "", " ", "S"]),
    )

    @settings(max_examples=60, deadline=None)
    @given(st.lists(cells, min_size=1, max_size=30))
    def check(values):
        text = [v if isinstance(v, str) else repr(float(v)).replace(".", decimal) for v in values]
        if any("e" in t for t in text):
            return  # exponent notation is not used by INSEE files
        out, missing, unknown = _io_tables.parse_numbers(pd.Series(text), name="t", column="V")
        for v, got, miss in zip(values, out, missing, strict=True):
            if isinstance(v, str):
                assert math.isnan(got)  # markers and blanks are missing, never 0
                assert miss
            else:
                assert got == pytest.approx(float(v))
        assert unknown == []

    check()


def test_source_column_is_kept_after_the_normalised_columns(tmp_path):
    gdf = gpd.read_file(DATA / "qpv2024_wgs84.geojson")
    gdf["source"] = "illustratif"
    path = tmp_path / "illustratif_qpv.gpkg"
    gdf.to_file(path)
    qpv = io.read_qpv(path)
    assert list(qpv.columns[:5]) == ["code_qpv", "nom_qpv", "insee_com", "generation", "source"]
    assert set(qpv["source"]) == {"illustratif"}
    table = write(tmp_path / "illustratif_iris.csv",
                  "IRIS;COM;P20_POP;source\n624980101;62498;2500.5;illustratif\n")
    df = io.read_insee_table(table)
    assert list(df.columns) == ["code_iris", "insee_com", "source", "P20_POP", "secret_vars"]
    assert df["source"].iloc[0] == "illustratif"
    assert df["secret_vars"].iloc[0] == ""  # source is text, not a variable


def test_bpe_overseas_rows_and_crs_argument_without_epsg_column(tmp_path):
    from pyproj import Transformer

    # Saint-Denis (La Réunion): BPE X/Y are in UTM 40S (EPSG:2975) when no EPSG column exists
    path = write(tmp_path / "bpe_dom.csv",
                 "DEPCOM;TYPEQU;LAMBERT_X;LAMBERT_Y\n97411;D201;338000;7690000\n"
                 "62498;D201;686000;7034000\n")
    bpe = io.read_bpe(path)
    x, y = Transformer.from_crs(2975, 2154, always_xy=True).transform(338000.0, 7690000.0)
    assert bpe.geometry.iloc[0].x == pytest.approx(x)
    assert bpe.geometry.iloc[0].y == pytest.approx(y)
    assert (bpe.geometry.iloc[1].x, bpe.geometry.iloc[1].y) == (686000, 7034000)
    # crs= says which CRS the X/Y columns are in when the file does not
    cc50 = write(tmp_path / "bpe_cc50.csv", "DEPCOM;TYPEQU;LAMBERT_X;LAMBERT_Y\n62498;D201;"
                 "1686000;9234000\n")
    x, y = Transformer.from_crs(3950, 2154, always_xy=True).transform(1686000.0, 9234000.0)
    bpe = io.read_bpe(cc50, crs="EPSG:3950")
    assert bpe.geometry.iloc[0].x == pytest.approx(x)
    assert bpe.geometry.iloc[0].y == pytest.approx(y)


def test_attribute_tables_of_a_geopackage_are_not_layers(tmp_path):
    import pyogrio

    path = tmp_path / "saved_by_qgis.gpkg"
    gpd.read_file(DATA / "qpv2024_wgs84.geojson").to_file(path, layer="qpv")
    pyogrio.write_dataframe(pd.DataFrame({"styleName": ["qpv"]}), path, layer="layer_styles")
    assert len(io.read_qpv(path)) == 3  # layer_styles (no geometry) is not a candidate


def test_points_with_source_column_and_dropped_rows_keep_rows_aligned(tmp_path):
    # regression: the `source` column was taken from every row, not only rows with coordinates
    path = tmp_path / "bpe_source.csv"
    path.write_text(
        "DEPCOM;DCIRIS;TYPEQU;LAMBERT_X;LAMBERT_Y;source\n"
        "62498;62498_0101;D201;686000;7034000;illustratif\n"
        "62498;62498_0101;D307;;;illustratif\n"
        "62510;62510;D221;684000;7035000;illustratif\n",
        encoding="utf-8",
    )
    with pytest.warns(DataQualityWarning, match="1 equipment.*out of 3 without coordinates"):
        bpe = io.read_bpe(path)
    assert bpe.index.tolist() == [0, 2]
    assert bpe["typequ"].tolist() == ["D201", "D221"]
    assert bpe["source"].tolist() == ["illustratif", "illustratif"]


def test_insee_table_epci_and_commune_filosofi(tmp_path):
    # base-cc-filosofi layout: bare MED20 / TP6020, EPCI rows keyed by their SIREN
    epci = write(tmp_path / "epci.csv",
                 "CODGEO;LIBGEO;NBMENFISC20;NBPERSMENFISC20;MED20;TP6020\n"
                 "246200364;CA de Lens-Liévin;104095;242238;17020;36,1\n"
                 "200072460;CA Béthune-Bruay;s;s;s;s\n")
    df = io.read_insee_table(epci, level="epci")
    assert df["siren_epci"].tolist() == ["246200364", "200072460"]
    assert df["nom_epci"].iloc[0] == "CA de Lens-Liévin"
    assert df.loc[0, "TP6020"] == pytest.approx(36.1)  # decimal comma
    assert np.isnan(df.loc[1, "MED20"])  # secret: missing, never 0
    assert df.loc[1, "secret_vars"] == "NBMENFISC20;NBPERSMENFISC20;MED20;TP6020"
    assert df.attrs["qpvgeo"]["vintage"] == 2020  # from MED20
    com = write(tmp_path / "com.csv", "CODGEO;LIBGEO;MED15;TP6015\n62498;Lens;14000;40.5\n")
    c = io.read_insee_table(com, level="commune")
    assert (c["insee_com"].iloc[0], c.attrs["qpvgeo"]["vintage"]) == ("62498", 2015)
    with pytest.raises(CodeFormatError):
        io.read_insee_table(epci, level="commune")  # SIREN are not commune codes


def test_read_colleges_ips_and_priority_network(tmp_path):
    path = write(tmp_path / "colleges.csv",
                 "uai;nom_de_l_etablissement;code_insee_de_la_commune;nom_de_la_commune;ips;"
                 "appartenance_education_prioritaire;coordonnee_x;coordonnee_y;epsg\n"
                 "0621000A;COLLEGE A;62032;ANGRES;79,0;REP;682601.1;7034352.7;2154\n"
                 "0621037B;COLLEGE B;62033;ANNAY;;;691665.5;7040507.8;2154\n"
                 "0621074C;COLLEGE C;62065;AVION;96,6;rep +;2.80;50.40;4326\n"
                 "0621111D;COLLEGE D;62065;AVION;90;REP;;;2154\n")
    with pytest.warns(DataQualityWarning, match="1 collège"):
        df = io.read_colleges(path)
    assert df.crs.to_epsg() == 2154
    assert df["uai"].tolist() == ["0621000A", "0621037B", "0621074C"]  # D has no coordinates
    assert df["ips"].iloc[0] == 79.0
    assert np.isnan(df["ips"].iloc[1])  # blank IPS stays missing
    assert df["ep"].tolist()[0] == "REP"
    assert df["ep"].tolist()[1] is None
    assert df["ep"].tolist()[2] == "REP+"
    assert df.geometry.iloc[0].x == pytest.approx(682601.1)


def test_point_readers_take_a_vector_layer(tmp_path):
    # the same points given as a WGS84 GeoPackage instead of a CSV with X/Y: the layer's
    # geometry is used (reprojected to Lambert-93), no CRS of coordinates is assumed, the row
    # index is the feature number and the commune filter applies to the layer too
    from pyproj import Transformer

    lon, lat = [2.83, 2.78, 2.90], [50.43, 50.42, 50.45]
    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(lon, lat)
    attrs = {
        "bpe": {"DEPCOM": ["62498", "62510", "62498"], "TYPEQU": ["D201", "D307", "C301"]},
        "rpls": {"DEPCOM": ["62498", "62510", "62498"], "CONSTRUCT": ["1965", "1972", ""],
                 "FINAN_CODE": ["13", "10", "13"], "NBPIECE": ["3", "4", "2"],
                 "SURFHAB": ["62", "75", "48"], "DPEENERGIE": ["E", "F", ""],
                 "PLG_QP24": ["QN06224M", "CSZ", ""]},
        "sirene": {"siret": ["12345678900011", "12345678900029", "98765432100017"],
                   "dateCreationEtablissement": ["2020-01-15", "2021-06-01", ""],
                   "activitePrincipaleEtablissement": ["47.11B", "86.21Z", "56.10A"],
                   "etatAdministratifEtablissement": ["A", "A", "F"],
                   "codeCommuneEtablissement": ["62498", "62510", "62498"]},
        "colleges": {"uai": ["0621000A", "0621037B", "0621074C"],
                     "nom_de_l_etablissement": ["A", "B", "C"],
                     "code_insee_de_la_commune": ["62498", "62510", "62498"],
                     "ips": ["79,0", "", "96,6"],
                     "appartenance_education_prioritaire": ["REP", "", "REP+"]},
    }
    readers = {"bpe": io.read_bpe, "rpls": io.read_rpls, "sirene": io.read_sirene,
               "colleges": io.read_colleges}
    for name, columns in attrs.items():
        path = tmp_path / f"{name}.gpkg"
        gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(lon, lat),
                         crs=4326).to_file(path, driver="GPKG")
        out = readers[name](path)
        assert out.crs.to_epsg() == 2154, name
        assert out.index.tolist() == [0, 1, 2], name
        assert out.geometry.x.to_numpy() == pytest.approx(x), name
        assert out.geometry.y.to_numpy() == pytest.approx(y), name
        assert out["insee_com"].tolist() == ["62498", "62510", "62498"], name
        meta = out.attrs["qpvgeo"]
        assert (meta["source"], meta["level"], meta["encoding"]) == (path.name, "point", None)
        assert meta["dropped_no_coordinates"] == 0
        assert "crs_of_coordinates" not in meta, name  # only for X/Y columns
        if name != "colleges":
            kept = readers[name](path, communes=["62510"])
            assert kept.index.tolist() == [1], name
            assert kept.geometry.x.iloc[0] == pytest.approx(x[1]), name
    bpe = io.read_bpe(tmp_path / "bpe.gpkg")
    assert bpe["code_qpv"].isna().all()  # no QP column: missing, not guessed
    rpls = io.read_rpls(tmp_path / "rpls.gpkg")
    assert rpls["code_qpv"].tolist()[:2] == ["QN06224M", None]  # CSZ is not a QPV
    assert rpls["code_qpv"].isna().tolist() == [False, True, True]

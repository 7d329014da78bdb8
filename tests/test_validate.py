"""Shared checks of qpvgeo._validate: CRS policy, codes, columns, geometries."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from qpvgeo import _validate as v
from qpvgeo.errors import (
    CodeFormatError,
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    MissingCRSError,
    SchemaError,
)


def _square(x, y, s=10.0):
    return shapely.box(x, y, x + s, y + s)


def test_to_lambert93_reprojects_wgs84_and_keeps_input():
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(2.8315, 50.4322)], crs=4326)
    out = v.to_lambert93(gdf, name="lens.geojson")
    assert out.crs.to_epsg() == 2154
    assert gdf.crs.to_epsg() == 4326  # input untouched
    # Lens town hall area: x ≈ 685 km, y ≈ 7 033 km in Lambert-93
    assert 680_000 < out.geometry.x.iloc[0] < 690_000
    assert 7_025_000 < out.geometry.y.iloc[0] < 7_040_000


def test_missing_crs_is_typed_error_naming_the_file():
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[_square(0, 0)])
    with pytest.raises(MissingCRSError, match=r"zones\.shp"):
        v.to_lambert93(gdf, name="zones.shp")
    out = v.to_lambert93(gdf, name="zones.shp", crs="EPSG:2154")
    assert out.crs.to_epsg() == 2154


def test_require_columns_lists_every_missing_column_case_insensitively():
    df = pd.DataFrame({"depcom": ["62498"], "x": [1.0]})
    found = v.require_columns(df, {"DEPCOM": [], "X": []}, name="rpls.csv")
    assert found == {"DEPCOM": "depcom", "X": "x"}
    with pytest.raises(SchemaError) as err:
        v.require_columns(df, ["TYPEQU", "LAMBERT_Y"], name="bpe.csv")
    msg = str(err.value)
    assert "bpe.csv" in msg
    assert "TYPEQU" in msg
    assert "LAMBERT_Y" in msg
    assert "depcom" in msg


def test_normalize_codes_restores_leading_zeros_with_warning():
    s = pd.Series([1053, 62498, None], name="INSEE_COM")
    with pytest.warns(DataQualityWarning, match="leading zeros"):
        out = v.normalize_codes(s, "commune", name="communes.shp")
    assert out.tolist()[:2] == ["01053", "62498"]
    assert out.isna().tolist() == [False, False, True]


def test_normalize_codes_accepts_corsica_and_rejects_garbage():
    out = v.normalize_codes(pd.Series(["2A004", "620410101"][:1]), "commune")
    assert out.tolist() == ["2A004"]
    with pytest.raises(CodeFormatError, match="QN06224M"):
        v.normalize_codes(pd.Series(["Q6224"]), "qpv", name="qpv.csv")


def test_check_string_key_refuses_numbers():
    df = pd.DataFrame({"code_iris": [624980101, 620410101]})
    with pytest.raises(CodeFormatError, match="zfill"):
        v.check_string_key(df, "code_iris", "iris", name="iris")


def test_check_unique_names_duplicates():
    df = pd.DataFrame({"code_iris": ["624980101", "624980101", "620410101"]})
    with pytest.raises(DuplicateKeyError, match="624980101"):
        v.check_unique(df, "code_iris", name="iris")


def test_repair_geometries_fixes_bowtie_and_drops_empty():
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # self-intersecting
    gdf = gpd.GeoDataFrame({"k": [1, 2, 3]}, geometry=[bowtie, _square(20, 0), None],
                           crs=2154, index=[7, 8, 9])
    with pytest.warns(DataQualityWarning, match="1 invalid geometry repaired"):
        out = v.repair_geometries(gdf, name="t.gpkg")
    assert list(out.index) == [7, 8]
    assert out.is_valid.all()
    # the bow-tie becomes two triangles of 25 m² each
    assert out.geometry.area.loc[7] == pytest.approx(50.0)
    assert gdf.geometry.iloc[0].equals(bowtie)  # input untouched


def test_check_not_empty():
    with pytest.raises(EmptyLayerError, match=r"qpv\.geojson"):
        v.check_not_empty(pd.DataFrame({"a": []}), name="qpv.geojson")


def test_is_illustrative():
    assert v.is_illustrative(pd.DataFrame({"source": ["illustratif"]}))
    assert not v.is_illustrative(pd.DataFrame({"source": ["INSEE"]}))
    assert v.is_illustrative({"QPVGEO_SOURCE": "illustratif"})
    assert not v.is_illustrative(np.zeros(2))

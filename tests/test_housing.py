"""Tests of qpvgeo.housing on hand-worked fixtures (Lambert-93, whole metres).

Local frame: metres from (700 000, 6 600 000). Zones QA = [0,100]² and QB = [200,300]×[0,100]
(1 ha each); territory T = [0,1000]².

    dwelling  position   year  finan  rooms  dpe  mode   zone
    d0        (10,10)    1930  52     1      A    1      QA
    d1        (20,20)    1960  13     3      g    2      QA
    d2        (30,30)    2005  10     6      ' '  1      QA
    d3        (250,50)   —     77     2      F    3      QB
    d4        (500,500)  1980  —      0      D    1      T only
    d5        (600,600)  1995  14     4      X    1      T only
    d6        (5000,5000) 2010 16     5      C    2      outside T
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _helpers import assert_result, pt, sq

from qpvgeo.errors import DataQualityWarning, DuplicateKeyError, SchemaError
from qpvgeo.housing import (
    FINANCING,
    construction_era,
    dpe_class,
    dwelling_size,
    era_labels,
    financing_group,
    housing_quality,
    prepare_rpls,
    rpls_composition,
    social_housing,
    social_housing_stock,
)


@pytest.fixture
def zones():
    return gpd.GeoDataFrame(
        {"code_qpv": ["QA", "QB"], "P20_RP": [4.0, 0.0], "P20_POP": [10.0, np.nan]},
        geometry=[sq(0, 0, 100, 100), sq(200, 0, 300, 100)], crs=2154,
    ).set_index("code_qpv")


@pytest.fixture
def territory():
    return gpd.GeoDataFrame({"siren_epci": ["246200364"]}, geometry=[sq(0, 0, 1000, 1000)],
                            crs=2154)


@pytest.fixture
def rpls():
    return gpd.GeoDataFrame(
        {
            "construct_year": [1930, 1960, 2005, None, 1980, 1995, 2010],
            "finan_code": ["52", "13", "10", "77", None, "14", "16"],
            "nb_pieces": [1, 3, 6, 2, 0, 4, 5],
            "dpe_energie": ["A", "g", " ", "F", "D", "X", "C"],
            "MODE": ["1", "2", "1", "3", "1", "1", "2"],
        },
        geometry=[pt(10, 10), pt(20, 20), pt(30, 30), pt(250, 50), pt(500, 500),
                  pt(600, 600), pt(5000, 5000)],
        crs=2154,
    )


# ---------------------------------------------------------------------------- classifiers

def test_construction_era_bins():
    years = pd.Series([1948, 1949, 1974, 1975, 1989, 1990, 2000, 2001, 2023, 1200, None, "x"])
    assert construction_era(years, max_year=2030).tolist() == [
        "avant_1949", "1949_1974", "1949_1974", "1975_1989", "1975_1989", "1990_2000",
        "1990_2000", "2001_et_apres", "2001_et_apres", None, None, None]
    assert era_labels() == ["avant_1949", "1949_1974", "1975_1989", "1990_2000",
                            "2001_et_apres"]
    with pytest.raises(ValueError):
        era_labels((1975, 1949))


def test_financing_groups_and_unknown_codes():
    codes = pd.Series(["10", 13, "52", 14.0, "99", "", None, "77"])
    with pytest.warns(DataQualityWarning, match="77"):
        out = financing_group(codes)
    assert out.tolist() == ["plai", "plus", "hlm_avant_1977", "pls", "autre_avant_1977", None,
                            None, "inconnu"]
    assert FINANCING["code"].is_unique
    assert set(FINANCING.loc[FINANCING["period"] == "avant 1977", "code"]) == {
        "50", "51", "52", "53", "54", "55", "99"}


def test_size_and_dpe():
    assert dwelling_size(pd.Series([1, 2, 4, 5, 7, 0, None, 2.5])).tolist() == [
        "t1", "t2", "t4", "t5p", "t5p", None, None, None]
    assert dpe_class(pd.Series(["a", " G ", "", None, "H", "NC"])).tolist() == [
        "A", "G", None, None, None, None]


# ---------------------------------------------------------------------------- stock

def test_social_housing_stock_by_hand(rpls, zones, territory):
    before = rpls.copy()
    with pytest.warns(DataQualityWarning, match="1 of 7 RPLS dwellings lie outside the terr"):
        out = social_housing_stock(rpls, zones, main_residences="P20_RP", population="P20_POP",
                                   territory=territory)
    assert_result(out, zones.index)
    pd.testing.assert_frame_equal(rpls, before)
    assert out["rpls_count"].tolist() == [3, 1]
    assert out.loc["QA", "rpls_share_of_rp"] == pytest.approx(3 / 4)
    assert np.isnan(out.loc["QB", "rpls_share_of_rp"])
    assert out.loc["QB", "rpls_share_of_rp_missing_reason"] == "zero"
    assert out["area_ha"].tolist() == pytest.approx([100 * 100 / 1e4] * 2)
    assert out["rpls_per_ha"].tolist() == pytest.approx([3 / 1, 1 / 1])
    assert out.loc["QA", "rpls_per_1000_inhab"] == pytest.approx(3 / 10 * 1000)
    assert out.loc["QB", "rpls_per_1000_inhab_missing_reason"] == "missing"
    # territory stock: d0..d5 = 6 dwellings; QA holds 3, QB 1
    assert out["territory_rpls_count"].tolist() == [6, 6]
    assert out["rpls_share_of_territory"].tolist() == pytest.approx([3 / 6, 1 / 6])
    # vacancy: QA modes 1, 2, 1 → 1 vacant of 2 + 1 offered; QB mode 3 only (not offered)
    assert out.loc["QA", "rpls_vacancy_share"] == pytest.approx(1 / (2 + 1))
    assert out.loc["QB", "rpls_empty_count"] == 1
    assert out.loc["QB", "rpls_vacancy_missing_reason"] == "no_dwelling_offered"
    assert out.attrs["qpvgeo"]["rpls_outside_territory"] == 1
    assert not out["rp_is_estimate"].any()


def test_stock_denominators_as_series_and_estimate_flags(rpls, zones, territory):
    rp = pd.Series({"QB": 2.0, "QA": 6.0})  # other order: aligned by label
    z = zones.assign(is_estimate=[True, False], P20_RP_is_estimate=[False, True])
    with pytest.warns(DataQualityWarning):
        out = social_housing_stock(rpls, z, main_residences=rp, territory=territory,
                                   main_residences_is_estimate="is_estimate")
    assert out["rpls_share_of_rp"].tolist() == pytest.approx([3 / 6, 1 / 2])
    assert out["rp_is_estimate"].tolist() == [True, False]
    assert out["rpls_per_1000_inhab_missing_reason"].tolist() == ["not_given"] * 2
    # by default the companion column of the named denominator is used
    with pytest.warns(DataQualityWarning):
        out = social_housing_stock(rpls, z, main_residences="P20_RP", territory=territory)
    assert out["rp_is_estimate"].tolist() == [False, True]


def test_stock_without_territory_uses_all_located_dwellings(rpls, zones):
    with pytest.warns(DataQualityWarning, match="3 of 7 RPLS dwellings lie outside every zone"):
        out = social_housing_stock(rpls, zones)
    assert out["territory_rpls_count"].iloc[0] == 7
    assert out["rpls_share_of_territory"].tolist() == pytest.approx([3 / 7, 1 / 7])


def test_stock_keeps_caller_index_order_and_any_crs(rpls, zones, territory):
    rev = zones.iloc[::-1].to_crs(4326)
    with pytest.warns(DataQualityWarning):
        out = social_housing_stock(rpls.to_crs(3950), rev, territory=territory)
    assert_result(out, rev.index)
    assert out["rpls_count"].tolist() == [1, 3]
    assert out["area_ha"].tolist() == pytest.approx([1.0, 1.0], rel=1e-3)


# ---------------------------------------------------------------------------- identifiers

def test_identical_rows_without_identifier_are_distinct_dwellings(zones):
    two = gpd.GeoDataFrame({"nb_pieces": [3, 3]}, geometry=[pt(10, 10)] * 2, crs=2154)
    with pytest.warns(DataQualityWarning):  # composition: no year/finan/dpe columns
        out = social_housing(two, zones)
    assert out.loc["QA", "rpls_count"] == 2
    assert out.loc["QA", "size_t3_count"] == 2


def test_duplicate_identifiers_raise_or_drop(rpls, zones, territory):
    dup = rpls.assign(rpls_id=["a", "b", "b", "c", "d", "e", "f"])
    with pytest.raises(DuplicateKeyError, match="rpls_id"):
        social_housing_stock(dup, zones, territory=territory)
    with pytest.warns(DataQualityWarning) as rec:
        out = social_housing_stock(dup, zones, territory=territory, duplicates="drop")
    assert any("1 row(s) with a duplicated rpls_id dropped" in str(w.message) for w in rec)
    assert out.loc["QA", "rpls_count"] == 2
    assert out.attrs["qpvgeo"]["rpls_duplicates_dropped"] == 1
    p = prepare_rpls(rpls.assign(ident=["1", "2", "3", "4", "5", "6", "7"]), id_col="ident")
    assert len(p) == 7
    with pytest.raises(SchemaError):
        prepare_rpls(rpls, id_col="nope")


# ---------------------------------------------------------------------------- composition

def test_rpls_composition_by_hand(rpls, zones, territory):
    with pytest.warns(DataQualityWarning) as rec:
        out = rpls_composition(rpls, zones, territory=territory)
    assert any("financing code not in the RPLS nomenclature (77)" in str(w.message)
               for w in rec)
    qa, qb = out.loc["QA"], out.loc["QB"]
    # eras in QA: 1930, 1960, 2005 → one each of avant_1949, 1949_1974, 2001_et_apres
    assert qa["era_avant_1949_share"] == pytest.approx(1 / 3)
    assert qa["era_1975_1989_count"] == 0
    assert qa["era_2001_et_apres_share"] == pytest.approx(1 / 3)
    assert (qb["era_known_count"], qb["era_unknown_count"]) == (0, 1)
    assert np.isnan(qb["era_avant_1949_share"])
    # financing QA: 52 (HLM/O, before 1977), 13 (PLUS), 10 (PLAI)
    assert qa["finan_plai_share"] == qa["finan_plus_share"] == pytest.approx(1 / 3)
    assert qa["finan_avant_1977_share"] == pytest.approx(1 / 3)
    # QB: code 77 is outside the nomenclature → unknown, not a share of known values
    assert (qb["finan_inconnu_count"], qb["finan_unknown_count"], qb["finan_known_count"]) == (
        1, 1, 0)
    # sizes QA: 1, 3, 6 rooms → T1, T3, T5+
    assert [qa["size_t1_count"], qa["size_t3_count"], qa["size_t5p_count"]] == [1, 1, 1]
    # DPE QA: A, g, blank → known 2, unknown 1; F or G among known = 1/2
    assert (qa["dpe_known_count"], qa["dpe_unknown_count"]) == (2, 1)
    assert qa["dpe_a_share"] == pytest.approx(1 / 2)
    assert qa["dpe_unknown_share"] == pytest.approx(1 / 3)
    assert qa["dpe_fg_share"] == pytest.approx(1 / 2)
    # counts add up per block
    for block in ("era", "finan", "size", "dpe"):
        assert (out[f"{block}_known_count"] + out[f"{block}_unknown_count"]).tolist() == \
            out["rpls_count"].tolist()


def test_composition_official_column_names_and_custom_eras(rpls, zones, territory):
    raw = rpls.rename(columns={"construct_year": "CONSTRUCT", "finan_code": "FINAN",
                               "nb_pieces": "NBPIECE", "dpe_energie": "DPEENERGIE"})
    with pytest.warns(DataQualityWarning):
        out = rpls_composition(raw, zones, territory=territory, era_breaks=(1949, 1990))
    assert out.loc["QA", "era_1949_1989_count"] == 1
    assert out.loc["QA", "size_t5p_count"] == 1


def test_social_housing_combines_and_warns_once(rpls, zones, territory):
    with pytest.warns(DataQualityWarning) as rec:
        out = social_housing(rpls, zones, main_residences="P20_RP", territory=territory)
    msgs = [str(w.message) for w in rec]
    assert sum("outside the territory" in m for m in msgs) == 1
    assert sum("77" in m for m in msgs) == 1
    assert list(out.columns).count("rpls_count") == 1
    assert {"rpls_share_of_rp", "era_avant_1949_share", "dpe_fg_share"} <= set(out.columns)


def test_illustrative_source_is_carried(rpls, zones, territory):
    with pytest.warns(DataQualityWarning):
        out = social_housing_stock(rpls.assign(source="illustratif"), zones,
                                   territory=territory)
    assert (out["source"] == "illustratif").all()
    assert out.attrs["qpvgeo"]["source"] == "illustratif"


# ---------------------------------------------------------------------------- quality

@pytest.fixture
def adjacent_zones():
    return gpd.GeoDataFrame({"code_qpv": ["QA", "QB"]},
                            geometry=[sq(0, 0, 100, 100), sq(100, 0, 200, 100)],
                            crs=2154).set_index("code_qpv")


def test_housing_quality_polygons_by_hand(adjacent_zones):
    """Bon [0,50]×[0,100] 10 dw; Médiocre [50,150]×[0,100] 20 dw (half in each zone);
    MAUVAIS [150,200]×[0,50] 8 dw; '??' [150,200]×[50,100] 5 dw."""
    q = gpd.GeoDataFrame(
        {"classe": ["Bon", "Médiocre", "MAUVAIS", "??"], "nb_logts": [10, 20, 8, 5]},
        geometry=[sq(0, 0, 50, 100), sq(50, 0, 150, 100), sq(150, 0, 200, 50),
                  sq(150, 50, 200, 100)], crs=2154)
    with pytest.warns(DataQualityWarning, match="inconnu"):
        out = housing_quality(q, adjacent_zones, dwellings_col="nb_logts")
    assert_result(out, adjacent_zones.index)
    qa, qb = out.loc["QA"], out.loc["QB"]
    assert qa["quality_bon_dwellings"] == 10
    assert qa["quality_mediocre_dwellings"] == pytest.approx(20 * 5000 / 10000)
    assert qa["quality_mediocre_area_m2"] == pytest.approx(50 * 100)
    assert qa["quality_poor_dwellings_share"] == pytest.approx(10 / (10 + 10))
    assert qb["quality_mauvais_area_m2"] == pytest.approx(50 * 50)
    assert qb["quality_inconnu_dwellings"] == 5
    assert qb["quality_classed_dwellings"] == pytest.approx(10 + 8)
    assert qb["quality_poor_dwellings_share"] == pytest.approx((10 + 8) / 18)
    assert qb["quality_poor_area_share"] == pytest.approx((5000 + 2500) / 7500)
    assert out["quality_dwellings_is_estimate"].all()
    assert out.attrs["qpvgeo"]["quality_features_outside_zones"] == 0


def test_housing_quality_points_and_missing_dwellings(adjacent_zones):
    q = gpd.GeoDataFrame({"etat": ["bon", "mauvais", "moyen", "bon"], "logts": [4, 1, 3, 9],
                          "surf": [400.0, 100.0, 300.0, 900.0]},
                         geometry=[pt(10, 10), pt(20, 20), pt(150, 50), pt(900, 900)],
                         crs=2154)
    out = housing_quality(q, adjacent_zones, class_col="etat", dwellings_col="logts",
                          area_col="surf")
    assert out.loc["QA", "quality_poor_dwellings_share"] == pytest.approx(1 / 5)
    assert out.loc["QA", "quality_poor_area_share"] == pytest.approx(100 / 500)
    assert out.loc["QB", "quality_poor_dwellings_share"] == 0
    assert not out["quality_dwellings_is_estimate"].any()
    assert out.attrs["qpvgeo"]["quality_features_outside_zones"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nod = housing_quality(q, adjacent_zones, class_col="etat", area_col="surf")
    assert nod["quality_poor_dwellings_share"].isna().all()
    assert (nod["quality_missing_reason"] == "no_dwellings_column").all()
    with pytest.raises(SchemaError, match="classe"):
        housing_quality(q, adjacent_zones)


def test_territory_row(rpls, zones, territory):
    terr = territory.assign(P20_RP=20.0)
    with pytest.warns(DataQualityWarning):
        out = social_housing(rpls, zones, main_residences="P20_RP", population="P20_POP",
                             territory=terr, territory_row=True)
    assert list(out.index) == ["QA", "QB", "territory"]
    t = out.loc["territory"]
    # d0..d5 lie in the territory; its main residences come from its own layer (20)
    assert t["rpls_count"] == 6
    assert t["rpls_share_of_rp"] == pytest.approx(6 / 20)
    assert t["rpls_share_of_territory"] == 1
    assert t["area_ha"] == pytest.approx(1000 * 1000 / 1e4)
    assert t["rpls_per_1000_inhab_missing_reason"] == "not_given"  # no P20_POP in territory
    assert t["era_known_count"] == 5  # d3 has no year
    assert out.loc["QA", "rpls_count"] == 3
    q = gpd.GeoDataFrame({"classe": ["mauvais", "bon"], "nb_logts": [3, 1]},
                         geometry=[sq(0, 0, 10, 10), sq(500, 500, 510, 510)], crs=2154)
    qt = housing_quality(q, zones, dwellings_col="nb_logts", territory=territory,
                         territory_row=True)
    assert qt.loc["territory", "quality_poor_dwellings_share"] == pytest.approx(3 / 4)
    assert qt.loc["QA", "quality_poor_dwellings_share"] == 1
    with pytest.raises(SchemaError, match="territory="):
        housing_quality(q, zones, dwellings_col="nb_logts", territory_row=True)


# ---------------------------------------------------------------------------- demo territory

@pytest.fixture(scope="module")
def demo():
    from qpvgeo import datasets

    return datasets.load_demo(["qpv", "epci", "rpls", "housing_quality", "qpv_indicators_2020",
                               "logement_2020"])


@pytest.mark.slow
def test_demo_housing_tables_for_every_qpv_and_the_territory(demo):
    qpv = demo["qpv"].set_index("code_qpv")
    terr = demo["epci"].loc[demo["epci"]["siren_epci"] == "246200364"]
    terr = terr.assign(P20_RP=demo["logement_2020"]["P20_RP"].sum())
    ind = demo["qpv_indicators_2020"].set_index("code_qpv")
    rp = pd.concat([ind["P20_RP"], pd.Series({"territory": terr["P20_RP"].iloc[0]})])
    rpls = demo["rpls"]
    with pytest.warns(DataQualityWarning, match="outside the territory"):
        out = social_housing(rpls, qpv, main_residences=rp, population=ind["P20_POP"],
                             territory=terr, territory_row=True, name="rpls")
    assert list(out.index) == [*qpv.index, "territory"]
    assert (out["source"] == "illustratif").all()
    q = out.drop(index="territory")
    # per-QPV counts equal the file's own QPV code (PLG_QP24, read as code_qpv)
    by_code = rpls["code_qpv"].value_counts().reindex(qpv.index, fill_value=0)
    assert q["rpls_count"].tolist() == by_code.astype(float).tolist()
    # peer check: geopandas spatial join
    j = gpd.sjoin(rpls[["geometry"]], qpv[["geometry"]], predicate="within")
    assert q["rpls_count"].tolist() == j["code_qpv"].value_counts().reindex(
        qpv.index, fill_value=0).astype(float).tolist()
    t = out.loc["territory"]
    assert t["rpls_share_of_territory"] == 1
    assert q["rpls_share_of_territory"].sum() == pytest.approx(q["rpls_count"].sum()
                                                              / t["rpls_count"])
    assert q["rpls_share_of_rp"].notna().all()
    assert t["rpls_share_of_rp"] == pytest.approx(t["rpls_count"] / terr["P20_RP"].iloc[0])
    for block in ("era", "finan", "size", "dpe"):
        assert (out[f"{block}_known_count"] + out[f"{block}_unknown_count"]
                == out["rpls_count"]).all()
    hq = housing_quality(demo["housing_quality"], qpv, dwellings_col="nb_logts",
                         territory=terr, territory_row=True, name="qualite")
    assert list(hq.index) == [*qpv.index, "territory"]
    assert (hq["quality_classed_dwellings"] > 0).all()
    assert hq["quality_poor_dwellings_share"].between(0, 1).all()

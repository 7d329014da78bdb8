"""Tests of qpvgeo.economy on hand-worked fixtures (Lambert-93, whole metres).

Zones QA = [0,100]² (1,000 inhabitants) and QB = [200,300]×[0,100] (0 inhabitants).

    siret  position   created     NAF     cat.  2017  2023   zone
    1      (10,10)    2017-03-01  47.11Z  1000  A     A      QA   commerce
    2      (20,20)    2010-01-01  86.21Z  5710  A     A      QA   santé
    3      (250,50)   2017-06-01  41.20A  1000  A     F      QB   construction
    4      (30,30)    2017-01-01  56.10A  1000  F     F      QA   restauration
    5      (40,40)    2023-02-01  47.11Z  1000  —     A      QA
    6      (50,50)    2023-05-05  62.01Z  5499  —     A      QA   services
    7      (60,60)    2023-07-07  49.41A  1000  —     A      QA   transport
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _helpers import assert_result, pt, sq

from qpvgeo.economy import (
    SECTOR_LEVELS,
    creations,
    economic_activity,
    establishment_change,
    naf_section,
    naf_sector,
    sector_mix,
)
from qpvgeo.errors import DataQualityWarning, DuplicateKeyError, SchemaError


@pytest.fixture
def zones():
    return gpd.GeoDataFrame({"code_qpv": ["QA", "QB"], "pop": [1000.0, 0.0]},
                            geometry=[sq(0, 0, 100, 100), sq(200, 0, 300, 100)],
                            crs=2154).set_index("code_qpv")


@pytest.fixture
def stock2017():
    return gpd.GeoDataFrame(
        {"siret": ["1", "2", "3", "4"],
         "creation_date": ["2017-03-01", "2010-01-01", "2017-06-01", "2017-01-01"],
         "naf": ["47.11Z", "86.21Z", "41.20A", "56.10A"],
         "categorie_juridique": ["1000", "5710", "1000", "1000"],
         "etat": ["A", "A", "A", "F"]},
        geometry=[pt(10, 10), pt(20, 20), pt(250, 50), pt(30, 30)], crs=2154)


@pytest.fixture
def stock2023():
    return gpd.GeoDataFrame(
        {"siret": ["1", "2", "3", "4", "5", "6", "7"],
         "creation_date": ["2017-03-01", "2010-01-01", "2017-06-01", "2017-01-01",
                           "2023-02-01", "2023-05-05", "2023-07-07"],
         "naf": ["47.11Z", "86.21Z", "41.20A", "56.10A", "47.11Z", "62.01Z", "49.41A"],
         "categorie_juridique": ["1000", "5710", "1000", "1000", "1000", "5499", "1000"],
         "etat": ["A", "A", "F", "F", "A", "A", "A"]},
        geometry=[pt(10, 10), pt(20, 20), pt(250, 50), pt(30, 30), pt(40, 40), pt(50, 50),
                  pt(60, 60)], crs=2154)


def test_naf_sections_and_levels():
    naf = pd.Series(["86.21Z", "4711D", "01.11Z", "34.10Z", "", None, "99.00Z", "84.11Z",
                     "35.11Z", "68.20A"])
    assert naf_section(naf).tolist() == ["Q", "G", "A", None, None, None, "U", "O", "D", "L"]
    assert naf_sector(naf, "a10").tolist()[:3] == ["oq", "gi", "az"]
    assert naf_sector(naf, "a5").tolist()[9] == "gu"
    assert naf_sector(naf).tolist()[:3] == ["administration_enseignement_sante",
                                            "commerce_transport_hebergement_restauration",
                                            "agriculture"]
    # a NAF rév. 1 code is not mapped with the rév. 2 table
    nom = pd.Series(["NAFRev2", "NAFRev1", "NAFRev2", "NAFRev2", "", None, "NAFRev2",
                     "NAFRev2", "NAFRev2", "NAFRev2"])
    assert naf_section(naf, nom).tolist()[1] is None
    # every section has a group at every level
    for level in SECTOR_LEVELS.values():
        assert set(level) == set("ABCDEFGHIJKLMNOPQRSTU")
    with pytest.raises(ValueError):
        naf_sector(naf, "a38")


def test_establishment_change_by_hand(stock2017, stock2023, zones):
    before = stock2017.copy()
    out = establishment_change(stock2017, stock2023, zones, year0=2017, year1=2023)
    assert_result(out, zones.index)
    pd.testing.assert_frame_equal(stock2017, before)
    # active 2017: QA {1, 2}, QB {3}; active 2023: QA {1, 2, 5, 6, 7}, QB {}
    assert out["estab_2017_count"].tolist() == [2, 1]
    assert out["estab_2023_count"].tolist() == [5, 0]
    assert out.loc["QA", "estab_change_share"] == pytest.approx((5 - 2) / 2)
    assert out.loc["QB", "estab_change_share"] == pytest.approx((0 - 1) / 1)
    # secret: 1 or 2 units are flagged; zero is not a secret
    assert out["estab_2017_count_secret"].tolist() == [True, True]
    assert out["estab_2023_count_secret"].tolist() == [False, False]


def test_establishment_change_masks_secret_as_nan_not_zero(stock2017, stock2023, zones):
    out = establishment_change(stock2017, stock2023, zones, year0=2017, year1=2023,
                               mask_secret=True)
    assert out["estab_2017_count"].isna().all()
    assert out["estab_change_share"].isna().all()
    assert out.loc["QA", "estab_2023_count"] == 5
    assert out.loc["QB", "estab_2023_count"] == 0


def test_establishment_change_zero_at_start_is_missing_with_reason(stock2023, zones):
    empty0 = stock2023.iloc[[1]]  # siret 2 only, in QA
    out = establishment_change(empty0, stock2023, zones, year0=2017, year1=2023)
    assert np.isnan(out.loc["QB", "estab_change_share"])
    assert out.loc["QB", "estab_change_missing_reason"] == "zero"


def test_creations_by_hand(stock2017, stock2023, zones):
    out = creations([stock2017, stock2023], zones, years=[2017, 2023], population="pop")
    # created 2017: QA {1, 4}, QB {3} (4 is closed but still a 2017 creation)
    assert out["creations_2017_count"].tolist() == [2, 1]
    assert out["creations_2023_count"].tolist() == [3, 0]
    assert out.loc["QA", "creations_2023_ei_share"] == pytest.approx(2 / 3)
    assert out.loc["QA", "creations_2023_per_inhab"] == pytest.approx(3 / 1000)
    assert out.loc["QB", "creations_2023_per_inhab_missing_reason"] == "zero"
    assert out.loc["QA", "creations_change_share"] == pytest.approx((3 - 2) / 2)
    # the same with the latest stock alone (it keeps closed establishments)
    alone = creations(stock2023, zones, years=[2017, 2023])
    assert alone["creations_2017_count"].tolist() == [2, 1]
    assert out.attrs["qpvgeo"]["years"] == [2017, 2023]


def test_creations_default_years_and_missing_legal_category(stock2023, zones):
    with pytest.warns(DataQualityWarning, match="legal-category"):
        out = creations(stock2023.drop(columns="categorie_juridique"), zones)
    assert {"creations_2010_count", "creations_2023_count"} <= set(out.columns)
    assert out["creations_2023_ei_share"].isna().all()


def test_sector_mix_by_hand(stock2023, zones):
    out = sector_mix(stock2023, zones)
    # active 2023 in QA: 47.11Z, 86.21Z, 47.11Z, 62.01Z, 49.41Z → GI 3, OQ 1, services 1
    qa = out.loc["QA"]
    assert qa["sector_commerce_transport_hebergement_restauration_share"] == pytest.approx(3 / 5)
    assert qa["sector_services_count"] == 1
    assert qa["sector_administration_enseignement_sante_share"] == pytest.approx(1 / 5)
    assert qa["sector_known_count"] == 5
    assert np.isnan(out.loc["QB", "sector_services_share"])
    a10 = sector_mix(stock2023, zones, level="a10", prefix="a10")
    assert a10.loc["QA", "a10_gi_count"] == 3
    assert a10.loc["QA", "a10_jz_count"] == 1


def test_official_column_names(stock2023, zones):
    raw = stock2023.rename(columns={
        "creation_date": "dateCreationEtablissement", "naf": "activitePrincipaleEtablissement",
        "categorie_juridique": "categorieJuridiqueUniteLegale",
        "etat": "etatAdministratifEtablissement"})
    assert sector_mix(raw, zones)["sector_known_count"].tolist() == [5, 0]
    assert creations(raw, zones, years=[2023])["creations_2023_ei_count"].tolist() == [2, 0]


def test_duplicated_siret(stock2023, zones):
    dup = pd.concat([stock2023, stock2023.iloc[[0]]])
    with pytest.raises(DuplicateKeyError, match="siret"):
        sector_mix(dup, zones)
    with pytest.warns(DataQualityWarning, match="duplicated siret"):
        out = sector_mix(dup, zones, duplicates="drop")
    assert out.loc["QA", "sector_known_count"] == 5


def test_bad_inputs(stock2023, zones):
    with pytest.raises(SchemaError, match="naf"):
        sector_mix(stock2023.drop(columns="naf"), zones)
    with pytest.raises(SchemaError, match="year0"):
        establishment_change(stock2023, stock2023, zones)


def test_points_outside_are_reported(stock2023, zones):
    far = pd.concat([stock2023, gpd.GeoDataFrame(
        {"siret": ["9"], "creation_date": ["2023-01-01"], "naf": ["47.11Z"],
         "categorie_juridique": ["1000"], "etat": ["A"]}, geometry=[pt(9000, 9000)],
        crs=2154)])
    with pytest.warns(DataQualityWarning, match="1 of 6 establishments lie outside every zone"):
        out = sector_mix(far, zones)
    assert out.attrs["qpvgeo"]["estab_outside_zones"] == 1


def test_economic_activity_combines(stock2017, stock2023, zones):
    out = economic_activity(stock2017, stock2023, zones, year0=2017, year1=2023,
                            population="pop")
    assert_result(out, zones.index)
    assert {"estab_change_share", "creations_2023_per_inhab",
            "sector_2017_construction_count", "sector_2023_services_share"} <= set(out.columns)
    assert out.loc["QB", "sector_2017_construction_count"] == 1


def test_territory_row(stock2017, stock2023, zones):
    terr = gpd.GeoDataFrame({"pop": [5000.0]}, geometry=[sq(0, 0, 1000, 1000)], crs=2154)
    out = economic_activity(stock2017, stock2023, zones, year0=2017, year1=2023,
                            population="pop", territory=terr, territory_row=True)
    assert list(out.index) == ["QA", "QB", "territory"]
    t = out.loc["territory"]
    # active: 2017 {1, 2, 3} → 2023 {1, 2, 5, 6, 7}
    assert (t["estab_2017_count"], t["estab_2023_count"]) == (3, 5)
    assert t["estab_change_share"] == pytest.approx((5 - 3) / 3)
    assert t["creations_2023_per_inhab"] == pytest.approx(3 / 5000)


# ---------------------------------------------------------------------------- demo territory

@pytest.fixture(scope="module")
def demo():
    from qpvgeo import datasets

    return datasets.load_demo(["qpv", "epci", "sirene_2017", "sirene_2023",
                               "qpv_indicators_2020", "pop_2020"])


@pytest.mark.slow
def test_demo_economy_tables_for_every_qpv_and_the_territory(demo):
    qpv = demo["qpv"].set_index("code_qpv")
    terr = demo["epci"].loc[demo["epci"]["siren_epci"] == "246200364"]
    terr = terr.assign(P20_POP=demo["pop_2020"]["P20_POP"].sum())
    pop = demo["qpv_indicators_2020"].set_index("code_qpv")["P20_POP"]
    pop["territory"] = terr["P20_POP"].iloc[0]  # a Series gives the territory by its label
    s17, s23 = demo["sirene_2017"], demo["sirene_2023"]
    with pytest.warns(DataQualityWarning, match="outside the territory"):
        out = economic_activity(s17, s23, qpv, year0=2017, year1=2023, population=pop,
                                territory=terr, territory_row=True)
    assert list(out.index) == [*qpv.index, "territory"]
    q = out.drop(index="territory")
    # peer check: active establishments per QPV by a geopandas spatial join
    act = s23.loc[s23["etat"] == "A", ["geometry"]]
    j = gpd.sjoin(act, qpv[["geometry"]], predicate="within")["code_qpv"].value_counts()
    assert q["estab_2023_count"].tolist() == j.reindex(qpv.index, fill_value=0).astype(
        float).tolist()
    t = out.loc["territory"]
    assert t["estab_2023_count"] >= q["estab_2023_count"].sum()
    assert t["creations_2023_per_inhab"] == pytest.approx(
        t["creations_2023_count"] / terr["P20_POP"].iloc[0])
    for y in (2017, 2023):
        assert (out[f"sector_{y}_known_count"] + out[f"sector_{y}_unknown_count"]
                == out[f"estab_{y}_count"]).all()
    assert out["creations_2023_ei_share"].between(0, 1).all()


def test_creation_shares_missing_with_their_reason(stock2017, stock2023, zones):
    out = creations([stock2017, stock2023], zones, years=[2017, 2023])
    # QB: no creation in 2023 → the micro-entrepreneur share is 0 / 0: missing, with "zero"
    assert np.isnan(out.loc["QB", "creations_2023_ei_share"])
    assert out.loc["QB", "creations_2023_ei_share_missing_reason"] == "zero"
    assert pd.isna(out.loc["QA", "creations_2023_ei_share_missing_reason"])
    with pytest.warns(DataQualityWarning, match="legal-category"):
        no_cat = creations(stock2023.drop(columns="categorie_juridique"), zones, years=[2023])
    assert (no_cat["creations_2023_ei_share_missing_reason"] == "no_legal_category").all()

"""Tests of qpvgeo.indicators on hand-worked fixtures (3 QPV + territory, 4 IRIS at 2 dates).

Fixture "portrait" (vintage 2020), values chosen so every expected figure is simple arithmetic:

    zone  (index)  official QPV table                           IRIS estimates
    Cité A  (10)   POP 1000, POP1564 600, ACTOCC 300,            POP 990, POP1564 600, ACTOCC 290
                   DISP_MED 11000, DISP_TP60 60 %
    Cité B  (20)   POP 2000, POP1564 1200, ACTOCC 480,           POP 2010, POP1564 1200, ACTOCC 470
                   DISP_MED 10000, DISP_TP60 secret
    Cité C  (30)   (absent)                                      POP 500, POP1564 300, ACTOCC 165
    CALL           IRIS sum: POP 6000+4000, POP1564 3600+2400, ACTOCC 2000+1300;
                   official DISP_MED 17000, DISP_TP60 36 %
"""

from __future__ import annotations

import contextlib
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from qpvgeo import indicators as ind
from qpvgeo.errors import (
    CodeFormatError,
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    InputFileError,
    SchemaError,
)
from qpvgeo.indicators import (
    HIGHER_BETTER,
    HIGHER_WORSE,
    NEUTRAL,
    Indicator,
    compute_indicators,
    format_number,
    format_value,
    gap_evolution,
    gap_summary,
    portrait_table,
    ratio_phrase,
    read_reference_table,
    territory_indicators,
    zone_indicators,
)

THIN = "\u202f"
NBSP = "\u00a0"


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------

@pytest.fixture
def zones():
    return pd.DataFrame({"code_qpv": ["QN06201M", "QN06202M", "QN06203M"],
                         "nom_qpv": ["Cité A", "Cité B", "Cité C"]}, index=[10, 20, 30])


@pytest.fixture
def official():
    return pd.DataFrame({
        "code_qpv": ["QN06201M", "QN06202M"],
        "P20_POP": [1000.0, 2000.0], "P20_POP1564": [600.0, 1200.0],
        "P20_ACTOCC1564": [300.0, 480.0], "DISP_MED20": [11000.0, 10000.0],
        "DISP_TP6020": [60.0, np.nan], "source": ["qpv_2020.csv", "qpv_2020.csv"],
        "secret_vars": ["", "DISP_TP6020"],
    })


@pytest.fixture
def estimates():
    return pd.DataFrame({
        "code_qpv": ["QN06201M", "QN06202M", "QN06203M"],
        "P20_POP": [990.0, 2010.0, 500.0], "P20_POP1564": [600.0, 1200.0, 300.0],
        "P20_ACTOCC1564": [290.0, 470.0, 165.0], "method": "dasymetric:nb_logts",
    })


@pytest.fixture
def territory():
    units = pd.DataFrame({"code_iris": ["624980101", "624980102"],
                          "P20_POP": [6000.0, 4000.0], "P20_POP1564": [3600.0, 2400.0],
                          "P20_ACTOCC1564": [2000.0, 1300.0]})
    return territory_indicators(units, official={"DISP_MED20": 17000.0, "DISP_TP6020": 36.0},
                                vintage=2020, name="CALL", code="246200364")


@pytest.fixture
def values(zones, official, estimates):
    return zone_indicators(zones, official=official, estimates=estimates, vintage=2020)


@pytest.fixture
def references():
    return read_reference_table(pd.DataFrame({
        "level": ["departement", "region", "france", "ensemble_qpv"],
        "name": ["Pas-de-Calais", "Hauts-de-France", "France", "QPV de la CALL"],
        "indicator": ["revenu_median"] * 4,
        "value": ["19110", "20000", "21950", "10500"],
        "vintage": ["2020"] * 4,
        "source": ["INSEE Filosofi"] * 4,
    }))


# ------------------------------------------------------------------------------------------
# catalogue
# ------------------------------------------------------------------------------------------

def test_catalogue_is_data_with_unique_keys():
    cat = ind.catalogue()
    assert cat.index.is_unique
    assert list(cat.index) == [i.key for i in ind.CATALOGUE]
    assert {"label", "unit", "kind", "direction", "numerator", "denominator",
            "value"} <= set(cat.columns)
    emploi = cat.loc["taux_emploi_1564"]
    assert (emploi["numerator"], emploi["denominator"]) == ("P{yy}_ACTOCC1564", "P{yy}_POP1564")
    assert emploi["direction"] == HIGHER_BETTER
    assert cat.loc["revenu_median", "kind"] == "median"
    assert cat.loc["taux_pauvrete", "direction"] == HIGHER_WORSE
    assert cat.loc["population", "kind"] == "count"


def test_indicator_templates_by_vintage():
    sup = ind.get_indicator("part_diplome_sup").variables(2015)
    assert sup["numerator"] == ("P15_NSCOL15P_SUP2+P15_NSCOL15P_SUP34+P15_NSCOL15P_SUP5"
                                "|P15_NSCOL15P_SUP")
    assert ind.get_indicator("revenu_median").variables(2019)["value"] == "DISP_MED19|MED19"


def test_indicator_record_is_validated():
    with pytest.raises(SchemaError, match="unit"):
        Indicator("x", "X", "T", "percent", "ratio", 1, "rp", numerator="A", denominator="B")
    with pytest.raises(SchemaError, match="median needs a value"):
        Indicator("x", "X", "T", "euros", "median", 1, "filosofi")
    with pytest.raises(SchemaError, match="did you mean taux_emploi_1564"):
        ind.get_indicator("taux_emploi_1546")


# ------------------------------------------------------------------------------------------
# compute_indicators
# ------------------------------------------------------------------------------------------

def test_compute_ratio_count_and_sum_of_terms():
    t = pd.DataFrame({"code_iris": ["624980101", "624980102"],
                      "P20_POP": [1000.0, 400.0],
                      "P20_POP0002": [50.0, 10.0], "P20_POP0305": [60.0, 10.0],
                      "P20_POP0610": [100.0, 20.0], "P20_POP1117": [150.0, 30.0],
                      "P20_POP1824": [140.0, 30.0]}, index=["a", "b"])
    before = t.copy()
    out = compute_indicators(t, vintage=2020)
    pd.testing.assert_frame_equal(t, before)
    assert list(out.index) == ["a", "b"]
    assert out.attrs["qpvgeo"]["indicators"] == ["population", "part_moins_25"]
    assert out["population"].tolist() == [1000.0, 400.0]
    assert out.loc["a", "part_moins_25"] == pytest.approx((50 + 60 + 100 + 150 + 140) / 1000)
    assert out.loc["b", "part_moins_25"] == pytest.approx((10 + 10 + 20 + 30 + 30) / 400)
    assert out.loc["a", "part_moins_25_num"] == 500.0
    assert out.loc["a", "part_moins_25_den"] == 1000.0
    assert out.loc["a", "part_moins_25_origin"] == ind.ORIGIN_COMPUTED
    assert out.loc["a", "part_moins_25_vintage"] == 2020
    assert not out["is_illustrative"].any()


def test_alternative_templates_2015_single_sup_column():
    t15 = pd.DataFrame({"P15_NSCOL15P": [1000.0], "P15_NSCOL15P_SUP": [120.0]})
    t20 = pd.DataFrame({"P20_NSCOL15P": [1000.0], "P20_NSCOL15P_SUP2": [50.0],
                        "P20_NSCOL15P_SUP34": [40.0], "P20_NSCOL15P_SUP5": [30.0]})
    a = compute_indicators(t15, vintage=2015, indicators=["part_diplome_sup"])
    b = compute_indicators(t20, vintage=2020, indicators=["part_diplome_sup"])
    assert a["part_diplome_sup"].iloc[0] == pytest.approx(120 / 1000)
    assert b["part_diplome_sup"].iloc[0] == pytest.approx((50 + 40 + 30) / 1000)
    assert "P15_NSCOL15P_SUP" in a["part_diplome_sup_method"].iloc[0]


def test_zero_denominator_and_secret_give_missing_with_reason():
    t = pd.DataFrame({"P20_ACTOCC1564": [0.0, np.nan, 10.0],
                      "P20_POP1564": [0.0, 50.0, 20.0],
                      "secret_vars": ["", "P20_ACTOCC1564", ""]})
    out = compute_indicators(t, vintage=2020, indicators=["taux_emploi_1564"])
    assert np.isnan(out["taux_emploi_1564"].iloc[0])
    assert "dénominateur nul" in out["taux_emploi_1564_missing_reason"].iloc[0]
    assert np.isnan(out["taux_emploi_1564"].iloc[1])
    assert out["taux_emploi_1564_missing_reason"].iloc[1] == (
        "secret statistique (P20_ACTOCC1564)")
    assert out["taux_emploi_1564"].iloc[2] == pytest.approx(10 / 20)
    assert out["taux_emploi_1564_missing_reason"].iloc[2] == ""
    assert not np.isinf(out["taux_emploi_1564"]).any()


def test_published_rate_in_percent_and_weight_reconstructs_numerator():
    t = pd.DataFrame({"DISP_TP6020": [60.0, 40.0], "NBPERSMENFISC20": [1000.0, 3000.0]})
    out = compute_indicators(t, vintage=2020, indicators=["taux_pauvrete"])
    assert out["taux_pauvrete"].tolist() == pytest.approx([0.60, 0.40])
    assert out["taux_pauvrete_num"].tolist() == pytest.approx([0.60 * 1000, 0.40 * 3000])
    assert out["taux_pauvrete_den"].tolist() == [1000.0, 3000.0]


def test_absent_variables_and_text_cells():
    out = compute_indicators(pd.DataFrame({"x": [1.0]}), vintage=2020,
                             indicators=["taux_chomage_1564"])
    assert out["taux_chomage_1564_missing_reason"].iloc[0] == (
        "variables absentes du tableau : P20_CHOM1564, P20_ACT1564")
    with pytest.raises(SchemaError, match="read_insee_table"):
        compute_indicators(pd.DataFrame({"P20_POP": ["12", "s"]}), vintage=2020,
                           indicators=["population"])
    with pytest.raises(SchemaError, match="no vintage"):
        compute_indicators(pd.DataFrame({"P20_POP": [1.0]}), vintage={"filosofi": 2020},
                           indicators=["population"])


# ------------------------------------------------------------------------------------------
# zone_indicators, territory_indicators
# ------------------------------------------------------------------------------------------

def test_zone_indicators_official_first_estimates_fill(values):
    assert list(values.index) == [10, 20, 30]
    assert values["code_qpv"].tolist() == ["QN06201M", "QN06202M", "QN06203M"]
    # official figures used as published (estimates 290/600 ignored for Cité A)
    assert values["taux_emploi_1564"].tolist() == pytest.approx([300 / 600, 480 / 1200,
                                                                 165 / 300])
    assert values["taux_emploi_1564_origin"].tolist() == [
        ind.ORIGIN_OFFICIAL, ind.ORIGIN_OFFICIAL, ind.ORIGIN_ESTIMATE]
    assert values["taux_emploi_1564_is_estimate"].tolist() == [False, False, True]
    assert "dasymetric:nb_logts" in values.loc[30, "taux_emploi_1564_method"]
    assert "zone absente des tableaux officiels" in values.loc[30, "taux_emploi_1564_method"]
    assert values.loc[10, "taux_emploi_1564_source"].endswith("qpv_2020.csv")
    assert values["population"].tolist() == [1000.0, 2000.0, 500.0]
    # the secret poverty rate of Cité B stays missing (no estimate of it), with the reason
    assert values.loc[10, "taux_pauvrete"] == pytest.approx(0.60)
    assert np.isnan(values.loc[20, "taux_pauvrete"])
    assert "secret statistique (DISP_TP6020)" in values.loc[20, "taux_pauvrete_missing_reason"]
    assert "zone absente" in values.loc[30, "revenu_median_missing_reason"]


def test_zone_indicators_without_fill(zones, official, estimates):
    v = zone_indicators(zones, official=official, estimates=estimates, vintage=2020,
                        fill_gaps=False, indicators=["taux_emploi_1564"])
    assert np.isnan(v.loc[30, "taux_emploi_1564"])
    assert v.loc[30, "taux_emploi_1564_missing_reason"] == "zone absente des tableaux officiels"


def test_zone_indicators_bad_keys(zones, official):
    num = official.assign(code_qpv=[1, 2])
    with pytest.raises(CodeFormatError, match="numeric"):
        zone_indicators(zones, official=num, vintage=2020)
    dup = pd.concat([official, official.iloc[[0]]])
    with pytest.raises(DuplicateKeyError, match="QN06201M"):
        zone_indicators(zones, official=dup, vintage=2020)
    with pytest.raises(SchemaError, match=r"computed=\.\.\. and/or estimates"):
        zone_indicators(zones, vintage=2020)


def test_zone_indicators_computed_tables_with_estimate_flags(zones, territory):
    # housing.social_housing_stock-like and health.health_access-like tables, zones' index
    housing = pd.DataFrame({"rpls_count": [800.0, 1500.0, 0.0],
                            "rp_count": [1000.0, 2000.0, 0.0],
                            "rp_is_estimate": [True, True, True]}, index=zones.index)
    health = pd.DataFrame({"medecin_generaliste_inside_count": [2.0, 0.0, 1.0],
                           "pop": [1000.0, 2000.0, 500.0], "pop_is_estimate": False},
                          index=zones.index)
    v = zone_indicators(zones, computed=[housing, health], vintage={"rpls": 2021, "bpe": 2023})
    assert v.attrs["qpvgeo"]["indicators"] == ["logements_sociaux", "part_logements_sociaux",
                                               "medecins_generalistes_pour_10000"]
    assert v["part_logements_sociaux"].iloc[:2].tolist() == pytest.approx([800 / 1000,
                                                                           1500 / 2000])
    assert "dénominateur nul" in v.loc[30, "part_logements_sociaux_missing_reason"]
    assert v["part_logements_sociaux_is_estimate"].tolist() == [True, True, False]
    assert v["part_logements_sociaux_origin"].iloc[0] == ind.ORIGIN_COMPUTED
    assert v["part_logements_sociaux_vintage"].iloc[0] == 2021
    assert v["medecins_generalistes_pour_10000"].tolist() == pytest.approx(
        [2 / 1000 * 10000, 0.0, 1 / 500 * 10000])
    assert not v["medecins_generalistes_pour_10000_is_estimate"].any()
    terr = territory_indicators(pd.DataFrame({"medecin_generaliste_inside_count": [150.0],
                                              "pop": [250000.0]}),
                                vintage={"bpe": 2023}, name="CALL")
    r = portrait_table(v, terr, indicators=["medecins_generalistes_pour_10000"]).iloc[0]
    assert r["territory_value"] == pytest.approx(150 / 250000 * 10000)
    assert r["zones_value"] == pytest.approx((2 + 0 + 1) / (1000 + 2000 + 500) * 10000)
    assert r["zones_text"] == f"8,6{NBSP}pour 10{THIN}000 hab."
    # a QPV without any general practitioner: ratio 0, said in words
    assert r["comparison"] == "De valeur nulle à 3,3 fois plus"


def test_zone_indicators_keeps_geometry_and_flags_illustrative(zones, official):
    gz = gpd.GeoDataFrame(zones, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
                          crs=2154)
    off = official.assign(source="illustratif")
    v = zone_indicators(gz, official=off, vintage=2020, indicators=["taux_emploi_1564"])
    assert isinstance(v, gpd.GeoDataFrame)
    assert v.crs.to_epsg() == 2154
    assert v["is_illustrative"].tolist() == [True, True, False]
    # what the figure stands for, marked as illustrative
    assert v.loc[10, "taux_emploi_1564_source"] == (
        "INSEE, recensement de la population (bases infracommunales IRIS) (données "
        "illustratives)")


def test_territory_sums_units_and_uses_official_median(territory):
    row = territory.iloc[0]
    assert territory.index.tolist() == ["CALL"]
    assert row["taux_emploi_1564"] == pytest.approx((2000 + 1300) / (3600 + 2400))
    assert row["taux_emploi_1564_origin"] == ind.ORIGIN_COMPUTED
    assert "somme sur 2 unités" in row["taux_emploi_1564_method"]
    assert row["population"] == 6000 + 4000
    assert row["revenu_median"] == 17000
    assert row["revenu_median_origin"] == ind.ORIGIN_OFFICIAL_TERRITORY
    assert row["taux_pauvrete"] == pytest.approx(0.36)


def test_territory_from_several_census_bases():
    pop = pd.DataFrame({"code_iris": ["624980101", "624980102"], "P20_POP": [600.0, 400.0],
                        "secret_vars": ["", ""]})
    act = pd.DataFrame({"code_iris": ["624980101", "624980102"],
                        "P20_ACTOCC1564": [200.0, np.nan], "P20_POP1564": [400.0, 250.0],
                        "secret_vars": ["", "P20_ACTOCC1564"]})
    t = territory_indicators([pop, act], vintage=2020, name="CALL")
    assert t["population"].iloc[0] == 600 + 400
    # one IRIS secret: the territory sum is incomplete, so missing, never a partial sum
    assert np.isnan(t["taux_emploi_1564"].iloc[0])
    assert "P20_ACTOCC1564" in t["taux_emploi_1564_missing_reason"].iloc[0]


def test_territory_median_is_never_summed_and_secret_sum_is_missing():
    units = pd.DataFrame({"P20_POP": [100.0, np.nan], "DISP_MED20": [15000.0, 16000.0],
                          "P20_ACTOCC1564": [10.0, 20.0], "P20_POP1564": [20.0, 40.0]})
    t = territory_indicators(units, vintage=2020, indicators=["revenu_median", "population",
                                                               "taux_emploi_1564"])
    assert np.isnan(t["revenu_median"].iloc[0])
    assert "non calculable à partir des IRIS" in t["revenu_median_missing_reason"].iloc[0]
    assert np.isnan(t["population"].iloc[0])
    assert "P20_POP" in t["population_missing_reason"].iloc[0]
    assert t["taux_emploi_1564"].iloc[0] == pytest.approx(30 / 60)


# ------------------------------------------------------------------------------------------
# French formatting
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("x", "dec", "expected"), [
    (17020, 0, f"17{THIN}020"),
    (241645, 0, f"241{THIN}645"),
    (36.1, 1, "36,1"),
    (1.45, 1, "1,5"),          # half up, not banker's rounding
    (1.449, 1, "1,4"),
    (-0.04, 1, "0,0"),
    (-1234.5, 1, f"-1{THIN}234,5"),
    (np.nan, 1, "n.d."),
])
def test_format_number(x, dec, expected):
    assert format_number(x, dec) == expected


def test_format_value_units():
    assert format_value(0.361, "share") == f"36,1{NBSP}%"
    assert format_value(17020.4, "euros") == f"17{THIN}020{NBSP}€"
    assert format_value(55414, "count") == f"55{THIN}414"
    assert format_value(8.25, "per_10000") == f"8,3{NBSP}pour 10{THIN}000 hab."
    assert format_value(None, "share") == "n.d."


@pytest.mark.parametrize(("ratios", "expected"), [
    # median income: CALL 17 020, QPV medians 12 157 and 8 958 (CALL/QPV 1.4 and 1.9)
    ([12157 / 17020, 8958 / 17020], "C'est de 1,4 à 1,9 fois moins"),
    # poverty 53.9 % .. 70.5 % vs 36.1 %: 53.9/36.1 = 1.493, 70.5/36.1 = 1.953 → "2"
    ([53.9 / 36.1, 70.5 / 36.1], "C'est de 1,5 à 2 fois plus"),
    # RSA: lowest QPV at or just above the CALL (rounds to 1), highest 34 / 20.4 = 1.67
    ([20.5 / 20.4, 34 / 20.4], "C'est de l'équivalent à 1,7 fois plus"),
    # … but a QPV slightly below the CALL (20 / 20.4 = 0.98): "jusqu'à"
    ([20 / 20.4, 34 / 20.4], "Jusqu'à 1,7 fois plus"),
    # under 25: 31.3 % .. 42.1 % vs 32.1 %: lowest 0.975 (rounds to 1), highest 1.31
    ([31.3 / 32.1, 42.1 / 32.1], "Jusqu'à 1,3 fois plus"),
    ([0.5, 1.5], "De 2 fois moins à 1,5 fois plus"),
    ([0.8, 1.02], "Jusqu'à 1,3 fois moins"),
    ([1.5, 1.5], "C'est 1,5 fois plus"),
    # beyond 10 times: "plus de 10" (demo, social housing built before 1949: QPV from 0.17 %
    # to 96.2 % vs 64.1 %: 64.1 / 0.17 = 377 times less, 96.2 / 64.1 = 1.50 times more)
    ([0.17 / 64.1, 96.2 / 64.1], "De plus de 10 fois moins à 1,5 fois plus"),
    ([3.0, 40.0], "C'est de 3 à plus de 10 fois plus"),
    ([12.0, 40.0], "C'est plus de 10 fois plus"),
    ([10.04, 1.2], "C'est de 1,2 à 10 fois plus"),  # 10.04 rounds to 10: not capped
    ([1.01], "C'est l'équivalent"),
    ([], ""),
])
def test_ratio_phrase(ratios, expected):
    assert ratio_phrase(ratios) == expected


# ------------------------------------------------------------------------------------------
# portrait_table
# ------------------------------------------------------------------------------------------

def test_portrait_ratio_of_sums_min_max_and_phrase(values, territory, references):
    p = portrait_table(values, territory, references=references)
    assert list(p.index) == ["population", "revenu_median", "taux_pauvrete",
                             "taux_emploi_1564"]
    e = p.loc["taux_emploi_1564"]
    assert e["territory_value"] == pytest.approx(3300 / 6000)
    # all QPV: Σ actocc / Σ pop1564, never the mean of the three rates
    assert e["zones_value"] == pytest.approx((300 + 480 + 165) / (600 + 1200 + 300))
    assert (e["zones_num"], e["zones_den"]) == (945.0, 2100.0)
    assert (e["min_name"], e["min_value"]) == ("Cité B", pytest.approx(0.4))
    assert (e["max_name"], e["max_code"]) == ("Cité C", "QN06203M")
    assert e["min_text"] == f"Mini : 40,0{NBSP}% pour Cité B"
    # 0.55/0.55 = 1 → "équivalent"; 0.55/0.40 = 1.375 → 1,4
    assert e["comparison"] == "C'est de l'équivalent à 1,4 fois moins"
    assert (e["n_below_territory"], e["n_above_territory"]) == (2, 0)
    assert e["origin"] == "officiel QPV : 2 ; estimation IRIS : 1"
    assert e["is_estimate"]
    assert e["share_zones_estimated"] == pytest.approx(1 / 3)
    assert e["vintage"] == "2020"
    assert e["zones_text"] == f"45,0{NBSP}%"


def test_portrait_count_share_of_territory(values, territory):
    p = portrait_table(values, territory, indicators=["population"])
    r = p.loc["population"]
    assert r["zones_value"] == 1000 + 2000 + 500
    assert r["zones_share_of_territory"] == pytest.approx(3500 / 10000)
    assert r["comparison"] == f"soit 35,0{NBSP}% du total CALL"


def test_portrait_median_from_official_aggregate_and_references(values, territory,
                                                                references):
    r = portrait_table(values, territory, references=references).loc["revenu_median"]
    assert r["zones_value"] == 10500  # the official "ensemble des QPV" figure, not a mean
    assert "valeur officielle" in r["zones_aggregate_method"]
    # CALL/QPV: 17000/11000 = 1.545 → 1,5 ; 17000/10000 = 1.7
    assert r["comparison"] == "C'est de 1,5 à 1,7 fois moins"
    assert (r["ref_departement"], r["ref_region"], r["ref_france"]) == (19110, 20000, 21950)
    assert r["references_text"] == (f"Pas-de-Calais : 19{THIN}110{NBSP}€ ; Hauts-de-France : "
                                    f"20{THIN}000{NBSP}€ ; France : 21{THIN}950{NBSP}€")
    # 21950 / 17000 = 1.29
    assert r["territory_comparison"] == "CALL : 1,3 fois moins que la France"
    assert r["n_zones_with_data"] == 2
    assert r["zones_without_data"] == "Cité C"


def test_portrait_median_without_official_aggregate_is_not_computed(values, territory):
    r = portrait_table(values, territory, indicators=["revenu_median"]).loc["revenu_median"]
    assert np.isnan(r["zones_value"])
    assert "une médiane ne s'additionne ni ne se moyenne" in r["missing_reason"]


def test_portrait_keeps_indicator_the_territory_lacks(values):
    units = pd.DataFrame({"P20_POP": [6000.0, 4000.0], "DISP_MED20": [15000.0, 16000.0]})
    terr = territory_indicators(units, vintage=2020, name="CALL")
    assert "non calculable à partir des IRIS" in terr["revenu_median_missing_reason"].iloc[0]
    p = portrait_table(values, terr)
    assert list(p.index) == ["population", "revenu_median", "taux_pauvrete",
                             "taux_emploi_1564"]
    r = p.loc["taux_emploi_1564"]
    assert np.isnan(r["territory_value"])
    assert "absent du tableau du territoire" in r["missing_reason"]
    assert r["zones_value"] == pytest.approx(945 / 2100)  # zones still summarised
    assert r["comparison"] == ""
    assert "non calculable à partir des IRIS" in p.loc["revenu_median", "missing_reason"]


def test_portrait_territory_value_from_reference_table(values):
    terr = territory_indicators(pd.DataFrame({"P20_POP": [10000.0]}), vintage=2020,
                                name="CALL")
    refs = read_reference_table(pd.DataFrame({
        "level": ["epci", "epci"], "name": ["Call", "CA d'Hénin-Carvin"],
        "indicator": ["revenu_median"] * 2, "value": ["17 020", "18 000"],
        "vintage": ["2020"] * 2, "source": ["INSEE Filosofi EPCI"] * 2}))
    r = portrait_table(values, terr, references=refs).loc["revenu_median"]
    assert r["territory_value"] == 17020  # the CALL's own row (names folded)
    assert "INSEE Filosofi EPCI" in r["source"]
    assert r["ref_epci"] == 18000  # the other EPCI stays a comparison
    assert r["references_text"] == f"CA d'Hénin-Carvin : 18{THIN}000{NBSP}€"
    # 17020 / 11000 = 1.547 → 1,5 ; 17020 / 10000 = 1.702 → 1,7
    assert r["comparison"] == "C'est de 1,5 à 1,7 fois moins"


def test_portrait_published_rates_partial_data(values, territory):
    r = portrait_table(values, territory, indicators=["taux_pauvrete"]).loc["taux_pauvrete"]
    assert r["n_zones"] == 3
    assert r["n_zones_with_data"] == 1
    assert r["zones_without_data"] == "Cité B; Cité C"
    assert np.isnan(r["zones_value"])  # rates without numerator: not aggregated
    assert "les taux sont publiés sans leurs effectifs" in r["missing_reason"]
    assert r["comparison"] == "C'est 1,7 fois plus"  # 0.60 / 0.36


def test_portrait_weighted_rate_aggregates_and_notes_available_zones(territory):
    z = pd.DataFrame({"code_qpv": ["QN06201M", "QN06202M", "QN06203M"],
                      "nom_qpv": ["A", "B", "C"]})
    off = pd.DataFrame({"code_qpv": ["QN06201M", "QN06202M", "QN06203M"],
                        "DISP_TP6020": [60.0, 40.0, np.nan],
                        "NBPERSMENFISC20": [1000.0, 3000.0, 500.0]})
    v = zone_indicators(z, official=off, vintage=2020, indicators=["taux_pauvrete"])
    r = portrait_table(v, territory, indicators=["taux_pauvrete"]).loc["taux_pauvrete"]
    assert r["zones_value"] == pytest.approx((600 + 1200) / (1000 + 3000))
    assert r["zones_text"] == (f"45,0{NBSP}% (sur les 2 QPV dont la donnée est disponible)")
    assert r["zones_without_data"] == "C"


def test_portrait_illustrative_is_labelled(zones, official, territory):
    v = zone_indicators(zones, official=official.assign(source="illustratif"), vintage=2020,
                        indicators=["taux_emploi_1564"])
    r = portrait_table(v, territory).loc["taux_emploi_1564"]
    assert r["is_illustrative"]
    assert r["source"].endswith("(données illustratives)")


def test_portrait_rejects_bad_inputs(values, territory):
    with pytest.raises(SchemaError, match="exactly one row"):
        portrait_table(values, pd.concat([territory, territory]))
    with pytest.raises(SchemaError, match="part_sans_diplome"):
        portrait_table(values, territory, indicators=["part_sans_diplome"])


# ------------------------------------------------------------------------------------------
# gap_evolution
# ------------------------------------------------------------------------------------------
# part_sans_diplome (higher is worse), 1000 non-schooled 15+ per IRIS:
#   IRIS   2015        2020       territory 2015 0.28 (2800/10000), 2020 0.25 (2500/10000)
#   …101   300 → 0.30  280 → 0.28   gap +0.02 → +0.03: amélioration, écart accru
#   …102   400 → 0.40  420 → 0.42   gap +0.12 → +0.17: dégradation, écart accru
#   …103   250 → 0.25  240 → 0.24   gap −0.03 → −0.01: amélioration, écart réduit
#   …104   secret      300 → 0.30   no 2015 value: listed, no quadrant

IRIS = ["624980101", "624980102", "624980103", "624980104"]


def _iris_table(vintage, dipl, key="code_iris", codes=IRIS):
    yy = vintage % 100
    return pd.DataFrame({key: codes, f"P{yy}_NSCOL15P": [1000.0] * len(codes),
                         f"P{yy}_NSCOL15P_DIPLMIN": dipl,
                         "secret_vars": ["" if pd.notna(d) else f"P{yy}_NSCOL15P_DIPLMIN"
                                         for d in dipl]},
                        index=[f"z{i}" for i in range(len(codes))])


def _terr(vintage, dipl):
    yy = vintage % 100
    return territory_indicators(pd.DataFrame({f"P{yy}_NSCOL15P": [10000.0],
                                              f"P{yy}_NSCOL15P_DIPLMIN": [dipl]}),
                                vintage=vintage, name="CALL",
                                indicators=["part_sans_diplome"])


@pytest.fixture
def evo_inputs():
    t0 = compute_indicators(_iris_table(2015, [300.0, 400.0, 250.0, np.nan]), vintage=2015,
                            indicators=["part_sans_diplome"])
    t1 = compute_indicators(_iris_table(2020, [280.0, 420.0, 240.0, 300.0]), vintage=2020,
                            indicators=["part_sans_diplome"])
    return t0, t1, _terr(2015, 2800.0), _terr(2020, 2500.0)


def test_gap_evolution_quadrants_by_hand(evo_inputs):
    t0, t1, c0, c1 = evo_inputs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 2015 vs 2020: 5 years apart, no warning
        e = gap_evolution(t0, t1, c0, c1, "part_sans_diplome")
    assert list(e.index) == ["z0", "z1", "z2", "z3"]
    assert e["gap_t0"].iloc[:3].tolist() == pytest.approx([0.30 - 0.28, 0.40 - 0.28,
                                                           0.25 - 0.28])
    assert e["gap_t1"].tolist() == pytest.approx([0.28 - 0.25, 0.42 - 0.25, 0.24 - 0.25,
                                                  0.30 - 0.25])
    assert e["gap_ratio_t1"].iloc[0] == pytest.approx(0.28 / 0.25)
    assert e["gap_change"].iloc[2] == pytest.approx(0.01 - 0.03)
    assert e["quadrant"].iloc[:3].tolist() == ["amélioration, écart accru",
                                               "dégradation, écart accru",
                                               "amélioration, écart réduit"]
    assert pd.isna(e["quadrant"].iloc[3])
    assert "secret statistique" in e["missing_reason"].iloc[3]
    assert e["position_t1"].tolist() == ["défavorable", "défavorable", "favorable",
                                         "défavorable"]
    assert e["caution"].iloc[0] == ""
    s = gap_summary(e, zone_label="IRIS").iloc[0]
    assert (s["n_zones"], s["n_with_data"], s["n_gap_widened"], s["n_gap_narrowed"]) == (
        4, 3, 2, 1)
    assert s["share_gap_widened"] == pytest.approx(2 / 3)
    assert (s["n_improved"], s["n_worsened"]) == (2, 1)
    assert s["n_amelioration_ecart_accru"] == 1
    assert s["n_degradation_ecart_accru"] == 1
    assert s["n_amelioration_ecart_reduit"] == 1
    assert (s["n_unfavourable_t1"], s["n_favourable_t1"]) == (3, 1)
    assert s["zones_without_data"] == "624980104"
    assert s["sentence"] == (
        f"L'écart au territoire s'est accru pour 2 des 3 IRIS (67{NBSP}%) et réduit pour 1 ; la "
        "situation s'est dégradée pour 1 et améliorée pour 2 (1 IRIS sans donnée).")


def test_gap_overview_several_indicators(evo_inputs):
    t0, t1, c0, c1 = evo_inputs
    over = ind.gap_overview(t0, t1, c0, c1, zone_label="IRIS")
    assert list(over.index) == ["part_sans_diplome"]
    r = over.iloc[0]
    assert r["label"].startswith("Part des non-scolarisés")
    assert (r["n_gap_widened"], r["n_with_data"]) == (2, 3)
    assert r["caution"] == ""


def test_gap_evolution_of_a_count_reports_change_only():
    z = ["QN06201M", "QN06202M", "QN06203M"]
    t0 = compute_indicators(pd.DataFrame({"code_qpv": z, "P15_POP": [1000.0, 2000.0, 500.0]}),
                            vintage=2015, indicators=["population"])
    t1 = compute_indicators(pd.DataFrame({"code_qpv": z, "P20_POP": [1100.0, 1900.0, 450.0]}),
                            vintage=2020, indicators=["population"])
    c0 = territory_indicators(pd.DataFrame({"P15_POP": [240000.0]}), vintage=2015, name="CALL")
    c1 = territory_indicators(pd.DataFrame({"P20_POP": [241200.0]}), vintage=2020, name="CALL")
    e = gap_evolution(t0, t1, c0, c1, "population")
    assert e["quadrant"].tolist() == ["hausse", "baisse", "baisse"]
    assert e["gap_t1"].isna().all()  # no "gap" between a QPV's and the CALL's population
    assert e["change_relative"].tolist() == pytest.approx([1100 / 1000 - 1, 1900 / 2000 - 1,
                                                           450 / 500 - 1])
    s = gap_summary(e, zone_label="QPV").iloc[0]
    assert (s["n_rose"], s["n_fell"]) == (1, 2)
    assert np.isnan(s["share_gap_widened"])
    # CALL: 241200 / 240000 − 1 = +0.5 %
    assert s["sentence"] == f"Hausse dans 1 des 3 QPV, baisse dans 2 (CALL : +0,5{NBSP}%)."


@pytest.mark.parametrize(("direction", "situation"), [
    (HIGHER_WORSE, "amélioration"), (HIGHER_BETTER, "dégradation"), (NEUTRAL, "baisse")])
def test_gap_evolution_respects_direction(evo_inputs, direction, situation):
    t0, t1, c0, c1 = evo_inputs
    custom = Indicator("part_sans_diplome", "test", "T", "share", "ratio", direction, "rp",
                       numerator="P{yy}_NSCOL15P_DIPLMIN", denominator="P{yy}_NSCOL15P")
    e = gap_evolution(t0, t1, c0, c1, custom)
    # first IRIS: 0.30 → 0.28 (value falls), |gap| 0.02 → 0.03 (widens) whatever the direction
    assert e["situation"].iloc[0] == situation
    assert e["gap_trend"].iloc[0] == "écart accru"


def test_gap_evolution_tolerance_and_ratio_measure(evo_inputs):
    t0, t1, c0, c1 = evo_inputs
    e = gap_evolution(t0, t1, c0, c1, "part_sans_diplome", tolerance=0.015)
    # |gap| change of the first IRIS is 0.01 < 0.015: stable; its value change 0.02 is not
    assert e["gap_trend"].iloc[0] == "écart stable"
    assert e["situation"].iloc[0] == "amélioration"
    r = gap_evolution(t0, t1, c0, c1, "part_sans_diplome", measure="ratio")
    assert r["gap_change"].iloc[0] == pytest.approx(abs(np.log(0.28 / 0.25))
                                                    - abs(np.log(0.30 / 0.28)))
    assert r["gap_trend"].iloc[2] == "écart réduit"  # |ln(0.24/0.25)| < |ln(0.25/0.28)|


def test_gap_evolution_close_census_vintages_warn(evo_inputs):
    _, t1, _, c1 = evo_inputs
    t0 = compute_indicators(_iris_table(2017, [300.0, 400.0, 250.0, 1.0]), vintage=2017,
                            indicators=["part_sans_diplome"])
    c0 = _terr(2017, 2800.0)
    with pytest.warns(DataQualityWarning, match="moins de 5 ans"):
        e = gap_evolution(t0, t1, c0, c1, "part_sans_diplome")
    assert "2017 et 2020" in e["caution"].iloc[0]
    # communes: INSEE's caution is about infra-communal levels only
    com = ["62498", "62510", "62563", "62413"]
    t0c = compute_indicators(_iris_table(2017, [300.0, 400.0, 250.0, 1.0], "insee_com", com),
                             vintage=2017, indicators=["part_sans_diplome"])
    t1c = compute_indicators(_iris_table(2020, [280.0, 420.0, 240.0, 300.0], "insee_com",
                                         com), vintage=2020, indicators=["part_sans_diplome"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gap_evolution(t0c, t1c, c0, c1, "part_sans_diplome")


def test_gap_evolution_filosofi_2020_warns():
    z = ["QN06201M", "QN06202M"]
    t0 = compute_indicators(pd.DataFrame({"code_qpv": z, "DISP_MED15": [10000.0, 11000.0]}),
                            vintage=2015, indicators=["revenu_median"])
    t1 = compute_indicators(pd.DataFrame({"code_qpv": z, "DISP_MED20": [10500.0, 11000.0]}),
                            vintage=2020, indicators=["revenu_median"])
    c0 = territory_indicators(official={"DISP_MED15": 16000.0}, vintage=2015, name="CALL")
    c1 = territory_indicators(official={"DISP_MED20": 17000.0}, vintage=2020, name="CALL")
    with pytest.warns(DataQualityWarning, match="Filosofi"):
        e = gap_evolution(t0, t1, c0, c1, "revenu_median")
    # 10000 → 10500: better (higher is better); gap −6000 → −6500: wider
    assert e["quadrant"].iloc[0] == "amélioration, écart accru"
    assert e["gap_t1"].iloc[0] == 10500 - 17000


@pytest.fixture
def crosswalk_case():
    # QP062001 lies wholly in QN06201M (80 % of it); QP062002 is split half/half between
    # QN06201M (20 % of it) and QN06202M (100 % of it).
    cw = pd.DataFrame({"old_code": ["QP062001", "QP062002", "QP062002"],
                       "new_code": ["QN06201M", "QN06201M", "QN06202M"],
                       "allocation": [1.0, 0.5, 0.5], "share_of_new": [0.8, 0.2, 1.0]})
    raw0 = pd.DataFrame({"code_qpv": ["QP062001", "QP062002"], "P15_NSCOL15P": [1000.0, 500.0],
                         "P15_NSCOL15P_DIPLMIN": [400.0, 100.0],
                         "DISP_MED15": [11000.0, 12000.0]})
    raw1 = pd.DataFrame({"code_qpv": ["QN06201M", "QN06202M"], "P20_NSCOL15P": [1200.0, 300.0],
                         "P20_NSCOL15P_DIPLMIN": [420.0, 75.0],
                         "DISP_MED20": [11500.0, 12500.0]}, index=[5, 6])
    inds_ = ["part_sans_diplome", "revenu_median"]
    t0 = compute_indicators(raw0, vintage=2015, indicators=inds_)
    t1 = compute_indicators(raw1, vintage=2020, indicators=inds_)
    c0 = territory_indicators(pd.DataFrame({"P15_NSCOL15P": [10000.0],
                                            "P15_NSCOL15P_DIPLMIN": [3000.0]}),
                              official={"DISP_MED15": 16000.0}, vintage=2015, name="CALL")
    c1 = territory_indicators(pd.DataFrame({"P20_NSCOL15P": [10000.0],
                                            "P20_NSCOL15P_DIPLMIN": [2800.0]}),
                              official={"DISP_MED20": 17000.0}, vintage=2020, name="CALL")
    return cw, raw0, t0, t1, c0, c1


def test_gap_evolution_crosswalk_carries_numerators(crosswalk_case):
    cw, raw0, t0, t1, c0, c1 = crosswalk_case
    with pytest.raises(SchemaError, match="crosswalk"):
        gap_evolution(t0, t1, c0, c1, "part_sans_diplome")
    e = gap_evolution(t0, t1, c0, c1, "part_sans_diplome", crosswalk=cw)
    assert list(e.index) == [5, 6]
    # QN06201M at t0: (400 + 0.5·100) / (1000 + 0.5·500); QN06202M: 0.5·100 / (0.5·500)
    assert e["value_t0"].tolist() == pytest.approx([450 / 1250, 50 / 250])
    assert e["codes_t0"].tolist() == ["QP062001;QP062002", "QP062002"]
    assert e["is_estimate"].all()
    assert "correspondance" in e["method_t0"].iloc[0]
    # peer: qpvgeo.interpolation.apply_crosswalk carries the same counts
    from qpvgeo.interpolation import apply_crosswalk

    peer = apply_crosswalk(cw, raw0, extensive=["P15_NSCOL15P", "P15_NSCOL15P_DIPLMIN"],
                           key="code_qpv").set_index("code_qpv")
    expected = (peer["P15_NSCOL15P_DIPLMIN"] / peer["P15_NSCOL15P"]).loc[
        ["QN06201M", "QN06202M"]].to_numpy()
    assert e["value_t0"].to_numpy() == pytest.approx(expected)


def test_gap_evolution_crosswalk_median_only_with_dominant_zone(crosswalk_case):
    cw, _, t0, t1, c0, c1 = crosswalk_case
    with pytest.warns(DataQualityWarning, match="Filosofi"):
        e = gap_evolution(t0, t1, c0, c1, "revenu_median", crosswalk=cw)
    assert e["value_t0"].tolist() == [11000.0, 12000.0]  # QP062001 covers 80 % of QN06201M
    with pytest.warns(DataQualityWarning, match="Filosofi"):
        strict = gap_evolution(t0, t1, c0, c1, "revenu_median", crosswalk=cw,
                               dominant_share=0.9)
    assert np.isnan(strict["value_t0"].iloc[0])
    assert "non transférable" in strict["missing_reason"].iloc[0]
    assert strict["value_t0"].iloc[1] == 12000.0


def test_gap_evolution_crosswalk_bad_weights(crosswalk_case):
    cw, _, t0, t1, c0, c1 = crosswalk_case
    with pytest.raises(SchemaError, match="shares 0–1"):
        gap_evolution(t0, t1, c0, c1, "part_sans_diplome",
                      crosswalk=cw.assign(allocation=[1.0, np.nan, 0.5]))
    with pytest.raises(SchemaError, match="crosswalk_columns"):
        gap_evolution(t0, t1, c0, c1, "part_sans_diplome",
                      crosswalk=cw.rename(columns={"allocation": "w"}))
    e = gap_evolution(t0, t1, c0, c1, "part_sans_diplome",
                      crosswalk=cw.rename(columns={"allocation": "w"}),
                      crosswalk_columns={"weight": "w"})
    assert e["value_t0"].iloc[0] == pytest.approx(450 / 1250)


# ------------------------------------------------------------------------------------------
# reference table
# ------------------------------------------------------------------------------------------

def test_read_reference_table_french_csv(tmp_path):
    f = tmp_path / "references.csv"
    f.write_text(
        "niveau;nom;indicateur;valeur;millésime;source\n"
        "Département;Pas-de-Calais;revenu_median;19 110;2020;INSEE Filosofi 2020\n"
        "Région;Hauts-de-France;revenu_median;20000;2020;INSEE\n"
        "France;France;taux_pauvrete;14,6 %;2020;INSEE\n"
        "ensemble des QPV;QPV de la CALL;taux_emploi_1564;0,40;2020;INSEE QPV\n",
        encoding="utf-8")
    r = read_reference_table(f)
    assert r["level"].tolist() == ["departement", "region", "france", "ensemble_qpv"]
    assert r["value"].tolist() == pytest.approx([19110, 20000, 0.146, 0.40])
    assert r["vintage"].tolist() == [2020] * 4
    assert r.attrs["qpvgeo"]["source"] == "references.csv"


def test_read_reference_table_lists_every_fault(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        "level,name,indicator,value,vintage,source\n"
        "canton,X,revenu_median,1,2020,s\n"
        "france,France,taux_pauvretee,0.1,2020,s\n"
        "france,France,taux_pauvrete,14.6,2020,s\n"
        "france,France,revenu_median,abc,20,s\n", encoding="utf-8")
    with pytest.raises(SchemaError) as err:
        read_reference_table(f, unknown="error")
    msg = str(err.value)
    assert "bad.csv" in msg
    assert "line 2: unknown level 'canton'" in msg
    assert "did you mean taux_pauvrete" in msg
    assert "line 4: taux_pauvrete is a share" in msg
    assert "line 5: value 'abc' is not a number" in msg
    assert "vintage '20'" in msg


def test_read_reference_table_other_faults(tmp_path):
    base = {"level": ["france", "france"], "name": ["France", "France"],
            "indicator": ["revenu_median"] * 2, "value": ["21950", "21950"],
            "vintage": ["2020", "2020"], "source": ["INSEE", "INSEE"]}
    with pytest.raises(DuplicateKeyError, match="france / France / revenu_median / 2020"):
        read_reference_table(pd.DataFrame(base))
    with pytest.raises(SchemaError, match="no column vintage"):
        read_reference_table(pd.DataFrame(base).drop(columns="vintage"))
    with pytest.raises(EmptyLayerError):
        read_reference_table(pd.DataFrame(columns=list(base)))
    with pytest.raises(InputFileError, match="not found"):
        read_reference_table(tmp_path / "missing.csv")
    custom = Indicator("part_rsa", "Part des allocataires RSA", "Revenus", "share", "ratio",
                       HIGHER_WORSE, "caf", value="PART_RSA")
    ok = read_reference_table(pd.DataFrame({**{k: v[:1] for k, v in base.items()},
                                            "indicator": ["part_rsa"], "value": ["20,4 %"]}),
                              indicators=[custom])
    assert ok["value"].iloc[0] == pytest.approx(0.204)


# ------------------------------------------------------------------------------------------
# with the readers, on the official-layout fixtures of tests/data
# ------------------------------------------------------------------------------------------

def test_with_official_layout_files():
    from pathlib import Path

    from qpvgeo.io import read_insee_table

    data = Path(__file__).parent / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # reader notes secret cells
        filo = read_insee_table(data / "BASE_TD_FILO_DISP_IRIS_2020_extract_latin1.csv")
        qpv_t = read_insee_table(data / "qpv_table_bom_trailing.csv", level="qpv")
    f = compute_indicators(filo, vintage=2020, indicators=["revenu_median", "taux_pauvrete"])
    assert f["code_iris"].tolist() == ["624980101", "624980102", "624980103", "625100101"]
    assert f["revenu_median"].tolist()[::2] == [15230.0, 16010.0]
    assert np.isnan(f["revenu_median"].iloc[1])
    assert "secret statistique (DISP_MED20)" in f["revenu_median_missing_reason"].iloc[1]
    # DISP_TP6020 31,2 % and 22,8 %; "ns" stays missing
    assert f["taux_pauvrete"].iloc[[0, 3]].tolist() == pytest.approx([0.312, 0.228])
    assert np.isnan(f["taux_pauvrete"].iloc[2])
    z = pd.DataFrame({"code_qpv": ["QN06224M", "QN06226M", "QN06227M", "QN06228M"],
                      "nom_qpv": ["Cité 12-14", "Cité 2", "Sellier Cité 4",
                                  "Calonne – Marichelles – Vent de Bise"]})
    v = zone_indicators(z, official=qpv_t, vintage=2020)
    assert v["population"].tolist()[:3] == [4321.5, 1750.0, 2210.0]
    assert v["revenu_median"].tolist()[:2] == [12340.0, 11980.0]
    assert np.isnan(v["revenu_median"].iloc[2])
    assert "DISP_MED20" in v["revenu_median_missing_reason"].iloc[2]
    assert v["population_missing_reason"].iloc[3] == "zone absente des tableaux officiels"
    assert v["population_source"].iloc[0].endswith("qpv_table_bom_trailing.csv")


def test_read_reference_table_quoted_figures_of_the_diagnostic():
    # data/shapes/reference_values_diagnostic2024.csv: real figures quoted by the CALL's 2024
    # diagnostic, columns indicator;territory;level;value;unit;year;published;status;source
    from pathlib import Path

    path = Path(__file__).parents[1] / "data" / "shapes" / "reference_values_diagnostic2024.csv"
    with pytest.raises(SchemaError, match="unknown indicator 'rsa_recipients_share'"):
        read_reference_table(path, unknown="error")
    with pytest.warns(DataQualityWarning) as rec:
        r = read_reference_table(path)
    messages = " ".join(str(w.message) for w in rec)
    # not computed by qpvgeo: left out, said in a short message (the first names, the count)
    dropped = r.attrs["qpvgeo"]["dropped_indicators"]
    assert "rsa_recipients_share" in dropped
    assert "poverty_rate_declared_income" in dropped  # declared ≠ disposable income
    assert f"about {len(dropped)} indicator(s) qpvgeo does not compute" in messages
    assert "brevet_success_rate" in messages
    assert "more)" in messages
    # indicators qpvgeo computes from RPLS and SIRENE are read through their aliases
    assert {"evolution_etablissements", "part_rpls_avant_1949", "part_creations_ei",
            "part_etab_commerce_transport_hr", "logements_sociaux"} <= set(r["indicator"])
    assert "have no vintage" in messages
    med = r[r["indicator"] == "revenu_median"].set_index("level")["value"]
    assert med.to_dict() == {"epci": 17020, "ensemble_qpv": 10619, "departement": 19110,
                             "region": 20000, "france": 21950}
    emp = r[(r["indicator"] == "taux_emploi_1564") & (r["level"] == "epci")]
    assert emp["value"].tolist() == pytest.approx([0.536, 0.557, 0.588])
    sans = r[(r["indicator"] == "part_sans_diplome")].set_index("level")["value"]
    assert sans["ensemble_iris_qpv"] == pytest.approx(0.334)
    pop = r[(r["indicator"] == "population") & (r["level"] == "ensemble_qpv")]
    assert pop["value"].tolist() == [55414]
    assert pop["vintage"].isna().all()


def test_read_reference_table_unit_column():
    base = {"level": ["france"], "name": ["France"], "indicator": ["taux_pauvrete"],
            "value": ["14,6"], "vintage": ["2020"], "source": ["INSEE"]}
    r = read_reference_table(pd.DataFrame({**base, "unit": ["%"]}))
    assert r["value"].iloc[0] == pytest.approx(0.146)
    with pytest.raises(SchemaError, match="taux_pauvrete is in share, but the unit says 'eur'"):
        read_reference_table(pd.DataFrame({**base, "unit": ["EUR"]}))
    with pytest.raises(SchemaError, match="not understood"):
        read_reference_table(pd.DataFrame({**base, "unit": ["parsecs"]}))


def test_read_reference_table_unknown_policies():
    df = pd.DataFrame({"level": ["france", "france"], "name": ["France", "France"],
                       "indicator": ["revenu_median", "taux_emploi_1546"],
                       "value": ["21950", "0.7"], "vintage": ["2020", "2020"],
                       "source": ["INSEE", "INSEE"]})
    with pytest.warns(DataQualityWarning, match=r"taux_emploi_1546 \(did you mean "
                                                r"taux_emploi_1564\?\)"):
        r = read_reference_table(df)
    assert r["indicator"].tolist() == ["revenu_median"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = read_reference_table(df, unknown="ignore")
    assert quiet.attrs["qpvgeo"]["dropped_indicators"] == ["taux_emploi_1546"]


# ------------------------------------------------------------------------------------------
# demo territory (qpvgeo.datasets): every QPV plus the territory, 2015 → 2020
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    from qpvgeo import datasets

    names = ["qpv", "qpv2015", "iris", "buildings", "communes", "qpv_indicators_2020",
             "qpv_indicators_2015", "reference_values",
             *[f"{b}_{y}" for b in ("pop", "activite", "diplomes", "logement", "familles",
                                    "filosofi") for y in (2015, 2020)]]
    return datasets.load_demo(names)


def _iris_wide(demo, year):
    tabs = [demo[f"{b}_{year}"] for b in ("pop", "activite", "diplomes", "logement",
                                          "familles", "filosofi")]
    wide = tabs[0].drop(columns=["secret_vars"])
    for t in tabs[1:]:
        new = [c for c in t.columns if c not in wide.columns and c != "secret_vars"]
        wide = wide.merge(t[["code_iris", *new]], on="code_iris", how="left")
    wide = wide.copy()  # one block per merge otherwise
    secret = pd.concat([t.set_index("code_iris")["secret_vars"] for t in tabs], axis=1)
    wide["secret_vars"] = secret.reindex(wide["code_iris"]).fillna("").apply(
        lambda r: ";".join(x for x in r if x), axis=1).to_numpy()
    return wide, tabs


@contextlib.contextmanager
def _overlay_notes():
    """Data-quality notes of the overlay steps on the demo (recorded, checked as such)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    assert all(issubclass(w.category, DataQualityWarning) for w in caught), [
        str(w.message) for w in caught]


@pytest.mark.slow
def test_demo_portrait_and_gap_evolution_for_every_qpv(demo):
    from qpvgeo import interpolation, overlay

    call = set(demo["communes"]["insee_com"])
    with pytest.warns(DataQualityWarning, match="no vintage"):  # QPV population, as quoted
        refs = read_reference_table(pd.DataFrame(demo["reference_values"]), unknown="ignore")
    out = {}
    for year, qpv, off in ((2020, demo["qpv"], demo["qpv_indicators_2020"]),
                           (2015, demo["qpv2015"], demo["qpv_indicators_2015"])):
        wide, tabs = _iris_wide(demo, year)
        yy = year % 100
        ext = [f"P{yy}_NSCOL15P", f"P{yy}_NSCOL15P_DIPLMIN", f"P{yy}_LOG", f"P{yy}_LOGVAC"]
        src = demo["iris"][["code_iris", "geometry"]].merge(wide, on="code_iris")
        with _overlay_notes():
            est = interpolation.interpolate(src, qpv, extensive=ext, weights=demo["buildings"],
                                            weight_col="nb_logts")
        values = zone_indicators(qpv, official=off, estimates=est, vintage=year)
        units = [t.loc[t["code_iris"].str[:5].isin(call)] for t in tabs]
        terr = territory_indicators(units, vintage=year, name="CA de Lens-Liévin")
        out[year] = (values, terr)
        p = portrait_table(values, terr, references=refs)
        # every QPV, every indicator: a value or a listed reason, never silently dropped
        assert (p["n_zones"] == len(qpv)).all()
        for k in p.index:
            gaps = values[k].isna()
            assert (values.loc[gaps, f"{k}_missing_reason"] != "").all()
        assert p.loc["taux_emploi_1564", "n_zones_with_data"] == len(qpv)
        # census figures from the official QPV tables, diplomas estimated from the IRIS
        assert set(values["taux_emploi_1564_origin"]) == {ind.ORIGIN_OFFICIAL}
        assert set(values["part_sans_diplome_origin"]) == {ind.ORIGIN_ESTIMATE}
        assert values["is_illustrative"].all()
        assert p["is_illustrative"].all()
        e = p.loc["taux_emploi_1564"]
        num = values["taux_emploi_1564_num"].sum()
        den = values["taux_emploi_1564_den"].sum()
        assert e["zones_value"] == pytest.approx(num / den)
        assert e["min_value"] == values["taux_emploi_1564"].min()
        if year == 2020:
            # the territory's official median comes from the reference file (epci row)
            assert p.loc["revenu_median", "territory_value"] == 17020
            assert p.loc["revenu_median", "zones_value"] == 10619  # ensemble_qpv, quoted
            assert p.loc["revenu_median", "comparison"].endswith("fois moins")
            assert "Pas-de-Calais" in p.loc["revenu_median", "references_text"]
    (v15, t15), (v20, t20) = out[2015], out[2020]
    with _overlay_notes():
        cw = overlay.crosswalk(demo["qpv2015"], demo["qpv"], weights=demo["buildings"],
                               weight_col="nb_logts")
    e = gap_evolution(v15, v20, t15, t20, "taux_emploi_1564", crosswalk=cw)
    assert list(e.index) == list(demo["qpv"].index)
    assert e["quadrant"].notna().all()
    assert e["is_estimate"].all()  # 2015 figures carried onto the 2024 perimeters
    s = gap_summary(e, zone_label="QPV").iloc[0]
    assert s["n_gap_widened"] + s["n_gap_narrowed"] + s["n_gap_stable"] == len(demo["qpv"])
    # IRIS concerned by a QPV, same IRIS codes at both dates
    with _overlay_notes():
        conc = overlay.concerned_iris(demo["iris"], demo["qpv"], weights=demo["buildings"],
                                      weight_col="nb_logts")
    codes = set(conc["code_iris"])
    iris_v = {}
    for y in (2015, 2020):
        w = _iris_wide(demo, y)[0]
        iris_v[y] = compute_indicators(w.loc[w["code_iris"].isin(codes)].reset_index(drop=True),
                                       vintage=y, indicators=["part_sans_diplome"])
    ei = gap_evolution(iris_v[2015], iris_v[2020], t15, t20, "part_sans_diplome")
    si = gap_summary(ei, zone_label="IRIS").iloc[0]
    assert si["n_zones"] == len(codes)
    assert si["sentence"].startswith("L'écart au territoire s'est accru pour ")


def test_computed_indicators_of_rpls_and_sirene_by_hand():
    # per-zone counts as the portrait names them (housing and economy tables)
    zones = pd.DataFrame({"code_qpv": ["QN06201M", "QN06202M"], "nom_qpv": ["A", "B"]})
    counts = pd.DataFrame({
        "code_qpv": ["QN06201M", "QN06202M"],
        "estab_t0_count": [10.0, 20.0], "estab_change_count": [5.0, -2.0],
        "creations_t1_count": [10.0, 2.0], "creations_t1_ei_count": [8.0, 1.0],
        "rpls_count": [300.0, 100.0]})
    v = zone_indicators(zones, computed=[counts], vintage={"sirene": 2023, "rpls": 2021})
    assert v["evolution_etablissements"].tolist() == pytest.approx([5 / 10, -2 / 20])
    assert v["part_creations_ei"].tolist() == pytest.approx([8 / 10, 1 / 2])
    terr_counts = pd.DataFrame({"estab_t0_count": [100.0], "estab_change_count": [29.0],
                                "creations_t1_count": [40.0],
                                "creations_t1_ei_count": [30.0], "rpls_count": [1000.0]})
    keys = ["evolution_etablissements", "part_creations_ei", "logements_sociaux"]
    terr = compute_indicators(terr_counts, vintage={"sirene": 2023, "rpls": 2021},
                              indicators=keys)
    terr.insert(0, "nom", "T")
    table = portrait_table(v, terr, indicators=keys)
    r = table.loc["evolution_etablissements"]
    assert r["territory_value"] == pytest.approx(29 / 100)
    assert r["zones_value"] == pytest.approx((5 - 2) / (10 + 20))  # ratio of sums
    assert table.loc["part_creations_ei", "zones_value"] == pytest.approx((8 + 1) / (10 + 2))
    # a count: the QPV's share of the territory's social dwellings, (300 + 100) / 1 000
    assert table.loc["logements_sociaux", "comparison"] == f"soit 40,0{NBSP}% du total T"
    # the diagnostic's names of these indicators are read from reference tables
    refs = read_reference_table(pd.DataFrame({
        "level": ["qpv_france"], "name": ["QPV de France métropolitaine"],
        "indicator": ["establishments_change_2017_2023"], "value": ["53 %"],
        "vintage": ["2023"], "source": ["ANCT"]}))
    assert refs["indicator"].tolist() == ["evolution_etablissements"]
    assert refs["level"].tolist() == ["france_qpv"]

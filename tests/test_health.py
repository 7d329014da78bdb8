"""Tests of qpvgeo.health: BPE code tables per vintage and access per zone.

Zone QA = [0,100]² in metres from (700 000, 6 600 000), 2,000 inhabitants; territory
[-5000,5000]², 100,000 inhabitants.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _helpers import assert_result, pt, sq

from qpvgeo.errors import DataQualityWarning, SchemaError
from qpvgeo.health import (
    BPE_CODES,
    DEFAULT_HEALTH_KINDS,
    KIND_LABELS,
    bpe_codes,
    bpe_schema,
    health_access,
    school_access,
    unknown_codes,
)


@pytest.fixture
def zones():
    return gpd.GeoDataFrame({"code_qpv": ["QA"], "pop": [2000.0]},
                            geometry=[sq(0, 0, 100, 100)], crs=2154).set_index("code_qpv")


@pytest.fixture
def territory():
    return gpd.GeoDataFrame(geometry=[sq(-5000, -5000, 5000, 5000)], crs=2154)


def test_schemas_and_code_tables():
    assert [bpe_schema(y) for y in (2018, 2021, 2022, 2023, 2024, 2025, "2026")] == [
        "2021", "2021", "2023", "2023", "2023", "2025", "2025"]
    with pytest.raises(SchemaError):
        bpe_schema("latest")
    # the general practitioner and the pharmacy change code between vintages
    gp = {s: set(BPE_CODES.query("schema == @s and kind == 'medecin_generaliste'")["typequ"])
          for s in ("2021", "2023", "2025")}
    assert gp == {"2021": {"D201"}, "2023": {"D201"}, "2025": {"D265"}}
    assert set(bpe_codes(2019, "sante").query("kind == 'pharmacie'")["typequ"]) == {"D301"}
    assert set(bpe_codes(2023, "sante").query("kind == 'pharmacie'")["typequ"]) == {"D307"}
    assert set(bpe_codes(2023, "sante").query("kind == 'infirmier'")["typequ"]) == {"D244"}
    # 2025 specialists: D251–D276 without the general practitioner D265
    spec = set(bpe_codes(2025).query("kind == 'specialiste'")["typequ"])
    assert len(spec) == 26 - 1
    assert "D265" not in spec
    # one kind per code within a schema, a label for every kind
    assert not BPE_CODES.duplicated(["schema", "typequ"]).any()
    assert set(BPE_CODES["kind"]) <= set(KIND_LABELS)
    assert set(DEFAULT_HEALTH_KINDS) <= set(bpe_codes(2023)["kind"])
    # the older schema is not confirmed: flagged
    assert not bpe_codes(2020)["verified"].any()


def test_unknown_codes_counted():
    bpe = pd.DataFrame({"typequ": ["D201", "d999", "D999", "A101", "D265", "C201"]})
    unk = unknown_codes(bpe, 2023)
    assert unk.to_dict() == {"D265": 1, "D999": 2}
    assert unknown_codes(bpe, 2023, "enseignement").empty


def test_health_access_by_hand(zones, territory):
    bpe = gpd.GeoDataFrame(
        {"typequ": ["D201", "D307", "D999", "D201"]},
        geometry=[pt(50, 50), pt(600, 50), pt(10, 10), pt(3000, 3000)], crs=2154)
    with pytest.warns(DataQualityWarning, match=r"not in the BPE 2023 table .*D999 \(1\)"):
        out = health_access(bpe, zones, vintage=2023, kinds=["medecin_generaliste", "pharmacie"],
                            population="pop", territory=territory, territory_population=1e5)
    assert_result(out, zones.index)
    qa = out.loc["QA"]
    assert qa["medecin_generaliste_inside_count"] == 1
    assert qa["medecin_generaliste_per_10000"] == pytest.approx(1 / 2000 * 1e4)
    # territory: 2 general practitioners for 100,000 inhabitants
    assert qa["medecin_generaliste_per_10000_territory"] == pytest.approx(2 / 1e5 * 1e4)
    assert qa["medecin_generaliste_per_10000_ratio"] == pytest.approx(5 / 0.2)
    assert qa["pharmacie_inside_count"] == 0
    assert qa["pharmacie_reach_count"] == 1  # 500 m from the zone
    assert qa["reach_method"] == "euclidean"
    meta = out.attrs["qpvgeo"]
    assert meta["unknown_codes"] == {"D999": 1}
    assert meta["codes"]["pharmacie"] == ["D307"]
    assert meta["source"] == "BPE 2023"


def test_health_access_2025_codes(zones):
    bpe = gpd.GeoDataFrame({"typequ": ["D265", "D201"]}, geometry=[pt(50, 50)] * 2, crs=2154)
    with pytest.warns(DataQualityWarning, match="D201"):
        out = health_access(bpe, zones, vintage=2025, kinds=["medecin_generaliste"])
    assert out["medecin_generaliste_inside_count"].tolist() == [1]


def test_health_access_unknown_kind(zones):
    bpe = gpd.GeoDataFrame({"typequ": ["D201"]}, geometry=[pt(50, 50)], crs=2154)
    with pytest.raises(SchemaError, match="maternite"):
        health_access(bpe, zones, vintage=2025, kinds=["maternite"])


def test_school_access_ips_summaries(zones):
    """Collèges A (500,500) IPS 80.5 REP+, B (700,100) IPS 100, C (3000,3000) IPS 120.
    Distances to the zone: hypot(400,400) = 566 and 600 (in reach), C far away."""
    bpe = gpd.GeoDataFrame({"typequ": ["C201", "C201", "C201", "D201"],
                            "uai": ["0620001A", "0620002B", "0620003C", None]},
                           geometry=[pt(500, 500), pt(700, 100), pt(3000, 3000), pt(1, 1)],
                           crs=2154)
    ips = pd.DataFrame({"uai": ["0620001A", "0620002B", "0620003C"],
                        "ips": [80.5, 100.0, 120.0], "rep_plus": [1, 0, 0]})
    with pytest.warns(DataQualityWarning, match="outside every zone"):
        out = school_access(bpe, zones, vintage=2023, attributes=ips, on="uai")
    qa = out.loc["QA"]
    assert qa["college_reach_count"] == 2
    assert qa["college_reach_ips_mean"] == pytest.approx((80.5 + 100.0) / 2)
    assert qa["college_reach_ips_min"] == 80.5
    assert qa["college_reach_ips_max"] == 100.0
    assert qa["college_reach_rep_plus_sum"] == 1
    assert "ips" not in bpe.columns
    with pytest.raises(SchemaError, match="on="):
        school_access(bpe, zones, vintage=2023, attributes=ips)


def test_school_access_no_school_in_reach_gives_nan(zones):
    bpe = gpd.GeoDataFrame({"typequ": ["C201"], "ips": [95.0]}, geometry=[pt(4000, 4000)],
                           crs=2154)
    with pytest.warns(DataQualityWarning):
        out = school_access(bpe, zones, vintage=2023)
    assert out["college_reach_count"].tolist() == [0]
    assert np.isnan(out["college_reach_ips_mean"].iloc[0])  # mean of nothing: undefined
    bpe["ep"] = ["REP"]
    with pytest.warns(DataQualityWarning):
        out = school_access(bpe, zones, vintage=2023)
    assert out["college_reach_rep_sum"].tolist() == [0]  # no REP collège in reach: 0


def test_health_access_territory_row(zones, territory):
    bpe = gpd.GeoDataFrame({"typequ": ["D201", "D201"]}, geometry=[pt(50, 50), pt(3000, 3000)],
                           crs=2154)
    out = health_access(bpe, zones, vintage=2023, kinds=["medecin_generaliste"],
                        population="pop", territory=territory, territory_population=1e5,
                        territory_row=True)
    assert list(out.index) == ["QA", "territory"]
    t = out.loc["territory"]
    assert t["medecin_generaliste_inside_count"] == 2
    assert t["medecin_generaliste_per_10000"] == pytest.approx(2 / 1e5 * 1e4)
    assert t["medecin_generaliste_per_10000_ratio"] == pytest.approx(1.0)
    assert t["coverage_basis"] == "grid"


def test_school_access_from_college_layer_with_ep(zones, territory):
    """A collèges layer without TYPEQU (IPS file with coordinates) and a REP/REP+ column."""
    col = gpd.GeoDataFrame({"uai": ["A", "B", "C"], "ips": [78.0, 92.0, 110.0],
                            "ep": ["REP+", "REP", None]},
                           geometry=[pt(500, 500), pt(700, 100), pt(150, 50)], crs=2154)
    out = school_access(col, zones, vintage=2023, territory=territory)
    qa = out.loc["QA"]
    assert qa["college_reach_count"] == 3
    assert qa["college_reach_ips_mean"] == pytest.approx((78 + 92 + 110) / 3)
    assert qa["college_reach_rep_sum"] == 1
    assert qa["college_reach_rep_plus_sum"] == 1


# ---------------------------------------------------------------------------- demo territory

@pytest.fixture(scope="module")
def demo():
    from qpvgeo import datasets

    return datasets.load_demo(["qpv", "epci", "bpe", "buildings", "colleges", "streets",
                               "qpv_indicators_2020", "pop_2020"])


@pytest.mark.slow
def test_demo_health_tables_for_every_qpv_and_the_territory(demo):
    qpv = demo["qpv"].set_index("code_qpv")
    terr = demo["epci"].loc[demo["epci"]["siren_epci"] == "246200364"]
    pop = demo["qpv_indicators_2020"].set_index("code_qpv")["P20_POP"]
    terr_pop = float(demo["pop_2020"]["P20_POP"].sum())
    bpe = demo["bpe"]
    with pytest.warns(DataQualityWarning) as rec:
        out = health_access(bpe, qpv, vintage=2023, population=pop,
                            residences=demo["buildings"], graph=demo["streets"],
                            territory=terr, territory_population=terr_pop, territory_row=True,
                            name="bpe")
    assert any("D265" in str(w.message) for w in rec)  # a 2025 code in a 2023 file
    assert list(out.index) == [*qpv.index, "territory"]
    assert (out["reach_method"] == "network").all()
    assert (out["source"] == "illustratif").all()
    gp = bpe.loc[bpe["typequ"] == "D201"]
    by_code = gp["code_qpv"].value_counts().reindex(qpv.index, fill_value=0)
    assert out["medecin_generaliste_inside_count"].iloc[:-1].tolist() == by_code.astype(
        float).tolist()
    for k in DEFAULT_HEALTH_KINDS:
        assert (out[f"{k}_reach_count"] >= out[f"{k}_inside_count"]).all()
        assert out[f"{k}_covered_share"].between(0, 1).all()
        assert out[f"{k}_per_10000"].notna().all()
    assert out.loc["territory", "medecin_generaliste_per_10000_ratio"] == pytest.approx(1)
    with pytest.warns(DataQualityWarning, match="outside the territory"):
        sc = school_access(demo["colleges"], qpv, vintage=2023, territory=terr,
                           territory_row=True)
    assert list(sc.index) == [*qpv.index, "territory"]
    inside = gpd.sjoin(demo["colleges"][["geometry"]], terr[["geometry"]], predicate="within")
    assert sc.loc["territory", "college_inside_count"] == len(inside)
    assert (sc["college_reach_rep_sum"] + sc["college_reach_rep_plus_sum"]
            <= sc["college_reach_count"]).all()

"""Tests of the demo territory: data/make_demo.py and qpvgeo.datasets.

A fresh demo territory is generated once per session into a temporary folder (through
``qpvgeo.datasets.get_path``, which runs ``data/make_demo.py``), so these tests check the
current generator, not files generated earlier in ``data/``. The determinism test generates a
second copy and compares the contents.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from qpvgeo import datasets
from qpvgeo.errors import InputFileError

REPO = Path(__file__).resolve().parent.parent
REAL = REPO / "data" / "shapes"
NPNRU = {"QN06224M", "QN06228M", "QN06219M"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo territory generated from scratch by datasets.get_path (QPVGEO_DEMO_DIR)."""
    base = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("QPVGEO_DEMO_DIR", str(base))
    try:
        path = datasets.get_path("qpv")   # missing: generated now
        assert path == base / "shapes" / "illustratif_qpv2024_wgs84.geojson"
    finally:
        mp.undo()
    return base


@pytest.fixture
def use_demo(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QPVGEO_DEMO_DIR", str(demo_dir))
    return demo_dir


@pytest.fixture(scope="session")
def demo(demo_dir: Path) -> dict:
    mp = pytest.MonkeyPatch()
    mp.setenv("QPVGEO_DEMO_DIR", str(demo_dir))
    try:
        return datasets.load_demo()
    finally:
        mp.undo()


def _make_demo_module():
    spec = importlib.util.spec_from_file_location("make_demo_under_test",
                                                  REPO / "data" / "make_demo.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod   # dataclasses look their module up while it loads
    spec.loader.exec_module(mod)
    return mod


def _content_digest(path: Path) -> str:
    """Digest of a file's content; the dBase header's last-update date is ignored."""
    raw = bytearray(path.read_bytes())
    if path.suffix == ".dbf":
        raw[1:4] = b"\0\0\0"
    return hashlib.sha256(raw).hexdigest()


# ---------------------------------------------------------------------------------------------
# qpvgeo.datasets API
# ---------------------------------------------------------------------------------------------
def test_available_names_and_info():
    assert len(set(datasets.available)) == len(datasets.available)
    for name in ("qpv", "qpv2015", "iris", "communes", "epci", "buildings", "rpls", "bpe",
                 "sirene_2017", "sirene_2023", "housing_quality", "streets", "heatloss",
                 "temperature", "pop_2020", "filosofi_2020", "qpv_indicators_2015"):
        assert name in datasets.available
    assert datasets.info("qpv")["kind"] == "illustratif"
    assert datasets.info("communes")["kind"] == "real"


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: communes, communes_mbm"):
        datasets.get_path("qpvs")


def test_real_files_are_committed_and_small():
    total = 0
    for name in datasets.available:
        info = datasets.info(name)
        if info["kind"] == "real":
            p = Path(info["path"])
            assert p.exists(), p
            assert p.parent == REAL
            total += p.stat().st_size
    assert total < 1_000_000


def test_missing_files_without_generator_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("QPVGEO_DEMO_DIR", str(tmp_path))
    monkeypatch.setattr(datasets, "_REPO_DATA", tmp_path / "no-checkout")
    with pytest.raises(InputFileError, match="make data"):
        datasets.get_path("iris")


def test_load_demo_subset_and_progress(use_demo):
    calls = []
    out = datasets.load_demo(["qpv", "iris", "heatloss"],
                             progress=lambda f, m: calls.append((f, m)))
    assert list(out) == ["qpv", "iris", "heatloss"]
    assert isinstance(out["heatloss"], Path)
    assert [c[0] for c in calls] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert all(isinstance(c[1], str) and c[1] for c in calls)


# ---------------------------------------------------------------------------------------------
# Generation: determinism, atomicity, sizes
# ---------------------------------------------------------------------------------------------
def test_two_runs_give_the_same_content(demo_dir, tmp_path):
    mod = _make_demo_module()
    assert mod.main(["--out", str(tmp_path), "--quiet"]) == 0
    a = sorted(p.relative_to(demo_dir) for p in demo_dir.rglob("illustratif_*")
               if p.is_file() and not p.name.startswith("illustratif_."))
    b = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("illustratif_*")
               if p.is_file() and not p.name.startswith("illustratif_."))
    assert a == b
    assert len(a) >= 45
    differ = [str(r) for r in a
              if r.suffix != ".json" and _content_digest(demo_dir / r) != _content_digest(
                  tmp_path / r)]
    assert differ == []
    m1 = json.loads((demo_dir / "shapes" / "illustratif_manifest.json").read_text())
    m2 = json.loads((tmp_path / "shapes" / "illustratif_manifest.json").read_text())
    assert m1["summary"] == m2["summary"]


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    mod = _make_demo_module()

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(mod, "thermography", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        mod.main(["--out", str(tmp_path), "--quiet"])
    left = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert left == ["illustratif_.lock"]   # no layer, no stamp, no work folder
    assert not (tmp_path / ".demo-complete").exists()
    assert not list((tmp_path / "shapes").glob("illustratif_.tmp-*"))


def test_generated_sizes(demo_dir):
    sizes = {p.name: p.stat().st_size for p in demo_dir.rglob("illustratif_*") if p.is_file()}
    # target 20 MB; the 50,000 building footprints alone take 13 MB
    assert sum(sizes.values()) < 30e6
    assert max(sizes.values()) < 8e6
    manifest = json.loads((demo_dir / "shapes" / "illustratif_manifest.json").read_text())
    assert manifest["total_bytes"] == sum(v for k, v in sizes.items()
                                          if k != "illustratif_manifest.json"
                                          and not k.startswith("illustratif_."))


# ---------------------------------------------------------------------------------------------
# Labelling and readers
# ---------------------------------------------------------------------------------------------
def test_every_illustrative_layer_is_labelled(demo):
    for name, layer in demo.items():
        kind = datasets.info(name)["kind"]
        if isinstance(layer, Path):
            with rasterio.open(layer) as src:
                assert src.tags()["QPVGEO_SOURCE"] == "illustratif"
                assert "ILLUSTRATIF" in src.tags()["QPVGEO_DESCRIPTION"]
            continue
        if kind == "illustratif":
            assert "source" in layer.columns, name
            assert (layer["source"] == "illustratif").all(), name
        else:
            assert "source" not in layer.columns or not (
                layer["source"] == "illustratif").any(), name


def test_readers_read_every_file_as_expected(demo):
    for name, layer in demo.items():
        if isinstance(layer, gpd.GeoDataFrame):
            assert layer.crs.to_epsg() == 2154, name
            assert layer.geometry.is_valid.all(), name
            assert len(layer) > 0, name
    warned = {n for n, v in demo.items()
              if hasattr(v, "attrs") and v.attrs.get("qpvgeo", {}).get("load_warnings")}
    # the expected ones: the invalid real geometry, the 2015 file without INSEE codes and
    # the non-diffusible SIRENE establishments of 2023
    assert warned <= {"cites_minieres_zone_tampon", "qpv2015", "sirene_2023"}
    assert "cites_minieres_zone_tampon" in warned


# ---------------------------------------------------------------------------------------------
# QPV
# ---------------------------------------------------------------------------------------------
def test_qpv_codes_and_names_match_the_official_list(demo):
    lst = pd.read_csv(REAL / "qpv2024_dept62_list.csv", dtype=str)
    lst = lst[lst["touches_call"] == "1"].drop_duplicates("code_qp").set_index("code_qp")
    qpv = demo["qpv"].set_index("code_qpv")
    assert sorted(qpv.index) == sorted(lst.index)
    assert len(qpv) == 22
    assert (qpv["nom_qpv"] == lst.loc[qpv.index, "lib_qp"]).all()
    assert (qpv["insee_com"] == lst.loc[qpv.index, "insee_com_list"]).all()
    assert set(qpv.index[qpv["npnru"].astype(int) == 1]) == NPNRU


def test_qpv_geometry_is_plausible(demo):
    qpv = demo["qpv"]
    com = pd.concat([demo["communes"][["insee_com", "geometry"]],
                     demo["communes_mbm"].loc[demo["communes_mbm"]["insee_com"].isin(
                         ["62250", "62587", "62724"]), ["insee_com", "geometry"]]])
    com = gpd.GeoDataFrame(com, crs=2154).set_index("insee_com")
    ha = qpv.area / 1e4
    assert ha.between(10, 130).all()
    # no two QPV overlap
    inter = gpd.overlay(qpv[["code_qpv", "geometry"]], qpv[["code_qpv", "geometry"]],
                        how="intersection", keep_geom_type=True)
    inter = inter[inter["code_qpv_1"] != inter["code_qpv_2"]]
    assert inter.area.sum() < 1.0
    # each QPV reaches every commune of its official list that the demo has, and none other
    for r in qpv.itertuples():
        listed = set(r.insee_com.split(";"))
        for code, g in com.geometry.items():
            a = r.geometry.intersection(g).area
            if code in listed:
                assert a > 1e4, (r.code_qpv, code)
            else:
                assert a < 500, (r.code_qpv, code)


def test_qpv_drawn_over_matching_mining_estates(demo):
    cites = demo["cites_minieres_zone_tampon"]
    brebis = cites.loc[cites["nom"] == "Cité des Brebis"].geometry.union_all()
    q = demo["qpv"].set_index("code_qpv").geometry
    assert q["QN06220M"].intersection(brebis).area > 0.8 * brebis.area


def test_qpv_2015_and_correspondence(demo):
    q15 = demo["qpv2015"]
    assert q15["code_qpv"].str.match(r"^QP062\d{3}$").all()
    corr = demo["qpv_correspondence"]
    assert set(corr["code_qpv_2024"]) == set(demo["qpv"]["code_qpv"])
    assert set(corr["code_qpv_2015"].dropna()) <= set(q15["code_qpv"])
    # one 2024 QPV comes from two 2015 QPV; one 2015 QPV has no successor
    assert corr.groupby("code_qpv_2024")["code_qpv_2015"].count().max() == 2
    assert len(set(q15["code_qpv"]) - set(corr["code_qpv_2015"].dropna())) == 1
    # 2015 and 2024 perimeters overlap without being all identical
    q24 = demo["qpv"].set_index("code_qpv").geometry
    q15g = q15.set_index("code_qpv").geometry
    pairs = corr.dropna(subset=["code_qpv_2015"])
    overlap = [q24[a].intersection(q15g[b]).area / q15g[b].area
               for a, b in zip(pairs["code_qpv_2024"], pairs["code_qpv_2015"], strict=True)]
    assert min(overlap) > 0.5
    sym = [q24[a].symmetric_difference(q15g[b]).area
           for a, b in zip(pairs["code_qpv_2024"], pairs["code_qpv_2015"], strict=True)]
    assert sum(s > 1e3 for s in sym) >= 10


# ---------------------------------------------------------------------------------------------
# IRIS and census tables
# ---------------------------------------------------------------------------------------------
def _demo_communes(demo) -> gpd.GeoDataFrame:
    call = demo["communes"][["insee_com", "geometry"]]
    mbm = demo["communes_mbm"]
    cahc = mbm[mbm["insee_com"].isin(["62250", "62587", "62724"])][["insee_com", "geometry"]]
    cahc = cahc.assign(geometry=cahc.geometry.difference(call.geometry.union_all()))
    return gpd.GeoDataFrame(pd.concat([call, cahc], ignore_index=True), crs=2154)


def test_iris_partition_the_communes(demo):
    iris = demo["iris"]
    com = _demo_communes(demo).set_index("insee_com")
    assert set(iris["insee_com"]) == set(com.index)
    assert iris["code_iris"].is_unique
    assert (iris["code_iris"].str[:5] == iris["insee_com"]).all()
    for code, g in com.geometry.items():
        parts = iris[iris["insee_com"] == code]
        # same area and no overlap: union equals the commune, areas add up (IRIS vertices are
        # stored to the centimetre: a band of 1 cm along the boundaries is tolerated)
        tol = 0.01 * (g.length + parts.length.sum())
        assert parts.area.sum() == pytest.approx(g.area, abs=tol)
        assert parts.geometry.union_all().symmetric_difference(g).area < tol
    z = iris[iris["typ_iris"] == "Z"]
    assert (z["code_iris"].str[5:] == "0000").all()
    assert set(iris["typ_iris"]) == {"H", "A", "Z"}


def test_iris_tables_sum_to_real_municipal_populations(demo):
    pop = demo["pop_2020"]
    by_com = pop.groupby("insee_com")["P20_POP"].sum()
    real = pd.read_csv(REAL / "call_communes_population.csv", dtype={"insee_com": str})
    real = real.set_index("insee_com")["pmun_PL2020"]
    assert len(real) == 36
    # (values are written with 10 significant digits)
    np.testing.assert_allclose(by_com[real.index].to_numpy(), real.to_numpy(), rtol=0,
                               atol=1e-3)
    assert by_com[real.index].sum() == pytest.approx(242_238)
    # CAHC communes: MBM total population x (CALL PL2020 / CALL MBM total)
    mbm = demo["communes_mbm"].set_index("insee_com")
    ratio = real.sum() / mbm.loc[real.index, "population"].astype(float).sum()
    for code in ("62250", "62587", "62724"):
        assert by_com[code] == pytest.approx(round(float(mbm.loc[code, "population"]) * ratio))
    # small communes are one IRIS; Filosofi only covers communes of 5,000+ inhabitants
    z = demo["iris"].set_index("code_iris")["typ_iris"] == "Z"
    big = by_com[by_com >= 5000].index
    assert set(demo["filosofi_2020"]["insee_com"]) == set(big)
    assert set(z[z].index.str[:5]) == set(by_com[by_com < 5000].index)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=1e-7, atol=1e-6)


@pytest.mark.parametrize("y", ["20", "15"])
def test_census_tables_are_internally_consistent(demo, y):
    yr = f"20{y}"
    pop, log = demo[f"pop_{yr}"], demo[f"logement_{yr}"]
    dip, act, fam = demo[f"diplomes_{yr}"], demo[f"activite_{yr}"], demo[f"familles_{yr}"]
    P, C = f"P{y}_", f"C{y}_"
    for t in (pop, log, dip, act, fam):
        assert (t["secret_vars"] == "").all()
        num = t.select_dtypes("number")
        assert (num >= 0).all().all()
        assert list(t["code_iris"]) == list(demo["iris"]["code_iris"])
    _close(pop[[P + a for a in ("POP0002", "POP0305", "POP0610", "POP1117", "POP1824",
                                 "POP2539", "POP4054", "POP5564", "POP6579", "POP80P")]]
           .sum(axis=1), pop[P + "POP"])
    _close(pop[P + "POPH"] + pop[P + "POPF"], pop[P + "POP"])
    _close(pop[[f"{C}POP15P_CS{k}" for k in range(1, 9)]].sum(axis=1), pop[C + "POP15P"])
    assert (pop[P + "POP_IMM"] <= pop[P + "POP"] + 1e-9).all()
    _close(log[P + "RP"] + log[P + "RSECOCC"] + log[P + "LOGVAC"], log[P + "LOG"])
    _close(log[P + "MAISON"] + log[P + "APPART"], log[P + "LOG"])
    _close(log[[P + f"RP_{k}P" for k in range(1, 5)] + [P + "RP_5PP"]].sum(axis=1),
           log[P + "RP"])
    _close(log[P + "RP_PROP"] + log[P + "RP_LOC"] + log[P + "RP_GRAT"], log[P + "RP"])
    assert (log[P + "RP_LOCHLMV"] <= log[P + "RP_LOC"] + 1e-9).all()
    assert (log[C + "RP_HSTU1P_SUROCC"] <= log[C + "RP_HSTU1P"] + 1e-9).all()
    sup = [P + "NSCOL15P_SUP2", P + "NSCOL15P_SUP34", P + "NSCOL15P_SUP5"] if y == "20" \
        else [P + "NSCOL15P_SUP"]
    parts = [P + "NSCOL15P_" + k for k in ("DIPLMIN", "BEPC", "CAPBEP", "BAC")] + sup
    _close(dip[parts].sum(axis=1), dip[P + "NSCOL15P"])
    for tag in ("1564", "1524", "2554", "5564"):
        _close(act[P + "ACTOCC" + tag] + act[P + "CHOM" + tag], act[P + "ACT" + tag])
        assert (act[P + "ACT" + tag] <= act[P + "POP" + tag] + 1e-9).all()
    _close(act[P + "ACT1564"] + act[P + "INACT1564"], act[P + "POP1564"])
    assert (fam[C + "MENPSEUL"] <= fam[C + "MEN"] + 1e-9).all()
    assert (fam[C + "FAMMONO"] <= fam[C + "FAM"] + 1e-9).all()
    _close(fam[C + "COUPAENF"] + fam[C + "COUPSENF"] + fam[C + "FAMMONO"], fam[C + "FAM"])
    # weighted, non-integer values, as INSEE publishes them
    assert (pop[P + "POP"] % 1 != 0).mean() > 0.5


def test_filosofi_secret_cells_are_missing_and_flagged(demo):
    f = demo["filosofi_2020"]
    secret = f["DISP_MED20"].isna()
    assert secret.any()
    assert not secret.all()
    assert f.loc[secret, "secret_vars"].str.contains("DISP_MED20").all()
    assert (f.loc[~secret, "DISP_MED20"] > 0).all()
    ok = f[~secret]
    for a, b in (("DISP_D120", "DISP_Q120"), ("DISP_Q120", "DISP_MED20"),
                 ("DISP_MED20", "DISP_Q320"), ("DISP_Q320", "DISP_D920")):
        assert (ok[a] <= ok[b]).all()
    assert ok["DISP_TP6020"].between(0, 100).all()
    assert ok["DISP_GI20"].between(0, 1).all()
    parts = ok[["DISP_PACT20", "DISP_PPEN20", "DISP_PPAT20", "DISP_PPSOC20", "DISP_PIMPOT20"]]
    full = parts.notna().all(axis=1)
    np.testing.assert_allclose(parts[full].sum(axis=1), 100, atol=0.35)
    # 2015: only communes of 10,000+ inhabitants
    pop = demo["pop_2015"].groupby("insee_com")["P15_POP"].sum()
    assert set(demo["filosofi_2015"]["insee_com"]) < set(demo["filosofi_2020"]["insee_com"])
    assert pop[sorted(set(demo["filosofi_2015"]["insee_com"]))].min() > 9000


def test_qpv_tables_and_orders_of_magnitude(demo):
    t = demo["qpv_indicators_2020"].set_index("code_qpv")
    assert set(t.index) == set(demo["qpv"]["code_qpv"])
    assert (t["P20_ACTOCC1564"] <= t["P20_ACT1564"]).all()
    assert (t["P20_ACT1564"] <= t["P20_POP1564"]).all()
    assert (t["P20_POP1564"] <= t["P20_POP"]).all()
    ok = t["DISP_MED20"].notna()
    assert t.loc[ok, "DISP_TP6020"].between(45, 75).all()
    assert t.loc[ok, "DISP_MED20"].between(8000, 13500).all()
    emp = t["P20_ACTOCC1564"] / t["P20_POP1564"]
    assert emp.between(0.25, 0.6).all()   # QN06216M: only a small part is in the demo
    # secret cells are missing (never 0) and flagged
    sec = t["DISP_MED20"].isna()
    assert sec.any()
    assert t.loc[sec, "secret_vars"].str.contains("DISP_MED20").all()
    # about 55,000 inhabitants in QPV in the CALL's communes, about 23 % of the CALL
    pop = demo["pop_2020"]
    iris_q = pop["P20_POP"].sum()
    assert 45_000 < t["P20_POP"].sum() < 65_000
    assert iris_q > t["P20_POP"].sum()
    t15 = demo["qpv_indicators_2015"]
    assert t15["code_qpv"].str.startswith("QP").all()


def test_commune_and_epci_filosofi_agree_with_the_census(demo):
    # the same synthetic persons as the IRIS tables: the CALL's fiscal persons are its
    # population, and its median and poverty rate are the 2024 diagnostic's (17 020 €, 36.1 %)
    for y, med, tp in ((2020, 17020, 36.1), (2015, 16050, 34.6)):
        yy = y % 100
        epci = demo[f"filosofi_epci_{y}"]
        assert epci["siren_epci"].tolist() == ["246200364"]
        row = epci.iloc[0]
        assert (row[f"MED{yy}"], row[f"TP60{yy}"]) == (med, pytest.approx(tp))
        com = demo[f"filosofi_communes_{y}"]
        call = set(demo["communes"]["insee_com"])
        assert com.loc[com["insee_com"].isin(call), f"NBPERSMENFISC{yy}"].sum() == \
            row[f"NBPERSMENFISC{yy}"]
        pop = demo[f"pop_{y}"]
        in_call = pop["code_iris"].str[:5].isin(call)
        assert row[f"NBPERSMENFISC{yy}"] == pytest.approx(pop.loc[in_call, f"P{yy}_POP"].sum(),
                                                          abs=1)
        # the territory's rate is the persons-weighted rate of its communes
        c = com.loc[com["insee_com"].isin(call)]
        weighted = (c[f"TP60{yy}"] * c[f"NBPERSMENFISC{yy}"]).sum() / c[f"NBPERSMENFISC{yy}"].sum()
        assert weighted == pytest.approx(tp, abs=0.1)  # rates published with one decimal


def test_census_dwellings_match_buildings(demo, demo_dir):
    manifest = json.loads((demo_dir / "shapes" / "illustratif_manifest.json").read_text())
    log = demo["logement_2020"]
    # census dwellings are the buildings' dwellings (weights average 1 per commune)
    assert log["P20_LOG"].sum() == pytest.approx(manifest["summary"]["dwellings"], rel=0.02)
    b = demo["buildings"]
    known = b["nb_logts"].sum()
    assert 0.85 * manifest["summary"]["dwellings"] < known <= manifest["summary"]["dwellings"]
    assert b["nb_logts"].isna().mean() > 0.05   # often empty in BD TOPO
    assert 40_000 <= len(b) <= 60_000


# ---------------------------------------------------------------------------------------------
# Points, lines, rasters
# ---------------------------------------------------------------------------------------------
def test_rpls_rows_are_social_dwellings_in_buildings(demo):
    r, b, qpv = demo["rpls"], demo["buildings"], demo["qpv"]
    assert 40_000 < len(r) < 55_000
    inq = r["code_qpv"].notna()
    assert 0.3 < inq.mean() < 0.5
    assert set(r.loc[inq, "code_qpv"]) <= set(qpv["code_qpv"])
    # points flagged in a QPV lie in that QPV's polygon
    joined = r[inq].sjoin(qpv[["code_qpv", "geometry"]], predicate="within", how="left")
    assert (joined["code_qpv_left"] == joined["code_qpv_right"]).all()
    # every dwelling sits on (within a metre of) a building footprint
    tree = shapely.STRtree(b.geometry.to_numpy())
    d = tree.query_nearest(r.geometry.to_numpy(), return_distance=True)[1]
    assert d.max() < 1.0
    assert r["dpe_energie"].isna().mean() == pytest.approx(0.12, abs=0.02)
    assert set(r["dpe_energie"].dropna()) <= set("ABCDEFG")
    # mining estates: most social dwellings of QPV built before 1949
    assert (r.loc[inq, "construct_year"] < 1949).mean() > 0.4


def test_bpe_codes_and_colleges(demo):
    bpe = demo["bpe"]
    for code in ("D201", "D221", "D244", "D307", "D108", "D113", "D106", "C107", "C108",
                 "C109", "C201"):
        assert (bpe["typequ"] == code).any(), code
    assert bpe["typequ"].isin(["D265", "D2O1"]).sum() >= 2   # unknown to this vintage
    inq = bpe["code_qpv"].notna()
    assert inq.any()
    assert (~inq).any()
    col = demo["colleges"]
    assert len(col) == (bpe["typequ"] == "C201").sum()
    assert set(col["ep"].dropna()) <= {"REP", "REP+"}
    assert col["ep"].notna().any()
    assert col.loc[col["ep"].notna(), "ips"].mean() < col.loc[col["ep"].isna(), "ips"].mean()


def _luhn_ok(s: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_sirene_growth_and_identifiers(demo):
    qpv = demo["qpv"].geometry.union_all()
    call = demo["communes"].geometry.union_all()
    counts = {}
    for year in (2017, 2023):
        s = demo[f"sirene_{year}"]
        assert s["siret"].map(_luhn_ok).all()
        assert (s["creation_date"] <= pd.Timestamp(f"{year}-12-31")).all()
        assert set(s["etat"]) == {"A", "F"}
        a = s[(s["etat"] == "A") & s.within(call)]
        counts[year] = (len(a), int(a.within(qpv).sum()))
    call_growth = counts[2023][0] / counts[2017][0] - 1
    qpv_growth = counts[2023][1] / counts[2017][1] - 1
    assert 0.15 < call_growth < 0.45
    assert qpv_growth > call_growth + 0.1
    s23 = demo["sirene_2023"]
    created = s23[(s23["creation_date"].dt.year == 2023) & s23.within(qpv)]
    assert (created["categorie_juridique"] == "1000").mean() > 0.7
    assert s23.attrs["qpvgeo"]["dropped_no_coordinates"] > 0  # non-diffusible [ND] rows


def test_street_network_is_noded_and_connected(demo):
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    st = demo["streets"]
    assert (st.geom_type == "LineString").all()
    xy = shapely.get_coordinates(st.geometry.to_numpy()).reshape(-1, 2, 2)
    ends = np.round(np.concatenate([xy[:, 0], xy[:, 1]]), 1)
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    n = len(st)
    g = coo_array((np.ones(n), (node[:n], node[n:])), shape=(node.max() + 1,) * 2)
    assert connected_components(g, directed=False)[0] == 1
    # covers the urban areas: most buildings are within 60 m of a street
    b = demo["buildings"].sample(2000, random_state=0)
    d = shapely.STRtree(st.geometry.to_numpy()).query_nearest(
        b.geometry.to_numpy(), return_distance=True)[1]
    assert np.quantile(d, 0.95) < 60


def test_housing_quality_classes(demo):
    hq = demo["housing_quality"]
    assert set(hq["classe"]) == {"bon", "moyen", "médiocre", "mauvais"}
    qpv = demo["qpv"].geometry.union_all()
    inq = hq.geometry.centroid.within(qpv)
    bad = hq["classe"].isin(["médiocre", "mauvais"])
    assert bad[inq].mean() > bad[~inq].mean()


def test_heatloss_raster_layout_and_qpv_roofs(demo):
    with rasterio.open(demo["heatloss"]) as src:
        assert src.crs.to_epsg() == 3950
        assert src.dtypes[0] == "uint8"
        assert src.nodata == 255
        assert src.res == (2.0, 2.0)
        assert src.profile["tiled"]
        assert src.compression.name.lower() == "deflate"
        arr = src.read(1)
        assert set(np.unique(arr)) <= {0, 1, 2, 3, 4, 255}
        assert (arr == 255).any()
        assert (arr == 0).any()
        # classes under building centroids: strong/excessive more often on QPV roofs
        b = demo["buildings"]
        res = b[b["usage1"].isin(["Résidentiel", "Indifférencié"])].to_crs(3950)
        pts = shapely.get_coordinates(res.geometry.centroid.to_numpy())
        vals = np.array([v[0] for v in src.sample(pts)])
    inq = res.geometry.centroid.to_crs(2154).within(demo["qpv"].geometry.union_all()).to_numpy()
    strong = np.isin(vals, [3, 4])
    assert strong[inq].mean() > strong[~inq].mean() + 0.05
    with rasterio.open(demo["temperature"]) as src:
        assert src.crs.to_epsg() == 3950
        assert src.dtypes[0] == "float32"
        assert math.isnan(src.nodata)
        t = src.read(1)
        assert np.isnan(t).any()
        assert np.nanmin(t) > -15
        assert np.nanmax(t) < 10
    with rasterio.open(demo["summer_lst"]) as src:
        assert src.crs.to_epsg() == 32631
        assert src.res == (30.0, 30.0)
        assert np.isnan(src.read(1)).any()

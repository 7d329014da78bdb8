"""Tests of qpvgeo.maps: escaping, offline assets, compact building layer, legend classes."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from qpvgeo.errors import MissingCRSError, SchemaError
from qpvgeo.maps import (
    ASSETS,
    STATIC_DIR,
    class_breaks,
    encode_buildings,
    fisher_jenks_bins,
    portrait_map,
    save_map,
)

X0, Y0 = 700000.0, 7040000.0
EVIL = "<img src=x onerror=alert(1)>"


def _qpv():
    return gpd.GeoDataFrame(
        {"code_qpv": ["QN06201M", "QN06202M"], "nom_qpv": [EVIL, "Cité B"],
         "heatloss_strong_share": [0.25, np.nan]},
        geometry=[shapely.box(X0, Y0, X0 + 500, Y0 + 500),
                  shapely.box(X0 + 3000, Y0, X0 + 3500, Y0 + 500)], crs=2154)


def _buildings():
    # 3 buildings near QPV 1 (inside or within 300 m), 2 far away (> 1 km from both QPV)
    xs = [X0 + 100, X0 + 600, X0 + 750, X0 + 1500, X0 + 1520]
    geoms = [shapely.box(x, Y0 + 100, x + 10, Y0 + 110) for x in xs]
    return gpd.GeoDataFrame({"heatloss_label": ["fortes", "faibles", "excessives",
                                                "fortes", None]}, geometry=geoms, crs=2154)


def test_text_from_inputs_is_escaped(tmp_path):
    bpe = gpd.GeoDataFrame({"typequ": ["D201"], "label": [EVIL]},
                           geometry=[shapely.Point(X0 + 10, Y0 + 10)], crs=2154)
    m = portrait_map(_qpv(), indicator="heatloss_strong_share", equipment=bpe,
                     equipment_label_col="label", title=f"Titre {EVIL}", illustrative=True)
    page = save_map(m, tmp_path / "carte.html").read_text(encoding="utf-8")
    assert "onerror=alert(1)" in page  # the name is there...
    assert EVIL not in page  # ...but never as markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # title/legend escaped as HTML text
    assert "Données illustratives" in page


def test_offline_page_references_only_local_assets(tmp_path):
    bpe = gpd.GeoDataFrame({"typequ": ["D307"]}, geometry=[shapely.Point(X0, Y0)], crs=2154)
    m = portrait_map(_qpv(), indicator="heatloss_strong_share", equipment=bpe,
                     buildings=_buildings(), offline=True)
    page = save_map(m, tmp_path / "carte.html", offline=True).read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page)
    assert refs, "the page loads its scripts"
    assert not [r for r in refs if "//" in r]
    for r in refs:
        assert (tmp_path / r).is_file(), r
    assert "tile.openstreetmap" not in page


def test_online_page_uses_cdn_and_tiles(tmp_path):
    page = save_map(portrait_map(_qpv()), tmp_path / "c.html").read_text(encoding="utf-8")
    assert ASSETS["leaflet"][2] in page
    assert "openstreetmap" in page.lower()
    assert not (tmp_path / "assets").exists()


def test_vendored_assets_complete():
    for _kind, rel, url in ASSETS.values():
        assert (STATIC_DIR / rel).is_file(), rel
        assert url.startswith("https://cdn.jsdelivr.net/npm/")
    css = (STATIC_DIR / "leaflet/leaflet.css").read_text()
    for img in re.findall(r"url\((images/[^)]+)\)", css):
        assert (STATIC_DIR / "leaflet" / img).is_file()
    assert (STATIC_DIR / "fontawesome/webfonts/fa-solid-900.woff2").is_file()
    for lic in ("leaflet/LICENSE", "leaflet.markercluster/MIT-LICENCE.txt",
                "fontawesome/LICENSE.txt"):
        assert (STATIC_DIR / lic).is_file()


def test_encode_buildings_hand_worked():
    # a 2e-5 x 1e-5 degree rectangle at (3.0, 50.0) and one sliver smaller than the quantum
    rect = shapely.box(3.0, 50.0, 3.00002, 50.00001)
    sliver = shapely.box(3.1, 50.1, 3.100001, 50.100001)
    data = encode_buildings(np.array([rect, sliver], dtype=object), np.array([2, 0]))
    assert data["q"] == 1e-5
    assert data["o"] == [300000, 5000000]
    # shapely.box ring (counter-clockwise from (xmax, ymin)): (2,0) (2,1) (0,1) (0,0) [closing]
    # → start (2,0) then deltas (0,1) (-2,0) (0,-1); the sliver collapses to one vertex: dropped
    assert data["r"] == [[2, 2, 0, 0, 1, -2, 0, 0, -1]]


def test_buildings_detail_near_qpv_and_cells_elsewhere(tmp_path):
    m = portrait_map(_qpv(), buildings=_buildings(), detail_m=300, cell_m=250)
    page = save_map(m, tmp_path / "c.html").read_text(encoding="utf-8")
    payloads = re.findall(r"var data = (\{.*?\});\n", page)
    detail = next(p for p in payloads if '"r":[' in p)
    # three buildings within 300 m of QPV 1 (x+100 inside, x+600 and x+750 within 300 m)
    assert detail.count("],[") + 1 == 3
    cells = next(p for p in payloads if '"cells":[' in p)
    # the two far buildings (x+1500, x+1520) fall in one 250 m cell: 2 buildings, 1 classed
    assert cells.count("Carreau de") == 1
    assert "2 bâtiments, 1 classés" in cells
    assert "QPV + 300" in page
    assert "carreaux de 250" in page


def test_legend_classes_and_missing_value(tmp_path):
    q = _qpv()
    q.loc[1, "heatloss_strong_share"] = 0.75
    extra = q.iloc[[0]].assign(code_qpv="QN06203M", heatloss_strong_share=np.nan)
    q = gpd.GeoDataFrame(pd.concat([q, extra], ignore_index=True), crs=q.crs)
    page = save_map(portrait_map(q, indicator="heatloss_strong_share", k=5),
                    tmp_path / "c.html").read_text(encoding="utf-8")
    # two distinct values → two classes (k lowered), plus "donnée non disponible" for NaN
    assert "25,0\u202f% – 25,0\u202f%" in page
    assert "25,0\u202f% – 75,0\u202f%" in page
    assert "donnée non disponible" in page


def test_bad_input():
    with pytest.raises(SchemaError, match="indicateur_carte"):
        portrait_map(_qpv(), indicator="nope")
    q = _qpv()
    q = q.set_crs(None, allow_override=True)
    with pytest.raises(MissingCRSError):
        portrait_map(q)


def test_fisher_jenks_by_hand():
    # 1 2 3 | 10 11 12 | 30: within-class sums of squares 2 + 2 + 0 = 4, the optimum for 3
    # classes (any other cut puts 3 with 10 or 12 with 30 and costs more)
    y = pd.Series([12.0, 1, 30, 2, np.nan, 11, 3, 10])
    idx, bins = class_breaks(y, k=3)
    assert bins == [3.0, 12.0, 30.0]
    assert idx.tolist() == [1, 0, 2, 0, -1, 1, 0, 1]  # -1: missing, never class 0
    # fewer distinct values than classes: k lowered; one value: one class
    assert class_breaks(pd.Series([5.0, 5.0, 7.0]), k=5)[1] == [5.0, 7.0]
    assert class_breaks(pd.Series([5.0, 5.0]), k=5)[1] == [5.0]


def test_fisher_jenks_matches_mapclassify():
    mapclassify = pytest.importorskip("mapclassify")
    import warnings

    rng = np.random.default_rng(20240331)
    for _ in range(60):
        n = int(rng.integers(5, 60))
        k = int(rng.integers(2, 7))
        y = np.round(rng.gamma(2.0, 10.0, n), int(rng.integers(0, 3)))  # ties included
        if len(np.unique(y)) < k:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Numba not installed"
            ref = mapclassify.FisherJenks(y, k)
        assert fisher_jenks_bins(np.sort(y), k) == pytest.approx(ref.bins)
        assert class_breaks(pd.Series(y), k)[0].tolist() == ref.yb.tolist()


def test_walking_areas_one_layer_per_kind_with_its_label(tmp_path):
    areas = gpd.GeoDataFrame(
        {"kind": ["Médecins généralistes", "Pharmacies"],
         "label": ["accessible à pied en 15 min (réseau des rues)"] * 2},
        geometry=[shapely.box(X0, Y0, X0 + 800, Y0 + 800).buffer(10),
                  shapely.box(X0 + 2000, Y0, X0 + 2500, Y0 + 600)], crs=2154)
    page = save_map(portrait_map(_qpv(), walking_areas=areas),
                    tmp_path / "c.html").read_text(encoding="utf-8")
    # layer names are written as JSON strings in the layer control
    for kind in ("Médecins généralistes", "Pharmacies"):
        name = f"{kind} : accessible à pied en 15 min (réseau des rues)"
        assert json.dumps(name)[1:-1] in page

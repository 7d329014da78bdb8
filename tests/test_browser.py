"""Browser test: the offline portrait map in Debian's headless Chromium (marker ``browser``).

Builds a CALL-sized synthetic case (50,000 building footprints over 15 × 12 km, 20 QPV-like
zones, 300 health equipment, 3,000 social dwellings), writes the offline page, loads it from the
output folder with Chromium through chromedriver (selenium), and checks: no JavaScript error or
failed load in the console, every layer in the layer control, buildings drawn. It prints the page
size and the draw time (``window.qpvgeoDrawn``: ms from navigation start to two painted frames
after the layers were built) and saves a screenshot beside the page.

Skipped with a reason when chromium, chromedriver or selenium is absent (a failure in CI).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
EVIL = "<img src=x onerror=alert(1)>"


def _driver(tmp_path: Path):
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.skip("Debian's chromium / chromium-driver not installed "
                    "(scripts/install_system.sh)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chrome-profile'}", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def _open_map(driver, page: Path):
    """Open a qpvgeo map page; return (drawing time in ms or None, browser log, layer names).

    The page sets ``window.qpvgeoDrawn`` once every layer is drawn; waits up to 30 s.
    """
    driver.get(page.as_uri())
    drawn = None
    for _ in range(300):
        drawn = driver.execute_script("return window.qpvgeoDrawn || null")
        if drawn:
            break
        time.sleep(0.1)
    logs = driver.get_log("browser")
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll("
        "'.leaflet-control-layers-overlays label')).map(e => e.textContent.trim())")
    return drawn, logs, labels


def _case(n_buildings: int = 50_000, seed: int = 42):
    rng = np.random.default_rng(seed)
    x0, y0 = 680_000.0, 7_030_000.0
    centres = np.column_stack([rng.uniform(x0 + 1000, x0 + 14000, 20),
                               rng.uniform(y0 + 1000, y0 + 11000, 20)])
    sizes = rng.uniform(250, 600, (20, 2))
    qpv = gpd.GeoDataFrame(
        {"code_qpv": [f"QN062{i:02d}M" for i in range(20)],
         "nom_qpv": [EVIL if i == 0 else f"Quartier {i}" for i in range(20)],
         "heatloss_strong_share": rng.uniform(0.2, 0.8, 20)},
        geometry=[shapely.box(cx - sx, cy - sy, cx + sx, cy + sy)
                  for (cx, cy), (sx, sy) in zip(centres, sizes, strict=True)], crs=2154)
    xs = rng.uniform(x0, x0 + 15000, n_buildings)
    ys = rng.uniform(y0, y0 + 12000, n_buildings)
    w, h = rng.uniform(6, 18, n_buildings), rng.uniform(6, 14, n_buildings)
    polys = shapely.box(xs, ys, xs + w, ys + h)
    labels = rng.choice(["faibles", "moyennes", "fortes", "excessives", "non classé"],
                        n_buildings, p=[0.25, 0.3, 0.25, 0.15, 0.05])
    bld = gpd.GeoDataFrame({"heatloss_label": labels}, geometry=polys, crs=2154)
    bpe = gpd.GeoDataFrame(
        {"typequ": rng.choice(["D201", "D221", "D232", "D307", "D106", "D113"], 300)},
        geometry=gpd.points_from_xy(rng.uniform(x0, x0 + 15000, 300),
                                    rng.uniform(y0, y0 + 12000, 300)), crs=2154)
    rpls = gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        np.repeat(rng.uniform(x0, x0 + 15000, 300), 10),
        np.repeat(rng.uniform(y0, y0 + 12000, 300), 10)), crs=2154)
    walk = gpd.GeoDataFrame({"kind": ["Pharmacie"]},
                            geometry=[bpe.geometry.iloc[:20].buffer(1125).union_all()], crs=2154)
    com = gpd.GeoDataFrame({"nom_com": ["Commune A", "Commune B"], "insee_com": ["62001", "62002"]},
                           geometry=[shapely.box(x0, y0, x0 + 7500, y0 + 12000),
                                     shapely.box(x0 + 7500, y0, x0 + 15000, y0 + 12000)],
                           crs=2154)
    return qpv, bld, bpe, rpls, walk, com


def test_offline_map_in_headless_chromium(tmp_path):
    from qpvgeo.maps import portrait_map, save_map

    qpv, bld, bpe, rpls, walk, com = _case()
    iris = qpv.rename(columns={"code_qpv": "code_iris", "nom_qpv": "nom_iris"})[
        ["code_iris", "nom_iris", "geometry"]]
    t0 = time.perf_counter()
    m = portrait_map(qpv, indicator="heatloss_strong_share", npnru=["QN06201M"], iris=iris,
                     communes=com, buildings=bld, social_housing=rpls, equipment=bpe,
                     walking_areas=walk, illustrative=True, offline=True)
    page = save_map(m, tmp_path / "out" / "carte.html", offline=True)
    build_s = time.perf_counter() - t0
    size_mb = page.stat().st_size / 1e6
    driver = _driver(tmp_path)
    try:
        drawn, logs, labels = _open_map(driver, page)
        n_paths = driver.execute_script(
            "return document.querySelectorAll('canvas.leaflet-zoom-animated').length")
        alerted = driver.execute_script("return document.querySelectorAll('img[src=\"x\"]')"
                                        ".length")
        shot = tmp_path / "out" / "capture.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    print(f"\n50 000 bâtiments : page {size_mb:.2f} Mo, construite en {build_s:.1f} s, "
          f"dessinée en {drawn / 1000 if drawn else float('nan'):.2f} s dans Chromium")
    severe = [e for e in logs if e.get("level") == "SEVERE"]
    assert severe == [], severe
    assert drawn is not None, "the page never finished drawing"
    expected = {"Communes", "IRIS concernés par un QPV", "QPV du NPNRU",
                "Logements sociaux (RPLS)", "Équipements de santé (BPE)"}
    assert expected <= set(labels), labels
    assert any(lbl.startswith("Bâtiments : déperditions (détail") for lbl in labels)
    assert any(lbl.startswith("Bâtiments : déperditions (carreaux") for lbl in labels)
    assert any(lbl.startswith("QPV : ") for lbl in labels)
    assert n_paths >= 1  # vector layers drawn on canvas
    assert alerted == 0  # the QPV named like an <img> tag was not turned into markup
    assert shot.stat().st_size > 10_000
    assert size_mb < 5.0  # target of issue 7 (a plain folium GeoJSON is ~14 MB)


@pytest.mark.slow
def test_demo_portrait_offline_in_chromium(tmp_path_factory, tmp_path):
    """The demo territory's portrait folder (``--offline``) opened as a user would."""
    from qpvgeo import portrait

    out = tmp_path_factory.getbasetemp() / "demo-portrait"  # shared with test_portrait
    if not (out / portrait.MARKER).exists():
        portrait.run_portrait(None, out, offline=True)
    page = out / "carte.html"
    size_mb = page.stat().st_size / 1e6
    driver = _driver(tmp_path)
    try:
        drawn, logs, labels = _open_map(driver, page)
        banner = driver.execute_script("return document.body.innerText")
        shot = tmp_path / "capture_demo.png"
        driver.save_screenshot(str(shot))
        driver.get((out / "rapport.html").as_uri())
        report_logs = driver.get_log("browser")
        broken = driver.execute_script(
            "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
            ".map(i => i.getAttribute('src'))")
    finally:
        driver.quit()
    print(f"\nterritoire de démonstration : page {size_mb:.2f} Mo, dessinée en "
          f"{drawn / 1000 if drawn else float('nan'):.2f} s dans Chromium")
    assert [e for e in logs if e.get("level") == "SEVERE"] == []
    assert drawn is not None, "the page never finished drawing"
    assert {"Communes", "IRIS concernés par un QPV", "QPV du NPNRU",
            "Logements sociaux (RPLS)", "Équipements de santé (BPE)"} <= set(labels), labels
    assert any(lbl.startswith("QPV : ") for lbl in labels)
    assert any(lbl.startswith("Bâtiments : déperditions (détail") for lbl in labels)
    assert "Données illustratives" in banner
    assert shot.stat().st_size > 10_000
    assert size_mb < 5.0
    # the report and its charts load from the folder
    assert [e for e in report_logs if e.get("level") == "SEVERE"] == []
    assert broken == [], broken

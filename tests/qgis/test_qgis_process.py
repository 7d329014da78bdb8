"""The plugin zip installed in a clean temporary profile, run by ``qgis_process.bin``.

This is what a user gets: the zip built by ``scripts/build_plugin.py`` (``make plugin``),
unpacked into a profile, the library taken from the zip's bundled copy (the repository is not on
the path), third-party packages from the environment's site-packages (as after
``pip install --user -r requirements.txt``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import qgis_env  # noqa: E402

sys.path.pop(0)


@pytest.fixture(scope="module")
def installed_profile(qgis_app, tmp_path_factory):
    """A profiles root holding only the freshly built plugin, enabled."""
    if not Path(qgis_env.QGIS_PROCESS).exists():
        pytest.skip(f"qgis_process.bin introuvable ({qgis_env.QGIS_PROCESS}) : installez qgis")
    tmp = tmp_path_factory.mktemp("qgis_process")
    profiles = tmp / "profiles_root"
    qgis_env.install_plugin(profiles, tmp / "qpvgeo_plugin.zip")
    return profiles


@pytest.fixture(scope="module")
def qgis_site():
    """shapely built against QGIS's GEOS + the distribution's pyproj (see scripts/qgis_env.py)."""
    try:
        return qgis_env.compatible_site()
    except RuntimeError as exc:
        pytest.skip(str(exc))


def run_qgis_process(profiles, site_dir, *args, cwd):
    return qgis_env.run_qgis_process(list(args), profiles, site_dir, cwd, timeout=300)


def _json(proc):
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_provider_listed_with_every_algorithm(installed_profile, qgis_site, tmp_path):
    from qgis_helpers import EXPECTED_ALGORITHMS

    proc = run_qgis_process(installed_profile, qgis_site, "--json", "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listing = _json(proc)
    provider = listing["providers"]["qpvgeo"]
    ids = set(provider["algorithms"])
    assert ids == {f"qpvgeo:{alg_id}" for alg_id in EXPECTED_ALGORITHMS}


def test_iris_qpv_overlap_through_qgis_process(installed_profile, qgis_site, tmp_path):
    """Hand-worked: IRIS A (0–100) and B (100–200), QPV x 50–150: halves everywhere."""
    import geopandas as gpd
    from qgis_helpers import X0, Y0
    from shapely import box

    iris = gpd.GeoDataFrame({"code_iris": ["624980101", "624980102"]},
                            geometry=[box(X0, Y0, X0 + 100, Y0 + 100),
                                      box(X0 + 100, Y0, X0 + 200, Y0 + 100)], crs=2154)
    qpv = gpd.GeoDataFrame({"code_qpv": ["QN06201A"]},
                           geometry=[box(X0 + 50, Y0, X0 + 150, Y0 + 100)], crs=2154)
    iris.to_file(tmp_path / "iris.gpkg")
    qpv.to_crs(3950).to_file(tmp_path / "qpv.geojson")  # CC50, as local portals publish
    out = tmp_path / "out.gpkg"
    proc = run_qgis_process(
        installed_profile, qgis_site, "--json", "run", "qpvgeo:iris_qpv_overlap", "--",
        f"IRIS={tmp_path / 'iris.gpkg'}", f"QPV={tmp_path / 'qpv.geojson'}", f"OUTPUT={out}",
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _json(proc)
    assert result["results"]["OUTPUT"] == str(out)
    got = gpd.read_file(out).sort_values("code_iris")
    assert got["surface_m2"].tolist() == pytest.approx([50 * 100] * 2, rel=1e-6)
    assert got["part_de_l_iris"].tolist() == pytest.approx([0.5, 0.5], rel=1e-6)
    assert got["part_du_qpv"].tolist() == pytest.approx([0.5, 0.5], rel=1e-6)


def test_qgis_process_reports_a_bad_input_as_an_error(installed_profile, qgis_site, tmp_path):
    """A layer without CRS: a French message and a failure code, no traceback, no output."""
    (tmp_path / "no_crs.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "crs": None, "features": []}))
    out = tmp_path / "out.gpkg"
    proc = run_qgis_process(
        installed_profile, qgis_site, "run", "qpvgeo:iris_qpv_overlap", "--",
        f"IRIS={tmp_path / 'no_crs.geojson'}", f"QPV={tmp_path / 'no_crs.geojson'}",
        f"OUTPUT={out}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists()


def test_clashing_wheels_are_refused_not_crashed(installed_profile, tmp_path):
    """With the shapely/pyproj wheels (own GEOS/PROJ) inside qgis_process: a clear refusal."""
    import geopandas as gpd
    from qgis_helpers import X0, Y0
    from shapely import box

    gpd.GeoDataFrame({"code_iris": ["624980101"], "code_qpv": ["QN06201A"]},
                     geometry=[box(X0, Y0, X0 + 100, Y0 + 100)], crs=2154).to_file(
        tmp_path / "z.gpkg")
    proc = run_qgis_process(
        installed_profile, None, "run", "qpvgeo:iris_qpv_overlap", "--",
        f"IRIS={tmp_path / 'z.gpkg'}", f"QPV={tmp_path / 'z.gpkg'}",
        f"OUTPUT={tmp_path / 'out.gpkg'}", cwd=tmp_path)
    assert proc.returncode not in (0, -6, -11, 134, 139), proc.stdout + proc.stderr
    assert "Conflit de bibliothèques" in proc.stdout + proc.stderr
    assert "--no-binary shapely" in proc.stdout + proc.stderr
    assert not (tmp_path / "out.gpkg").exists()


def test_building_heat_loss_through_qgis_process(installed_profile, qgis_site, tmp_path):
    """GeoPackage in and out (the bulk path) inside qgis_process: same classes as the library."""
    import geopandas as gpd
    import numpy as np
    from qgis_helpers import X0, Y0, write_raster
    from shapely import box

    from qpvgeo.thermography import building_heat_loss

    array = np.ones((40, 40), dtype="uint8")
    array[:, 20:] = 4
    raster = write_raster(tmp_path / "thermo.tif", array)
    buildings = gpd.GeoDataFrame(
        {"nom": [f"B{i}" for i in range(6)]},
        geometry=[box(X0 + 2 + 6 * i, Y0 + 5, X0 + 7 + 6 * i, Y0 + 12) for i in range(6)],
        crs=2154)
    buildings.to_file(tmp_path / "batiments.gpkg")
    out = tmp_path / "classes.gpkg"
    proc = run_qgis_process(installed_profile, qgis_site, "--json", "run",
                            "qpvgeo:building_heat_loss", "--", f"RASTER={raster}",
                            f"BUILDINGS={tmp_path / 'batiments.gpkg'}", f"OUTPUT={out}",
                            cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = gpd.read_file(out, layer="batiments")
    expected = building_heat_loss(raster, buildings)
    assert list(got["libelle_deperdition"]) == list(expected["heatloss_label"])
    # the input comes from a newer GDAL (the pyogrio wheel: other R-tree triggers); the SQL
    # write still gives multi-polygons, as the sink does, in a sound file
    import pyogrio

    assert ["batiments", "MultiPolygon"] in pyogrio.list_layers(out).tolist()
    con = sqlite3.connect(out)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()
    np.testing.assert_allclose(got["pixels_valides"], expected["heatloss_valid_px"])


def _site_with_pyogrio_wheel(site_dir: Path, folder: Path) -> Path:
    """The QGIS-safe site without its pyogrio: pyogrio then comes from the environment (the
    PyPI wheel bundling its own GDAL), shapely and pyproj stay the safe ones."""
    folder.mkdir()
    for entry in site_dir.iterdir():
        if not entry.name.startswith("pyogrio") and not entry.name.startswith("."):
            (folder / entry.name).symlink_to(entry.resolve())
    return folder


def test_portrait_with_the_pyogrio_wheel_is_refused_not_crashed(installed_profile, qgis_site,
                                                                tmp_path):
    """pyogrio's wheel (own GDAL) inside qgis_process: the portrait refuses, naming pyogrio and
    the fix, writes nothing and does not crash."""
    sys.path.insert(0, str(ROOT / "qgis_plugin"))
    try:
        from qpvgeo_plugin import deps
    finally:
        sys.path.pop(0)
    from osgeo import gdal

    bundled = deps._bundled_version("pyogrio", "libgdal-")
    if not bundled or bundled.split(".")[:2] == gdal.__version__.split(".")[:2]:
        pytest.fail(f"this test needs the pyogrio wheel of PyPI in .venv-qgis (bundled GDAL: "
                    f"{bundled}, QGIS's GDAL {gdal.__version__}): pip install pyogrio")
    site = _site_with_pyogrio_wheel(qgis_site, tmp_path / "site_sans_pyogrio")
    proc = run_qgis_process(installed_profile, site, "run", "qpvgeo:portrait", "--",
                            "DEMO=true", "OPEN_MAP=false",
                            f"OUTPUT_FOLDER={tmp_path / 'portrait'}", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode not in (0, -6, -11, 134, 139), output
    assert f"le paquet pyogrio embarque GDAL {bundled}" in output
    assert "--no-binary shapely,pyogrio" in output
    assert "Traceback" not in output
    assert not (tmp_path / "portrait").exists()


def _rasterio_tripwire(folder: Path) -> Path:
    """A ``rasterio`` package that records any import attempt in ``folder/imported``."""
    package = folder / "rasterio"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import pathlib, traceback\n"
        f"pathlib.Path({str(folder / 'imported')!r}).write_text(''.join("
        "traceback.format_stack()))\n"
        "raise ImportError('tripwire: rasterio imported inside qgis_process')\n")
    return folder / "imported"


@pytest.mark.slow
def test_portrait_through_qgis_process_equals_the_library(installed_profile, qgis_site,
                                                         library_portrait, tmp_path):
    """The whole demo portrait inside qgis_process.bin, with the zip in a clean profile and the
    QGIS-safe site (shapely, pyogrio built on QGIS's GEOS/GDAL): every output written, the same
    indicateurs.csv as qpvgeo.portrait.run_portrait, rasterio (own GDAL) never imported,
    and a clean exit (no crash when QGIS unloads its libraries)."""
    import pandas as pd

    tripwire = tmp_path / "tripwire"
    imported = _rasterio_tripwire(tripwire)
    env = qgis_env.qgis_process_env(installed_profile, qgis_site)
    out = tmp_path / "portrait"
    proc = qgis_env.run_qgis_process(
        ["--json", "run", "qpvgeo:portrait", "--", "DEMO=true", "OPEN_MAP=false",
         f"OUTPUT_FOLDER={out}"], installed_profile, qgis_site, tmp_path, timeout=1200,
        extra_env={"QPVGEO_DEMO_DIR": os.environ.get("QPVGEO_DEMO_DIR", str(ROOT / "data")),
                   "PYTHONPATH": f"{tripwire}:{env['PYTHONPATH']}"})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    for crash in ("Traceback", "double free", "Segmentation", "corrupted"):
        assert crash not in output
    assert not imported.exists(), imported.read_text()
    results = _json(proc)["results"]
    assert results["OUTPUT_FOLDER"] == str(out)
    assert results["MAP"] == str(out / "carte.html")
    assert results["REPORT"] == str(out / "rapport.html")
    assert results["GEOPACKAGE"] == str(out / "portrait.gpkg")
    expected = sorted(p.relative_to(library_portrait) for p in library_portrait.rglob("*"))
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == expected
    got = (out / "indicateurs.csv").read_bytes()
    assert got == (library_portrait / "indicateurs.csv").read_bytes()
    table = pd.read_csv(out / "indicateurs.csv", sep=";", dtype=str)
    assert len(table) > 100
    assert (table["donnees_illustratives"] == "True").all()
    summary, reference = (json.loads((folder / "resume.json").read_text(encoding="utf-8"))
                          for folder in (out, library_portrait))
    assert set(summary.pop("durees_s")) == set(reference.pop("durees_s"))  # times differ
    assert summary == reference

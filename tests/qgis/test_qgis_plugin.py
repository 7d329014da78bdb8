"""The plugin as QGIS sees it: provider, metadata, zip, dependencies, progress, cancel, errors."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from qgis_helpers import EXPECTED_ALGORITHMS, box_wkt, point_wkt, write_raster

pytestmark = pytest.mark.qgis

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "qgis_plugin" / "qpvgeo_plugin"


def test_provider_registers_every_algorithm_with_french_names(plugin):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("qpvgeo")
    assert provider is not None
    algs = {a.name(): a for a in provider.algorithms()}
    assert set(algs) == EXPECTED_ALGORITHMS
    assert algs["building_heat_loss"].displayName() == "Déperditions thermiques par bâtiment"
    assert algs["iris_qpv_overlap"].displayName() == "Correspondance IRIS ↔ QPV"
    for alg in algs.values():
        assert alg.id() == f"qpvgeo:{alg.name()}"
        assert alg.groupId() in {"thermographie", "territoire", "thematiques", "portrait"}
        assert alg.group()
        assert alg.shortHelpString()
        assert not alg.icon().isNull()
        for param in alg.parameterDefinitions():
            assert param.description(), (alg.name(), param.name())


def test_metadata_declares_versions_and_processing_provider():
    meta = configparser.ConfigParser()
    meta.read(PLUGIN_DIR / "metadata.txt", encoding="utf-8")
    general = meta["general"]
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["qgisMaximumVersion"] == "4.99"
    assert general["hasProcessingProvider"] == "yes"
    assert (PLUGIN_DIR / general["icon"]).exists()


def test_plugin_imports_qt_only_through_qgis_pyqt():
    for path in PLUGIN_DIR.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("import PyQt5", "from PyQt5", "import PyQt6", "from PyQt6"):
            assert forbidden not in text, path


def test_zip_build(tmp_path):
    out = tmp_path / "qpvgeo_plugin.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "--output",
                    str(out)], check=True, capture_output=True)
    import qpvgeo

    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        meta = zf.read("qpvgeo_plugin/metadata.txt").decode()
    for required in ("__init__.py", "metadata.txt", "icon.svg", "LICENSE", "requirements.txt",
                     "provider.py", "_vendor/qpvgeo/__init__.py",
                     "_vendor/qpvgeo/thermography.py"):
        assert f"qpvgeo_plugin/{required}" in names, required
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert all(n.startswith("qpvgeo_plugin/") for n in names)
    assert f"version={qpvgeo.__version__}" in meta
    # reproducible: a second build gives the same bytes
    out2 = tmp_path / "again.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "--output",
                    str(out2)], check=True, capture_output=True)
    assert out.read_bytes() == out2.read_bytes()


def test_health_kinds_match_the_library(plugin):
    sys.path.insert(0, str(PLUGIN_DIR.parent))
    from qpvgeo_plugin.algorithms.health import DEFAULT_KINDS, HEALTH_KINDS, LABELS

    from qpvgeo.health import DEFAULT_HEALTH_KINDS, KIND_LABELS

    assert {k: KIND_LABELS[k] for k in HEALTH_KINDS} == LABELS
    assert set(DEFAULT_KINDS) == set(DEFAULT_HEALTH_KINDS)


def test_missing_package_gives_a_french_message_not_a_traceback(plugin, monkeypatch, run_alg,
                                                                 make_layer, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingException
    from qgis.PyQt.QtCore import QVariant
    from qpvgeo_plugin import deps

    monkeypatch.setitem(deps.GROUPS, "core", {**deps.CORE, "geopandas_absent": (
        "geopandas-absent", "9.0")})
    deps.reset_cache()
    try:
        alg = QgsApplication.processingRegistry().algorithmById("qpvgeo:iris_qpv_overlap")
        ok, message = alg.canExecute()
        assert not ok
        assert "geopandas-absent ≥ 9.0 : absent" in message
        assert "pip install" in message
        assert "QPIP" in message
        layer = make_layer("Polygon?crs=EPSG:2154", [("code_iris", QVariant.String)],
                           [(box_wkt(0, 0, 1, 1), ["624980101"])])
        with pytest.raises(QgsProcessingException, match="geopandas-absent"):
            run_alg("iris_qpv_overlap", {"IRIS": layer, "QPV": layer,
                                         "OUTPUT": str(tmp_path / "x.gpkg")})
    finally:
        monkeypatch.undo()
        deps.reset_cache()
    assert alg.canExecute()[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="commandes propres à Linux")
def test_linux_install_command_never_installs_clashing_wheels(plugin, monkeypatch):
    """Linux: pyproj from apt, shapely/pyogrio compiled on the system GEOS/GDAL, geopandas
    without dependencies (else pip fetches the wheels), numpy kept below 2 for QGIS's GDAL."""
    from qpvgeo_plugin import deps

    monkeypatch.setattr(deps, "_externally_managed", lambda: True)
    monkeypatch.setattr(deps, "_installed_version",
                        lambda name: "1.26.4" if name == "numpy" else None)
    command = deps.install_command(["pandas>=2.0", "shapely>=2.0", "pyproj>=3.4",
                                    "geopandas>=1.0", "pyogrio>=0.7.2", "folium>=0.15"])
    apt, pip, pip_geopandas = command.split(" ; ")
    assert apt == ("sudo apt install python3-pyproj libgeos-dev libgdal-dev python3-dev gcc "
                   "g++")
    assert pip.endswith('-m pip install --user --break-system-packages --no-binary '
                        'pyogrio,shapely "numpy<2" "pandas>=2.0" "shapely>=2.0" '
                        '"pyogrio>=0.7.2" "folium>=0.15"')
    assert pip_geopandas.endswith('-m pip install --user --break-system-packages --no-deps '
                                  '"geopandas>=1.0"')
    assert "pyproj" not in pip + pip_geopandas
    only_folium = deps.install_command(["folium>=0.15"])
    assert only_folium.endswith('pip install --user --break-system-packages "numpy<2" '
                                '"folium>=0.15"')
    assert "apt" not in only_folium


def test_version_too_old_is_reported(plugin):
    from qpvgeo_plugin import deps

    deps.reset_cache()
    try:
        deps.GROUPS["test"] = {"numpy": ("numpy", "99.0")}
        problems = deps.missing(("test",))
        assert problems[0][0] == "numpy"
        assert "99.0 ou plus récente requise" in problems[0][2]
    finally:
        del deps.GROUPS["test"]
        deps.reset_cache()


class _Feedback:
    """Factory of feedbacks recording progress and cancelling at a given percentage."""

    @staticmethod
    def make(cancel_at=None):
        from qgis.core import QgsProcessingFeedback

        class Recorder(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.values = []
                self.texts = []
                self.progressChanged.connect(self._on_progress)

            def _on_progress(self, value):
                self.values.append(value)
                if cancel_at is not None and value >= cancel_at:
                    self.cancel()

            def setProgressText(self, text):
                self.texts.append(text)
                super().setProgressText(text)

        return Recorder()


@pytest.fixture
def heat_inputs(make_layer, tmp_path):
    from qgis.PyQt.QtCore import QVariant

    array = np.ones((200, 200), dtype="uint8")
    array[:, 100:] = 4
    raster = write_raster(tmp_path / "r.tif", array)
    feats = [(box_wkt(x, y, x + 6, y + 6), [f"B{x}_{y}"])
             for x in range(0, 190, 10) for y in range(0, 190, 10)]
    buildings = make_layer("Polygon?crs=EPSG:2154", [("nom", QVariant.String)], feats)
    return raster, buildings


def test_progress_reaches_100_with_french_messages(heat_inputs, run_alg, tmp_path):
    raster, buildings = heat_inputs
    feedback = _Feedback.make()
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings,
                                   "OUTPUT": str(tmp_path / "o.gpkg")}, feedback=feedback)
    assert feedback.values[-1] == 100
    assert feedback.values == sorted(feedback.values)
    assert feedback.texts  # the library's French step messages


def test_cancel_stops_the_library_and_writes_nothing(heat_inputs, run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    raster, buildings = heat_inputs
    out = tmp_path / "o.gpkg"
    feedback = _Feedback.make(cancel_at=5)
    with pytest.raises(QgsProcessingException, match="annulé"):
        run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings,
                                       "OUTPUT": str(out)}, feedback=feedback)
    assert not out.exists()


@pytest.fixture
def housing_inputs(make_layer):
    """Zones A (0–100 m square, 1 ha) and B (100–200 m, 1 ha); 3 dwellings in A, 1 in B."""
    from qgis.PyQt.QtCore import QVariant

    zones = make_layer("Polygon?crs=EPSG:2154", [("code_qpv", QVariant.String)],
                       [(box_wkt(0, 0, 100, 100), ["QN06201A"]),
                        (box_wkt(100, 0, 200, 100), ["QN06202B"])])
    rpls = make_layer("Point?crs=EPSG:2154", [("construct", QVariant.Int)],
                      [(point_wkt(10, 10), [1965]), (point_wkt(20, 50), [1972]),
                       (point_wkt(90, 90), [2005]), (point_wkt(150, 50), [1990])])
    return rpls, zones


def test_social_housing_reports_its_steps_in_french(housing_inputs, run_alg, tmp_path,
                                                    read_output):
    rpls, zones = housing_inputs
    feedback = _Feedback.make()
    out = str(tmp_path / "logement.gpkg")
    run_alg("social_housing", {"RPLS": rpls, "ZONES": zones, "OUTPUT": out},
            feedback=feedback)
    assert feedback.values[-1] == 100
    assert feedback.values == sorted(feedback.values)
    for text in ("lecture des logements RPLS", "lecture des quartiers",
                 "parc social par quartier", "écriture de la couche"):
        assert text in feedback.texts
    got = read_output(out).set_index("code_qpv")
    assert got.loc[["QN06201A", "QN06202B"], "nb_logements_sociaux"].tolist() == [3, 1]
    assert got.loc[["QN06201A", "QN06202B"], "rpls_par_ha"].tolist() == \
        pytest.approx([3 / 1.0, 1 / 1.0])


@pytest.mark.parametrize(("cancel_at", "computed"), [(30, 0), (45, 1)],
                         ids=["pendant_la_lecture", "pendant_le_calcul"])
def test_social_housing_cancel_stops_at_the_next_step(housing_inputs, run_alg, tmp_path,
                                                      monkeypatch, cancel_at, computed):
    """Cancelled while reading (30 %): the library is never called; while computing (45 %):
    the run stops before writing. Either way no output file and a French message."""
    from qgis.core import QgsProcessingException

    import qpvgeo.housing

    calls = []
    library = qpvgeo.housing.social_housing

    def recording(*args, **kwargs):
        calls.append(1)
        return library(*args, **kwargs)

    monkeypatch.setattr(qpvgeo.housing, "social_housing", recording)
    rpls, zones = housing_inputs
    out = tmp_path / "logement.gpkg"
    with pytest.raises(QgsProcessingException, match="annulé"):
        run_alg("social_housing", {"RPLS": rpls, "ZONES": zones, "OUTPUT": str(out)},
                feedback=_Feedback.make(cancel_at=cancel_at))
    assert len(calls) == computed
    assert not out.exists()


def test_empty_layer_is_a_processing_error(make_layer, run_alg, tmp_path):
    from qgis.core import QgsProcessingException
    from qgis.PyQt.QtCore import QVariant

    empty = make_layer("Polygon?crs=EPSG:2154", [("code_qpv", QVariant.String)], [])
    iris = make_layer("Polygon?crs=EPSG:2154", [("code_iris", QVariant.String)],
                      [(box_wkt(0, 0, 1, 1), ["624980101"])])
    with pytest.raises(QgsProcessingException, match="aucune entité"):
        run_alg("iris_qpv_overlap", {"IRIS": iris, "QPV": empty,
                                     "OUTPUT": str(tmp_path / "x.gpkg")})


def test_layer_without_crs_is_a_processing_error(make_layer, run_alg, tmp_path):
    from qgis.core import QgsCoordinateReferenceSystem, QgsProcessingException
    from qgis.PyQt.QtCore import QVariant

    iris = make_layer("Polygon", [("code_iris", QVariant.String)],
                      [(box_wkt(0, 0, 1, 1), ["624980101"])])
    iris.setCrs(QgsCoordinateReferenceSystem())
    qpv = make_layer("Polygon?crs=EPSG:2154", [("code_qpv", QVariant.String)],
                     [(box_wkt(0, 0, 1, 1), ["QN06201A"])])
    with pytest.raises(QgsProcessingException, match="système de coordonnées"):
        run_alg("iris_qpv_overlap", {"IRIS": iris, "QPV": qpv,
                                     "OUTPUT": str(tmp_path / "x.gpkg")})

"""Headless QGIS for the plugin tests: one QgsApplication per session, Processing, the provider.

The application runs offscreen with its own temporary profile folder, so no user setting or
plugin leaks in. Without PyQGIS every test here is skipped with the reason ("PyQGIS
introuvable : ..."); with ``CI=true`` a skip fails the run (tests/conftest.py).
Teardown order matters: layers and the project are cleared and Python references dropped before
``exitQgis()``, otherwise the interpreter segfaults at exit.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_PARENT = ROOT / "qgis_plugin"
QGIS_PREFIX = os.environ.get("QGIS_PREFIX_PATH", "/usr")
PROCESSING_PLUGINS = Path(QGIS_PREFIX) / "share" / "qgis" / "python" / "plugins"


def _import_qgis():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sip's "setapi() is deprecated" at import
            import qgis.core  # noqa: F401
    except ImportError as exc:
        pytest.skip(
            f"PyQGIS introuvable : {exc}. Installez QGIS (apt-get install python3-qgis qgis) et "
            "lancez ces tests avec .venv-qgis (make test-qgis)")


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """The session's QgsApplication (offscreen, temporary profile) with Processing loaded."""
    _import_qgis()
    from qgis.core import QgsApplication, QgsProject

    profile = tmp_path_factory.mktemp("qgis_profile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        QgsApplication.setPrefixPath(QGIS_PREFIX, True)
        app = QgsApplication([], False, str(profile))
        app.initQgis()
        if str(PROCESSING_PLUGINS) not in sys.path:
            sys.path.append(str(PROCESSING_PLUGINS))
        from processing.core.Processing import Processing

        Processing.initialize()
    yield app
    QgsProject.instance().clear()
    QgsProject.instance().removeAllMapLayers()
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Processing.deinitialize()
    gc.collect()
    app.exitQgis()


@pytest.fixture(scope="session")
def plugin(qgis_app):
    """The plugin loaded from the source tree through ``classFactory`` (provider registered)."""
    if str(PLUGIN_PARENT) not in sys.path:
        sys.path.insert(0, str(PLUGIN_PARENT))
    import qpvgeo_plugin

    instance = qpvgeo_plugin.classFactory(None)
    instance.initProcessing()
    yield instance
    instance.unload()
    gc.collect()


@pytest.fixture
def context(qgis_app):
    from qgis.core import QgsProcessingContext, QgsProject

    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    yield ctx
    del ctx
    gc.collect()


@pytest.fixture
def feedback(qgis_app):
    from qgis.core import QgsProcessingFeedback

    return QgsProcessingFeedback()


@pytest.fixture
def run_alg(plugin, qgis_app):
    """Run ``qpvgeo:<id>`` through ``processing.run`` and return its result dict."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    contexts = []

    def _run(alg_id, params, feedback=None):
        ctx = QgsProcessingContext()
        ctx.setProject(QgsProject.instance())
        contexts.append(ctx)
        fb = feedback or QgsProcessingFeedback()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return processing.run(f"qpvgeo:{alg_id}", params, context=ctx, feedback=fb)

    yield _run
    contexts.clear()
    gc.collect()


@pytest.fixture
def make_layer(qgis_app):
    """Build a memory layer: ``make_layer(uri, fields, features)``.

    ``fields`` is a list of (name, QVariant type); ``features`` a list of (WKT or None,
    [attributes]). Layers are released at the end of the test (before QGIS exits).
    """
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsVectorLayer

    made = []

    def _make(uri, fields, features, name="test"):
        layer = QgsVectorLayer(uri, name, "memory")
        assert layer.isValid(), uri
        layer.dataProvider().addAttributes([QgsField(n, t) for n, t in fields])
        layer.updateFields()
        feats = []
        for wkt, attrs in features:
            feat = QgsFeature(layer.fields())
            if wkt is not None:
                feat.setGeometry(QgsGeometry.fromWkt(wkt))
            feat.setAttributes(list(attrs))
            feats.append(feat)
        ok, _ = layer.dataProvider().addFeatures(feats)
        assert ok
        layer.updateExtents()
        made.append(layer)
        return layer

    yield _make
    made.clear()
    gc.collect()


@pytest.fixture
def read_output():
    """Read an output file (GeoPackage...) with geopandas, as the library would."""
    import geopandas as gpd

    def _read(path):
        import pyogrio

        layers = [name for name, _ in pyogrio.list_layers(path) if name != "layer_styles"]
        return gpd.read_file(path, layer=layers[0])

    return _read


@pytest.fixture(scope="session")
def library_portrait(tmp_path_factory):
    """``qpvgeo.portrait.run_portrait`` on the demo territory, run once for the session: the
    reference the plugin's portrait (processing.run and qgis_process.bin) must equal."""
    from qpvgeo import datasets
    from qpvgeo.errors import QpvgeoWarning
    from qpvgeo.portrait import run_portrait

    try:
        datasets.get_path("qpv")
    except Exception as exc:  # demo not generated
        pytest.skip(f"territoire de démonstration indisponible ({exc}) : make data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QpvgeoWarning)  # data-quality notes, tested elsewhere
        result = run_portrait(None, tmp_path_factory.mktemp("portrait") / "portrait_library")
    return Path(result.out_dir)

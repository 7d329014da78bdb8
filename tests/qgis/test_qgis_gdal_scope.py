"""qpvgeo's ``osgeo.gdal`` raster backend leaves GDAL's process-wide settings as it found them.

Inside QGIS the GDAL Python bindings are shared with QGIS's own code and every other plugin:
``gdal.UseExceptions()`` (or an error handler left pushed) would change how their GDAL calls
fail. The backend must work, and report errors as qpvgeo's typed errors, whichever exception
mode the process is in, and leave that mode and the error-handler stack unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.qgis

try:
    from osgeo import gdal
except ImportError:  # skipped per test below, not at collection (which would count in CI)
    gdal = None


@pytest.fixture(autouse=True)
def _needs_gdal():
    if gdal is None:
        pytest.skip("osgeo.gdal (GDAL de QGIS) introuvable : apt-get install python3-gdal "
                    "(installé avec python3-qgis)")


@pytest.fixture(params=[False, True], ids=["sans_exceptions", "avec_exceptions"])
def exception_mode(request):
    """Run the test with GDAL's exceptions off, then on; restore the session's mode after."""
    before = gdal.GetUseExceptions()
    (gdal.UseExceptions if request.param else gdal.DontUseExceptions)()
    yield request.param
    (gdal.UseExceptions if before else gdal.DontUseExceptions)()


@pytest.fixture
def tif(tmp_path):
    """10 x 10 uncompressed Byte GeoTIFF in EPSG:2154, pixel (r, c) = 10 r + c."""
    from qgis_helpers import write_raster

    return write_raster(tmp_path / "grille.tif", np.arange(100, dtype="uint8").reshape(10, 10))


def test_reading_keeps_the_exception_mode(exception_mode, tif):
    from qpvgeo.raster import open_raster

    with open_raster(tif, backend="gdal") as src:
        pixels = src.read((2, 4, 3, 6))
    np.testing.assert_array_equal(pixels, [[23, 24, 25], [33, 34, 35]])
    assert bool(gdal.GetUseExceptions()) is exception_mode


def test_unreadable_file_is_a_typed_error_in_both_modes(exception_mode, tmp_path):
    from qpvgeo.errors import InputFileError
    from qpvgeo.raster import open_raster

    bad = tmp_path / "pas_un_raster.tif"
    bad.write_text("ceci n'est pas un GeoTIFF")
    with pytest.raises(InputFileError, match=r"pas_un_raster\.tif: cannot open the raster"):
        open_raster(bad, backend="gdal")
    assert bool(gdal.GetUseExceptions()) is exception_mode


def test_truncated_file_is_a_raster_error_in_both_modes(exception_mode, tmp_path):
    """Header intact, pixel strips cut off: opening works, reading fails with RasterError."""
    from qgis_helpers import write_raster

    from qpvgeo.errors import RasterError
    from qpvgeo.raster import open_raster

    path = write_raster(tmp_path / "tronque.tif", np.ones((200, 200), dtype="uint8"))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with open_raster(path, backend="gdal") as src:
        assert (src.height, src.width) == (200, 200)
        with pytest.raises(RasterError, match=r"tronque\.tif: cannot read rows 0-200"):
            src.read((0, 200, 0, 200))
    assert bool(gdal.GetUseExceptions()) is exception_mode


def test_error_handlers_of_the_caller_still_receive_errors(tmp_path):
    """The backend's quiet handler is pushed and popped: a handler the caller (QGIS, another
    plugin) pushed before still gets GDAL's errors afterwards, and got none of qpvgeo's."""
    from qpvgeo.errors import InputFileError
    from qpvgeo.raster import open_raster

    received = []

    def handler(err_class, err_no, message):
        received.append(message)

    before = gdal.GetUseExceptions()
    gdal.DontUseExceptions()
    gdal.PushErrorHandler(handler)
    try:
        with pytest.raises(InputFileError):
            open_raster(tmp_path / "absent.tif", backend="gdal")  # caught before GDAL
        (tmp_path / "vide.tif").write_bytes(b"")
        with pytest.raises(InputFileError):
            open_raster(tmp_path / "vide.tif", backend="gdal")
        assert received == []
        assert gdal.Open(str(tmp_path / "vide.tif")) is None
        assert len(received) == 1
        assert "vide.tif" in received[0]
    finally:
        gdal.PopErrorHandler()
        (gdal.UseExceptions if before else gdal.DontUseExceptions)()

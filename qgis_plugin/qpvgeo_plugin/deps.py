"""Python dependencies of the plugin: the bundled qpvgeo library and its third-party stack.

The plugin zip bundles the qpvgeo package under ``_vendor/`` (see ``scripts/build_plugin.py``);
the third-party packages (pandas, geopandas, shapely, pyproj; folium, matplotlib, jinja2 for the
portrait) must be installed in QGIS's Python. When they are not, the algorithms refuse to run
(``canExecute``) with a French message listing what is missing and how to install it, instead of
an ImportError traceback.

Binary conflicts (Linux). Inside the QGIS executables (``qgis``, ``qgis_process.bin``) the GEOS,
PROJ and GDAL libraries QGIS links are loaded in the process's global symbol scope. A shapely or
pyproj *wheel* carries its own, newer GEOS/PROJ under the same symbol names, and the dynamic
linker binds the wheel's calls to QGIS's copies: calls then mix two library versions and QGIS
crashes ("double free or corruption", "WKB output dimension must be 2 or 3", segfault at exit;
checked with QGIS 3.22 on Debian 12 and the shapely 2.2 / pyproj 3.7 wheels). In a plain Python
process importing PyQGIS the libraries stay local and wheels are fine. :func:`conflicts` detects
the clash and the algorithms refuse to run with the fix (distribution packages, or shapely and
pyogrio built against the system GEOS and GDAL) instead of crashing QGIS. A package built from
source (no ``<package>.libs`` folder of bundled libraries) links the system's libraries, the ones
QGIS loaded, and is accepted. rasterio's wheel bundles GDAL, GEOS and PROJ too: the plugin never
needs it (rasters are read with QGIS's ``osgeo.gdal``) and :func:`rasterio_blocked` makes sure the
library does not import it during a run inside the QGIS executables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
VENDOR_DIR = os.path.join(PLUGIN_DIR, "_vendor")

# import name -> (pip requirement name, minimum version)
CORE = {
    "numpy": ("numpy", "1.24"),
    "pandas": ("pandas", "2.0"),
    "shapely": ("shapely", "2.0"),
    "pyproj": ("pyproj", "3.4"),
    "geopandas": ("geopandas", "1.0"),
}
PORTRAIT = {
    "jinja2": ("jinja2", "3.0"),
    "matplotlib": ("matplotlib", "3.6"),
    "folium": ("folium", "0.15"),
    "mapclassify": ("mapclassify", "2.5"),
    "openpyxl": ("openpyxl", "3.1"),  # indicateurs.xlsx
    "pyogrio": ("pyogrio", "0.7.2"),  # the readers and the GeoPackage export
}
GROUPS = {"core": CORE, "portrait": PORTRAIT}

_cache: dict[str, str | None] = {}


def use_bundled_library() -> None:
    """Put the bundled qpvgeo first on ``sys.path`` (zip install), once.

    Without a ``_vendor`` folder (plugin run from the source tree) the installed qpvgeo is used.
    A qpvgeo already imported in this Python session is left alone.
    """
    if os.path.isdir(VENDOR_DIR) and VENDOR_DIR not in sys.path and "qpvgeo" not in sys.modules:
        sys.path.insert(0, VENDOR_DIR)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def _installed_version(module: str) -> str | None:
    """Version of an installed package, read from its metadata (without importing it)."""
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def _problem(module: str, minimum: str) -> str | None:
    """None when ``module`` is installed with a version >= ``minimum``, else a French reason.

    Nothing is imported (see :func:`conflicts`: importing a clashing wheel can crash QGIS).
    """
    if module in _cache:
        return _cache[module]
    import importlib.util

    reason: str | None = None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        spec, reason = None, f"introuvable ({exc})"
    if spec is None:
        reason = reason or "absent"
    else:
        version = _installed_version(module) if module != "qpvgeo" else None
        if version and _version_tuple(version) < _version_tuple(minimum):
            reason = f"version {version} trouvée, {minimum} ou plus récente requise"
    _cache[module] = reason
    return reason


def missing(groups: tuple[str, ...] = ("core",)) -> list[tuple[str, str, str]]:
    """List ``(pip name, minimum version, reason)`` for each unusable package of ``groups``."""
    use_bundled_library()
    out = []
    for group in groups:
        for module, (pip_name, minimum) in GROUPS[group].items():
            reason = _problem(module, minimum)
            if reason is not None:
                out.append((pip_name, minimum, reason))
    if not out:
        reason = _problem("qpvgeo", "0.1")
        if reason is not None:
            out.append(("qpvgeo", "0.1", reason + " (réinstallez l'extension depuis son zip)"))
    return out


def _global_symbol(name: str) -> Any:
    """A C function visible in the process's global symbol scope (Linux), or None."""
    try:
        import ctypes

        return getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError):
        return None


def _qgis_library_versions() -> dict[str, str]:
    """Versions of the GEOS / PROJ / GDAL that QGIS loaded, when globally visible (Linux)."""
    out = {}
    try:
        from qgis.core import Qgis, QgsProjUtils
    except ImportError:  # pragma: no cover - the plugin always runs in QGIS
        return out
    if _global_symbol("GEOSversion") is not None:
        out["GEOS"] = Qgis.geosVersion().split("-")[0]
    if _global_symbol("proj_info") is not None:
        out["PROJ"] = f"{QgsProjUtils.projVersionMajor()}.{QgsProjUtils.projVersionMinor()}"
    if _global_symbol("GDALVersionInfo") is not None:
        try:
            from osgeo import gdal

            out["GDAL"] = gdal.__version__
        except ImportError:  # pragma: no cover
            pass
    return out


# package -> bundled libraries to look for in "<package>.libs" (auditwheel's folder)
_BUNDLED = {
    "shapely": {"GEOS": "libgeos-"},
    "pyproj": {"PROJ": "libproj-"},
    "rasterio": {"GDAL": "libgdal-", "GEOS": "libgeos-", "PROJ": "libproj-"},
    "pyogrio": {"GDAL": "libgdal-"},
}


def _bundled_version(package: str, prefix: str) -> str | None:
    """Version of a library a wheel bundles (from the file name), without importing it."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    libs = os.path.join(os.path.dirname(next(iter(spec.submodule_search_locations))),
                        f"{package}.libs")
    if not os.path.isdir(libs):
        return None
    for name in os.listdir(libs):
        if name.startswith(prefix) and ".so." in name:
            numbers = name.split(".so.", 1)[1].split(".")
            if prefix in ("libproj-", "libgdal-") and len(numbers) > 3:
                numbers = numbers[1:]  # drop the soname major (libproj.so.25.9.5.1 -> 9.5.1)
            return ".".join(numbers)
    return None


def conflicts(groups: tuple[str, ...] = ("core",)) -> list[str]:
    """French descriptions of wheels whose bundled GEOS/PROJ/GDAL clash with QGIS's.

    Only Linux, and only when QGIS's libraries are in the global symbol scope (QGIS
    executables, not a Python process importing PyQGIS). Nothing is imported: importing a
    clashing wheel is already enough to crash QGIS at exit.
    """
    if not sys.platform.startswith("linux"):
        return []
    qgis_versions = _qgis_library_versions()
    if not qgis_versions:
        return []
    packages = ["shapely", "pyproj"] + (["pyogrio"] if "portrait" in groups else [])
    out = []
    for package in packages:
        for lib, prefix in _BUNDLED[package].items():
            if lib not in qgis_versions:
                continue
            bundled = _bundled_version(package, prefix)
            qgis_v = qgis_versions[lib]
            n = len(_version_tuple(qgis_v))
            if bundled and _version_tuple(bundled)[:n] != _version_tuple(qgis_v)[:n]:
                out.append(f"le paquet {package} embarque {lib} {bundled} alors que QGIS "
                           f"utilise {lib} {qgis_v}")
    return out


def conflict_message(problems: list[str]) -> str:
    """French explanation and fix for :func:`conflicts`."""
    return (
        "Conflit de bibliothèques dans QGIS : " + " ; ".join(problems) + ". Sous Linux, ces "
        "paquets pip (« wheels ») embarquent leur propre GEOS/PROJ/GDAL qui se mélange à celui "
        "de QGIS et fait planter QGIS ; qpvgeo refuse donc de s'exécuter. Installez des "
        "versions construites avec les bibliothèques du système : le pyproj de la distribution "
        "(sudo apt install python3-pyproj, puis python3 -m pip uninstall pyproj), shapely et "
        "pyogrio compilés localement (sudo apt install libgeos-dev libgdal-dev python3-dev gcc "
        "g++ ; python3 -m pip install --user --force-reinstall --no-deps --no-binary "
        "shapely,pyogrio \"shapely>=2.0\" \"pyogrio==0.13.0\"). Puis redémarrez QGIS. Détails : "
        "docs/qgis.md de qpvgeo, « Installation sous Linux ».")


@contextmanager
def rasterio_blocked() -> Iterator[bool]:
    """Make ``import rasterio`` fail (ImportError) during a run inside the QGIS executables.

    rasterio's wheel bundles its own GDAL, GEOS and PROJ; inside ``qgis``/``qgis_process.bin``
    on Linux its calls would bind to QGIS's copies (see the module docstring). The library
    falls back to ``osgeo.gdal`` when rasterio cannot be imported. Elsewhere (a Python process
    importing PyQGIS, Windows, macOS) or when rasterio is already imported, nothing changes.
    Yields whether the import was blocked.
    """
    block = (sys.platform.startswith("linux") and "rasterio" not in sys.modules
             and "GDAL" in _qgis_library_versions())
    if block:
        sys.modules["rasterio"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        yield block
    finally:
        if block and "rasterio" in sys.modules and sys.modules["rasterio"] is None:
            del sys.modules["rasterio"]


def _externally_managed() -> bool:
    """Whether this Python refuses ``pip install --user`` without --break-system-packages."""
    import sysconfig

    return os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))


def install_command(requirements: list[str]) -> str:
    """The command(s) a user runs to install ``requirements`` into QGIS's Python.

    On Linux no wheel bundling GEOS/PROJ/GDAL may be installed (see the module docstring): the
    distribution's pyproj, shapely and pyogrio compiled against the system libraries, and
    geopandas without its dependencies (else pip fetches those wheels); numpy stays below 2
    while QGIS's GDAL bindings are built against numpy 1.x.
    """

    def quoted(reqs: Any) -> str:
        return " ".join(f'"{r}"' for r in reqs)

    if sys.platform.startswith("win"):
        return f"python -m pip install {quoted(requirements)}   (dans l'OSGeo4W Shell)"
    python = os.path.join(sys.exec_prefix, "bin", "python3")
    if not os.path.exists(python):
        python = "python3"
    if not sys.platform.startswith("linux"):
        return f"{python} -m pip install --user {quoted(requirements)}"
    by_name = {r.split(">=")[0].split("==")[0]: r for r in requirements}
    steps, apt = [], []
    if by_name.pop("pyproj", None):
        apt.append("python3-pyproj")
    compiled = sorted({"shapely", "pyogrio"} & by_name.keys())
    if compiled:
        apt += ["libgeos-dev", "libgdal-dev", "python3-dev", "gcc", "g++"]
    if apt:
        steps.append("sudo apt install " + " ".join(apt))
    pip = f"{python} -m pip install --user" + (
        " --break-system-packages" if _externally_managed() else "")
    geopandas = by_name.pop("geopandas", None)
    if by_name:
        numpy = _installed_version("numpy")
        pins = ['"numpy<2"'] if numpy and _version_tuple(numpy) < (2,) else []
        steps.append(pip + (f" --no-binary {','.join(compiled)}" if compiled else "") + " "
                     + " ".join([*pins, quoted(by_name.values())]))
    if geopandas:
        steps.append(f"{pip} --no-deps {quoted([geopandas])}")
    return " ; ".join(steps)


def missing_message(groups: tuple[str, ...] = ("core",)) -> str:
    """French message listing the missing or clashing packages and the fix ('' if none)."""
    clashes = conflicts(groups)
    if clashes:
        return conflict_message(clashes)
    problems = missing(groups)
    if not problems:
        return ""
    listed = "; ".join(f"{name} ≥ {minimum} : {reason}" for name, minimum, reason in problems)
    reqs = [f"{name}>={minimum}" for name, minimum, _ in problems if name != "qpvgeo"]
    msg = (f"L'extension qpvgeo a besoin de bibliothèques Python absentes ou trop anciennes "
           f"dans le Python de QGIS ({sys.version.split()[0]}) : {listed}.")
    if reqs and sys.platform.startswith("linux"):
        msg += (f" Installez-les dans un terminal : {install_command(reqs)} ; puis redémarrez "
                "QGIS. Sous Linux, n'utilisez ni QPIP ni les paquets binaires (« wheels ») de "
                "shapely, pyproj et pyogrio : ils font planter QGIS (voir docs/qgis.md de "
                "qpvgeo, « Installation »).")
    elif reqs:
        msg += (" Installez-les avec l'extension QPIP (elle lit le requirements.txt de "
                f"l'extension qpvgeo) ou dans un terminal : {install_command(reqs)} ; "
                "puis redémarrez QGIS.")
    return msg


def reset_cache() -> None:
    """Forget the results of previous checks (after installing packages, in tests)."""
    _cache.clear()

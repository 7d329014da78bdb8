"""Run ``qgis_process.bin`` with the plugin in a temporary profile and a QGIS-safe Python path.

Used by ``tests/qgis/test_qgis_process.py`` and ``benchmarks/bench_qgis.py``.

Why a separate site folder: inside the QGIS executables on Linux, QGIS's own GEOS and PROJ sit in
the global symbol scope, and the shapely / pyproj *wheels* (which bundle newer GEOS / PROJ under
the same symbol names) get bound to them: QGIS then crashes (see
``qgis_plugin/qpvgeo_plugin/deps.py``). The pyogrio wheel does the same with its own GDAL, which
the portrait needs to write its files. :func:`compatible_site` prepares, once, a folder holding
shapely compiled against the system GEOS and pyogrio compiled against the system GDAL (needs
``libgeos-dev``, ``libgdal-dev``, ``python3-dev``, ``gcc``, ``g++``; the build tools, Cython,
come from PyPI) and the distribution's pyproj (``python3-pyproj``, built against the system
PROJ); it goes first on ``PYTHONPATH``, before the environment's own site-packages (pandas,
geopandas, numpy...). rasterio is not needed there: inside QGIS the plugin reads rasters with
``osgeo.gdal``. This mirrors the installation documented for Linux users in ``docs/qgis.md``.

Usage: python scripts/qgis_env.py [SITE_DIR]   (prepare the site folder and print its path)
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SITE = ROOT / "build" / "qgis-site"
QGIS_VENV = ROOT / ".venv-qgis"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
SYSTEM_PYTHON = "/usr/bin/python3"


# Built from source against the system libraries. pyogrio 0.13 builds on GDAL >= 2.4 (Debian 12
# has 3.6.2) and needs no numpy C API (any numpy, 1.26 here); its version is pinned so that the
# site is the same on every machine (geopandas >= 1.0 wants pyogrio >= 0.7.2).
SHAPELY_SPEC = "shapely>=2.0"
PYOGRIO_SPEC = "pyogrio==0.13.0"


def _config_version(tool: str) -> str | None:
    """Version printed by ``geos-config`` / ``gdal-config`` (None when not installed)."""
    exe = shutil.which(tool)
    if exe is None:
        return None
    return subprocess.run([exe, "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _system_geos() -> str | None:
    return _config_version("geos-config")


def _system_gdal() -> str | None:
    return _config_version("gdal-config")


def _system_pyproj() -> Path | None:
    """Folder of the distribution's pyproj package (built against the system PROJ)."""
    out = subprocess.run(
        [SYSTEM_PYTHON, "-S", "-c", "import sys; sys.path.append('/usr/lib/python3/dist-packages');"
         "import pyproj, os; print(os.path.dirname(pyproj.__file__))"],
        capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def qgis_venv_python() -> str:
    """Python of the QGIS environment (.venv-qgis, same version as QGIS's), else this one."""
    exe = QGIS_VENV / "bin" / "python"
    return str(exe) if exe.exists() else sys.executable


def qgis_venv_site_packages() -> list[str]:
    """site-packages of .venv-qgis (numpy < 2 like QGIS's GDAL), else this Python's."""
    found = sorted(str(p) for p in (QGIS_VENV / "lib").glob("python3*/site-packages"))
    if found:
        return found
    return [p for p in site.getsitepackages() if p.startswith(sys.prefix)]


def _check_built(python: str, folder: Path, geos: str, gdal: str) -> None:
    """The freshly built shapely and pyogrio run on the system GEOS and GDAL, else RuntimeError."""
    code = ("import shapely, pyogrio; print(shapely.geos_version_string); "
            "print(pyogrio.__gdal_version_string__)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(folder)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    got = out.stdout.split()
    if out.returncode != 0 or got[:2] != [geos, gdal]:
        raise RuntimeError(f"shapely/pyogrio compilés n'utilisent pas GEOS {geos} / GDAL {gdal} "
                           f"du système (obtenu : {got or out.stderr.strip()[-300:]})")


def compatible_site(target: Path = DEFAULT_SITE, python: str | None = None) -> Path:
    """Prepare (once) the QGIS-safe site folder and return it.

    The folder is rebuilt when the system GEOS/GDAL, the Python version or the pinned versions
    change (stamp file ``.qpvgeo-site``); the build takes about a minute.
    Raises ``RuntimeError`` with the missing system package when it cannot be prepared.
    """
    geos = _system_geos()
    if geos is None:
        raise RuntimeError("geos-config introuvable : installez libgeos-dev (apt-get install "
                           "libgeos-dev python3-dev gcc) pour compiler shapely contre le GEOS "
                           "de QGIS")
    gdal = _system_gdal()
    if gdal is None:
        raise RuntimeError("gdal-config introuvable : installez libgdal-dev (apt-get install "
                           "libgdal-dev g++) pour compiler pyogrio contre le GDAL de QGIS")
    python = python or qgis_venv_python()
    py_version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    wanted = f"geos {geos} gdal {gdal} python {py_version} {SHAPELY_SPEC} {PYOGRIO_SPEC}"
    stamp = target / ".qpvgeo-site"
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return target
    pyproj_dir = _system_pyproj()
    if pyproj_dir is None:
        raise RuntimeError("pyproj de la distribution introuvable : apt-get install python3-pyproj")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".qgis-site-", dir=target.parent))
    try:
        try:
            subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--target", str(tmp), "--no-binary", "shapely,pyogrio",
                            SHAPELY_SPEC, PYOGRIO_SPEC], check=True)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"compilation de {SHAPELY_SPEC} / {PYOGRIO_SPEC} impossible (pip : code "
                f"{exc.returncode}, voir ses messages) : vérifiez libgeos-dev, libgdal-dev, "
                "python3-dev, gcc, g++ et l'accès à PyPI (Cython)") from exc
        shutil.rmtree(tmp / "pyogrio" / "tests", ignore_errors=True)  # 6 MB of test data
        _check_built(python, tmp, geos, gdal)
        os.symlink(pyproj_dir, tmp / "pyproj")
        for info in pyproj_dir.parent.glob("pyproj-*info"):
            os.symlink(info, tmp / info.name)
        (tmp / ".qpvgeo-site").write_text(wanted + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def qgis_process_env(profiles_root: Path, site_dir: Path | None) -> dict[str, str]:
    """Environment of a headless run on ``profiles_root`` (QGIS_CUSTOM_CONFIG_PATH).

    ``PYTHONPATH`` = the QGIS-safe site folder, then the site-packages of .venv-qgis (as after
    a ``pip install --user``; never the numpy-2 .venv). PROJ_LIB/PROJ_DATA are never set.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PROJ_LIB", "PROJ_DATA")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(profiles_root))
    paths = [str(site_dir)] if site_dir else []
    paths += qgis_venv_site_packages()
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def install_plugin(profiles_root: Path, zip_path: Path) -> Path:
    """Build the zip and install it, enabled, in ``profiles_root`` (see build_plugin.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_plugin
    finally:
        sys.path.pop(0)
    build_plugin.build(zip_path)
    return build_plugin.install(zip_path, profiles_root)


def run_qgis_process(args: list[str], profiles_root: Path, site_dir: Path | None, cwd: Path,
                     timeout: float = 600, extra_env: dict[str, str] | None = None,
                     ) -> subprocess.CompletedProcess:
    """Run ``qgis_process.bin *args`` headless; return the completed process (text output).

    ``extra_env`` adds variables (e.g. ``QPVGEO_DEMO_DIR``: the zip carries no demo data).
    """
    env = qgis_process_env(profiles_root, site_dir)
    env.update(extra_env or {})
    return subprocess.run([QGIS_PROCESS, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


if __name__ == "__main__":
    print(compatible_site(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SITE))

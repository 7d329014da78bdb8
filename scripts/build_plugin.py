"""Build the installable QGIS plugin zip ``qpvgeo_plugin.zip`` (``make plugin``).

The zip holds one folder ``qpvgeo_plugin/`` (what QGIS's "Install from ZIP" and the plugin
repository expect): the plugin sources of ``qgis_plugin/qpvgeo_plugin/`` (metadata, icon,
licence, requirements.txt, styles), the version stamped from ``qpvgeo.__version__``, and a copy of
the qpvgeo library under ``qpvgeo_plugin/_vendor/qpvgeo`` so the plugin always runs the library
version it was built with (third-party packages come from requirements.txt).

Only the standard library is used, so any Python can run it. The zip is reproducible (sorted
entries, fixed timestamps) and written atomically.

Usage: python scripts/build_plugin.py [--output PATH] [--install PROFILES_ROOT]

``--install`` also unpacks the zip into ``PROFILES_ROOT/profiles/default/python/plugins`` and
enables it in that profile (what QGIS's "Install from ZIP" does); pointing QGIS or
``qgis_process.bin`` at it with ``QGIS_CUSTOM_CONFIG_PATH=PROFILES_ROOT`` then loads the plugin
(the tests and benchmarks/bench_qgis.py use a temporary one).
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SRC = ROOT / "qgis_plugin" / "qpvgeo_plugin"
LIBRARY_SRC = ROOT / "qpvgeo"
TOP = "qpvgeo_plugin"
REQUIRED_FILES = ("__init__.py", "metadata.txt", "icon.svg", "LICENSE", "requirements.txt",
                  "provider.py")
REQUIRED_METADATA = ("name", "description", "about", "version", "qgisMinimumVersion",
                     "qgisMaximumVersion", "author", "hasProcessingProvider")
SKIP_DIRS = {"__pycache__", "_vendor", ".mypy_cache", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}
FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def library_version() -> str:
    text = (LIBRARY_SRC / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not match:
        sys.exit("build_plugin: no __version__ in qpvgeo/__init__.py")
    return match.group(1)


def files_under(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix not in SKIP_SUFFIXES:
                out.append(path)
    return out


def stamped_metadata(version: str) -> str:
    text = (PLUGIN_SRC / "metadata.txt").read_text(encoding="utf-8")
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep key case
    parser.read_string(text)
    missing = [k for k in REQUIRED_METADATA if not parser.get("general", k, fallback="")]
    if missing:
        sys.exit(f"build_plugin: metadata.txt lacks {', '.join(missing)}")
    if parser.get("general", "hasProcessingProvider").lower() != "yes":
        sys.exit("build_plugin: metadata.txt must say hasProcessingProvider=yes")
    return re.sub(r"^version=.*$", f"version={version}", text, count=1, flags=re.M)


def check_sources() -> None:
    absent = [f for f in REQUIRED_FILES if not (PLUGIN_SRC / f).is_file()]
    if absent:
        sys.exit(f"build_plugin: {PLUGIN_SRC} lacks {', '.join(absent)}")
    if (PLUGIN_SRC / "LICENSE").read_bytes() != (ROOT / "LICENSE").read_bytes():
        sys.exit("build_plugin: qgis_plugin/qpvgeo_plugin/LICENSE differs from LICENSE; "
                 "copy the repository licence into the plugin folder")


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build(output: Path) -> tuple[int, int]:
    """Write the zip to ``output``; return (number of files, size in bytes)."""
    check_sources()
    version = library_version()
    entries: list[tuple[str, bytes]] = []
    for path in files_under(PLUGIN_SRC):
        rel = path.relative_to(PLUGIN_SRC).as_posix()
        data = stamped_metadata(version).encode("utf-8") if rel == "metadata.txt" \
            else path.read_bytes()
        entries.append((f"{TOP}/{rel}", data))
    for path in files_under(LIBRARY_SRC):
        rel = path.relative_to(LIBRARY_SRC).as_posix()
        entries.append((f"{TOP}/_vendor/qpvgeo/{rel}", path.read_bytes()))
    entries.sort()
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".qpvgeo_plugin-", suffix=".zip", dir=output.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for arcname, data in entries:
                _add(zf, arcname, data)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(entries), output.stat().st_size


def install(zip_path: Path, profiles_root: Path, profile: str = "default") -> Path:
    """Unpack the plugin zip into a QGIS profile and enable it; return the plugin folder."""
    base = Path(profiles_root) / "profiles" / profile
    plugins = base / "python" / "plugins"
    target = plugins / TOP
    if target.exists():
        import shutil

        shutil.rmtree(target)
    plugins.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(plugins)
    ini = base / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    settings = configparser.ConfigParser(interpolation=None, strict=False)
    settings.optionxform = str
    if ini.exists():
        settings.read(ini, encoding="utf-8")
    if not settings.has_section("PythonPlugins"):
        settings.add_section("PythonPlugins")
    settings.set("PythonPlugins", TOP, "true")
    with ini.open("w", encoding="utf-8") as fh:
        settings.write(fh, space_around_delimiters=False)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "qpvgeo_plugin.zip",
                        help="zip to write (default: qpvgeo_plugin.zip at the repository root)")
    parser.add_argument("--install", type=Path, metavar="PROFILES_ROOT",
                        help="also install and enable the plugin in this QGIS profiles folder")
    args = parser.parse_args(argv)
    n, size = build(args.output)
    print(f"{args.output}: {n} files, {size / 1024:.0f} KiB, version {library_version()}")
    if args.install:
        print(f"installed in {install(args.output, args.install)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Python dependencies of the plugin: the bundled qpvgeo library and its third-party stack.

The plugin zip bundles the qpvgeo package under ``_vendor/`` (see ``scripts/build_plugin.py``);
the third-party packages (pandas, geopandas, shapely, pyproj; folium, matplotlib, jinja2 for the
portrait) must be installed in QGIS's Python. When they are not, the algorithms refuse to run
(``canExecute``) with a French message listing what is missing and how to install it, instead of
an ImportError traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

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


def _problem(module: str, minimum: str) -> str | None:
    """Return None when ``module`` imports with a version >= ``minimum``, else a French reason."""
    if module in _cache:
        return _cache[module]
    reason: str | None = None
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        reason = "absent" if isinstance(exc, ModuleNotFoundError) and exc.name == module else (
            f"ne se charge pas ({exc})")
    except Exception as exc:  # a broken binary wheel raises anything
        reason = f"ne se charge pas ({type(exc).__name__}: {exc})"
    else:
        version = str(getattr(mod, "__version__", "") or "")
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


def install_command(requirements: list[str]) -> str:
    """The pip command a user runs to install ``requirements`` into QGIS's Python."""
    quoted = " ".join(f'"{r}"' for r in requirements)
    if sys.platform.startswith("win"):
        return f"python -m pip install {quoted}   (dans l'OSGeo4W Shell)"
    python = os.path.join(sys.exec_prefix, "bin", "python3")
    if not os.path.exists(python):
        python = "python3"
    return f"{python} -m pip install --user {quoted}"


def missing_message(groups: tuple[str, ...] = ("core",)) -> str:
    """French message listing the missing packages and how to install them ('' if none)."""
    problems = missing(groups)
    if not problems:
        return ""
    listed = "; ".join(f"{name} ≥ {minimum} : {reason}" for name, minimum, reason in problems)
    reqs = [f"{name}>={minimum}" for name, minimum, _ in problems if name != "qpvgeo"]
    msg = (f"L'extension qpvgeo a besoin de bibliothèques Python absentes ou trop anciennes "
           f"dans le Python de QGIS ({sys.version.split()[0]}) : {listed}.")
    if reqs:
        msg += (" Installez-les avec l'extension QPIP (elle lit le requirements.txt de "
                f"l'extension qpvgeo) ou dans un terminal : {install_command(reqs)} ; "
                "puis redémarrez QGIS.")
    return msg


def reset_cache() -> None:
    """Forget the results of previous checks (after installing packages, in tests)."""
    _cache.clear()

"""Package-level checks: import hygiene, CLI entry point."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_presentation_or_qgis():
    code = (
        "import sys, qpvgeo; "
        "bad = [m for m in ('folium', 'matplotlib', 'qgis', 'jinja2') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "qpvgeo.cli", "--help"], capture_output=True,
                         text=True, check=True)
    assert "COMMANDE" in out.stdout

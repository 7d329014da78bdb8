"""Tests of qpvgeo.charts: PNG + SVG written, reproducible, names shown literally, n.d."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qpvgeo.charts import gap_quadrant, health_reach, heatloss_stacks, indicator_bars, save_figure
from qpvgeo.errors import SchemaError

EVIL = "<img src=x onerror=alert(1)>"
TABLE = pd.DataFrame({"nom_qpv": ["Cité $x$", EVIL, "C"],
                      "heatloss_strong_share": [0.4, np.nan, 0.7],
                      "dx": [0.01, -0.02, np.nan], "dy": [0.02, -0.01, 0.0],
                      "n1": [1, 2, 0], "n2": [3, 0, 0], "n3": [1, 1, 0], "n4": [0, 5, 0]})
CLASSES = [("faibles", "#2c7bb6"), ("moyennes", "#abd9e9"), ("fortes", "#fdd835"),
           ("excessives", "#d7191c")]


def test_bars_png_svg_reproducible_and_literal(tmp_path):
    fig = indicator_bars(TABLE, "heatloss_strong_share", territory_value=0.5,
                         source_note="Source : test")
    png, svg = save_figure(fig, tmp_path / "a")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert EVIL not in text
    assert "Cité $x$" in text  # not read as mathtext
    assert "n.d." in text  # missing value labelled, not a 0 bar
    assert "50,0\u202f%" in text  # territory line in the legend, French format
    _, svg2 = save_figure(indicator_bars(TABLE, "heatloss_strong_share", territory_value=0.5,
                                         source_note="Source : test"), tmp_path / "b")
    assert svg2.read_bytes() == svg.read_bytes()


def test_stacks_quadrant_reach(tmp_path):
    fig = heatloss_stacks(TABLE, CLASSES, count_cols=["n1", "n2", "n3", "n4"])
    text = save_figure(fig, tmp_path / "s")[1].read_text(encoding="utf-8")
    assert "aucun bâtiment classé" in text  # zone C has no classified building
    # zone 1: shares 1/5, 3/5, 1/5, 0 → bar widths sum to 1 (checked on the patches)
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert sum(widths[i * 3] for i in range(4)) == pytest.approx(1.0)
    assert widths[0] == pytest.approx(1 / 5)
    assert widths[3] == pytest.approx(3 / 5)
    q = gap_quadrant(TABLE, x="dx", y="dy")
    qt = save_figure(q, tmp_path / "q")[1].read_text(encoding="utf-8")
    assert "écart qui se creuse" in qt
    assert "donnée manquante" in qt
    r = health_reach(TABLE, ["heatloss_strong_share"], kind_labels=["Pharmacies"])
    assert "Pharmacies" in save_figure(r, tmp_path / "r")[1].read_text(encoding="utf-8")
    with pytest.raises(SchemaError):
        indicator_bars(TABLE, "absent")
    with pytest.raises(SchemaError):
        heatloss_stacks(TABLE, CLASSES, count_cols=["n1"])


def test_illustrative_stamp_and_health_heat_map(tmp_path):
    from qpvgeo.charts import ILLUSTRATIVE_MARK

    fig = indicator_bars(TABLE, "heatloss_strong_share", illustrative=True)
    assert ILLUSTRATIVE_MARK in save_figure(fig, tmp_path / "i")[1].read_text(encoding="utf-8")
    plain = save_figure(indicator_bars(TABLE, "heatloss_strong_share"), tmp_path / "p")[1]
    assert ILLUSTRATIVE_MARK not in plain.read_text(encoding="utf-8")
    # one cell per zone and kind, plus the territory row; shares printed in %, missing "n.d."
    r = health_reach(TABLE, ["heatloss_strong_share", "dy"], kind_labels=["A", "B"],
                     territory=pd.Series({"heatloss_strong_share": 0.5, "dy": 0.25}),
                     territory_label="Territoire test")
    text = save_figure(r, tmp_path / "h")[1].read_text(encoding="utf-8")
    for cell in ("40\u202f%", "70\u202f%", "n.d.", "50\u202f%", "25\u202f%", "Territoire test"):
        assert cell in text, cell
    assert len(r.axes[0].images[0].get_array()) == 3 + 1


def test_quadrant_names_the_farthest_points_and_counts_corners(tmp_path):
    # 30 zones on a diagonal, one far out: with max_labels=3 only the three farthest from
    # the centre are named (z29, z28, z27), and the corners count the zones above and below
    n = 30
    t = pd.DataFrame({"nom": [f"z{i}" for i in range(n)],
                      "dx": np.linspace(-1, 1, n), "dy": np.linspace(-0.5, 2.0, n)})
    q = gap_quadrant(t, x="dx", y="dy", label_col="nom", max_labels=3)
    names = [a.get_text() for a in q.axes[0].texts if a.get_text().startswith("z")]
    assert sorted(names) == ["z27", "z28", "z29"]
    up = int((t["dy"] > 0).sum())  # dy = -0.5 + 2.5 i / 29 > 0 for i >= 6: 24 zones
    assert up == 24
    corner = [a.get_text() for a in q.axes[0].texts if a.get_text().startswith("écart")]
    assert corner == ["écart qui se creuse (24)", "écart qui se réduit (6)"]
    svg = save_figure(q, tmp_path / "q")[1].read_text(encoding="utf-8")
    assert "noms des 3 zones les plus éloignées du centre sur 30" in svg

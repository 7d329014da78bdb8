"""Tests of qpvgeo.report: French formatting, provenance, estimates, escaping, banner."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qpvgeo.report import ReportSection, render_report, report_table

EVIL = "<img src=x onerror=alert(1)>"


def _table():
    df = pd.DataFrame({"nom_qpv": [EVIL, "Cité B"], "poverty_rate": [0.615, np.nan],
                       "population": [12345.0, 800.0], "is_estimate": [True, False]})
    return report_table(df, {"nom_qpv": "Quartier", "poverty_rate": "Taux de pauvreté",
                             "population": "Population"},
                        title="Revenus", source="INSEE Filosofi", vintage="2020",
                        method="estimation à partir des IRIS")


def test_report_table_formats_in_french():
    t = _table()
    assert t.columns == ["Quartier", "Taux de pauvreté", "Population"]
    assert t.rows[0]["cells"] == [EVIL, "61,5\u202f%", "12\u202f345"]
    assert t.rows[1]["cells"][1] == "n.d."  # missing stays missing
    assert t.estimate is True  # from the is_estimate column


def test_render_escapes_and_labels():
    sec = ReportSection(id="population", title="Population et revenus", tables=[_table()],
                        skipped=["couche RPLS absente"])
    page = render_report([sec, ReportSection(id="sante", title="Santé")], territory="T <b>",
                         n_qpv=2, illustrative=True, warnings=[f"attention {EVIL}"])
    assert EVIL not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 2
    assert "T &lt;b&gt;" in page
    assert "Données illustratives" in page  # banner
    assert "estimation à partir des IRIS" in page
    assert "Source : INSEE Filosofi — millésime : 2020" in page
    assert "Section non calculée : couche RPLS absente" in page
    assert 'id="sante"' not in page  # empty sections are left out
    plain = render_report([sec], territory="T", n_qpv=2, illustrative=False)
    assert 'class="banner"' not in plain


def test_estimated_cells_marked_and_long_tables_folded():
    df = pd.DataFrame({"nom_qpv": ["A", "B", "C"], "population": [200.0, 250.0, np.nan]})
    flags = pd.Series([True, False, True])  # C is flagged but missing: no mark on "n.d."
    t = report_table(df, {"nom_qpv": "Quartier", "population": "Population"}, title="P",
                     source="s", vintage="2020", method="m",
                     estimated_cells={"population": flags}, collapsed=True)
    assert [r["marks"] for r in t.rows] == [[False, True], [False, False], [False, False]]
    assert t.n_marked == 1
    page = render_report([ReportSection(id="population", title="Population", tables=[t])],
                         territory="T", n_qpv=3, illustrative=False)
    assert page.count("<sup>e</sup>") == 1
    assert '<td class=" est">200<sup>e</sup></td>' in page
    assert "valeur estimée à partir des IRIS (1 valeur)" in page
    assert "<details><summary>Afficher le tableau (3 lignes)</summary>" in page


def test_reason_codes_become_plain_french():
    from qpvgeo._format import fmt, is_reason_code, reason_text

    assert reason_text("no_mode_column") == (
        "vacance non calculable : le fichier RPLS n'indique pas l'occupation des logements "
        "(colonne MODE)")
    # the column gives a more precise wording of a generic code
    assert reason_text("zero", "creations_2023_ei_share") == "aucune création dans l'année"
    assert reason_text("zero", "estab_change_share") == "aucun établissement à la première date"
    assert reason_text("zero", "rpls_per_1000_inhab") == "population nulle"
    assert reason_text("zero") == "dénominateur nul"
    # French text is kept; unknown codes never reach the reader
    assert reason_text("secret statistique (DISP_MED20)") == "secret statistique (DISP_MED20)"
    assert reason_text("some_new_code") == "valeur non calculable"
    assert reason_text(None) == reason_text(np.nan) == ""
    assert is_reason_code("not_given")
    assert not is_reason_code("aucun logement classé")
    assert fmt(88.64, "index") == "88,6"  # IPS: one decimal


def test_estimate_wording_per_table():
    df = pd.DataFrame({"nom_qpv": ["A"], "quality_poor_dwellings": [132.24]})
    t = report_table(df, {"nom_qpv": "Quartier", "quality_poor_dwellings": "Logements"},
                     title="Q", source="PLH", vintage="2019", method="m", estimate=True,
                     estimated_cells={"quality_poor_dwellings": pd.Series([True])},
                     estimate_label="au prorata de la surface de l'îlot",
                     estimate_rest="les autres sont des décomptes d'îlots entiers")
    assert t.rows[0]["cells"][1] == "132"  # dwellings are counts, shown without decimals
    page = render_report([ReportSection(id="logement", title="Logement", tables=[t])],
                         territory="T", n_qpv=1, illustrative=False,
                         warnings=["DataQualityWarning : x"])
    assert "estimation au prorata de la surface de l&#39;îlot" in page
    assert ("valeur estimée au prorata de la surface de l&#39;îlot (1 valeur), les autres "
            "sont des décomptes d&#39;îlots entiers") in page
    assert "à partir des IRIS" not in page
    assert "1 avertissement sur les données d'entrée" in page

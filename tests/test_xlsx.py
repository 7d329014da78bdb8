"""Tests of the small XLSX writer of the portrait (qpvgeo._xlsx), read back with openpyxl."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from qpvgeo._xlsx import _column_letter, write_xlsx


def test_column_letters():
    assert [_column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_round_trip_types_missing_and_text(tmp_path):
    frame = pd.DataFrame({
        "code": ["QN06202M", "QN06216M", None],
        "valeur": [0.125, np.nan, 17020.0],
        "n": pd.array([3, 0, None], dtype="Int64"),
        "entier": np.array([1, 2, 3], dtype=np.int64),
        "estimation": [True, False, True],
        "texte": ["=HYPERLINK(\"x\")", "a < b & c", " espace devant"],
        "infini": [np.inf, -np.inf, 1.5],
    })
    path = write_xlsx(tmp_path / "t.xlsx", [("indicateurs", frame),
                                            ("vide", frame.iloc[:0])])
    wb = load_workbook(path)
    assert wb.sheetnames == ["indicateurs", "vide"]
    ws = wb["indicateurs"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == tuple(frame.columns)
    assert rows[1] == ("QN06202M", 0.125, 3, 1, True, "=HYPERLINK(\"x\")", None)
    # missing values and infinities are empty cells, never 0
    assert rows[2] == ("QN06216M", None, 0, 2, False, "a < b & c", None)
    assert rows[3] == (None, 17020, None, 3, True, " espace devant", 1.5)
    # text is text, even when it starts with "="
    assert ws["F2"].data_type == "s"
    assert ws["B2"].data_type == "n"
    assert ws["E2"].data_type == "b"
    assert ws["A1"].font.b  # bold header
    assert ws.freeze_panes == "A2"
    assert list(wb["vide"].iter_rows(values_only=True)) == [tuple(frame.columns)]
    back = pd.read_excel(path, sheet_name="indicateurs")
    assert back["valeur"].iloc[0] == 0.125
    assert np.isnan(back["valeur"].iloc[1])


def test_control_characters_dropped_and_bytes_reproducible(tmp_path):
    frame = pd.DataFrame({"nom": ["Cité\x0b 2", "Camus"], "v": [1.0, 2.0]})
    a = write_xlsx(tmp_path / "a.xlsx", [("s", frame)]).read_bytes()
    b = write_xlsx(tmp_path / "b.xlsx", [("s", frame)]).read_bytes()
    assert a == b  # fixed zip dates: a re-run writes the same file
    ws = load_workbook(tmp_path / "a.xlsx")["s"]
    assert ws["A2"].value == "Cité 2"


@pytest.mark.parametrize("names", [["a" * 32], ["a/b"], ["x", "X"], [""]])
def test_bad_sheet_names(tmp_path, names):
    with pytest.raises(ValueError, match="sheet name"):
        write_xlsx(tmp_path / "t.xlsx", [(n, pd.DataFrame({"a": [1]})) for n in names])

"""Files written under a temporary name and renamed at the end (``qpvgeo._atomic``)."""

from __future__ import annotations

import os
import stat

import pytest

from qpvgeo._atomic import written_atomically
from qpvgeo.errors import InputFileError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_success_replaces_the_file_with_usual_permissions(tmp_path):
    out = tmp_path / "resultat.csv"
    out.write_text("ancien\n", encoding="utf-8")
    with written_atomically(out) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.suffix == ".csv"
        assert tmp.name.startswith(".")
        assert not tmp.exists()  # the writer creates it
        tmp.write_text("nouveau\n", encoding="utf-8")
        assert out.read_text(encoding="utf-8") == "ancien\n"  # not replaced before the end
    assert out.read_text(encoding="utf-8") == "nouveau\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["resultat.csv"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_the_previous_file_and_no_temporary(tmp_path, error):
    out = tmp_path / "resultat.gpkg"
    out.write_bytes(b"previous")

    def write_half_then_fail():
        with written_atomically(out) as tmp:
            tmp.write_bytes(b"half")
            raise error("interrupted")

    with pytest.raises(error):
        write_half_then_fail()
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["resultat.gpkg"]


def test_missing_folder_is_a_typed_error(tmp_path):
    with pytest.raises(InputFileError, match="n'existe pas"), \
            written_atomically(tmp_path / "absent" / "x.csv"):
        pass

"""Files written under a temporary name and renamed at the end, with the usual permissions.

``tempfile.mkstemp``/``mkdtemp`` create private files (0600) and folders (0700), which is right
while they are being written but wrong for the result: a portrait folder shared with colleagues
or served by a web server must be readable as any file the user creates. Before the rename,
:func:`usual_permissions` gives them the permissions ``open()``/``mkdir()`` would (the umask).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from qpvgeo.errors import InputFileError

__all__ = ["usual_permissions", "written_atomically"]


def usual_permissions(path: str | Path) -> None:
    """Set ``path`` to 0666 (file) or 0777 (folder) minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)


@contextlib.contextmanager
def written_atomically(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer; it replaces ``path`` on success.

    The temporary file is named like a hidden ``.<stem>-XXXX<suffix>`` in the same folder (so
    the final rename is atomic) and does not exist yet (GDAL will not open an empty file as a
    GeoPackage). On success it gets the usual permissions and replaces ``path``; on any error,
    interruption included, it is removed and ``path`` is left as it was.

    Raises
    ------
    InputFileError
        The folder of ``path`` does not exist.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"{path}: le dossier {folder} n'existe pas ; créez-le d'abord")
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=folder)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        usual_permissions(tmp)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

"""Permissions of files and folders written under a temporary name, then renamed.

``tempfile.mkstemp``/``mkdtemp`` create private files (0600) and folders (0700), which is right
while they are being written but wrong for the result: a portrait folder shared with colleagues
or served by a web server must be readable as any file the user creates. Before the rename,
:func:`usual_permissions` gives them the permissions ``open()``/``mkdir()`` would (the umask).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["usual_permissions"]


def usual_permissions(path: str | Path) -> None:
    """Set ``path`` to 0666 (file) or 0777 (folder) minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)

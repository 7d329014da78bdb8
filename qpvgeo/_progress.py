"""Progress reporting shared by long operations.

Long functions take ``progress: ProgressCallback | None``: a callable receiving the fraction done
(0–1) and a short French message. The CLI passes a tqdm bar (:func:`tqdm_progress`); the QGIS
plugin passes a function that forwards to ``feedback.setProgress`` and raises
:class:`qpvgeo.errors.Cancelled` once the user cancels.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressCallback = Callable[[float, str], None]


def report(progress: ProgressCallback | None, fraction: float, message: str = "") -> None:
    """Call ``progress`` if given, clamping the fraction to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def scaled(progress: ProgressCallback | None, start: float, end: float) -> ProgressCallback | None:
    """Map a sub-task's 0–1 progress onto [start, end] of the parent's progress."""
    if progress is None:
        return None

    def _inner(fraction: float, message: str) -> None:
        progress(start + (end - start) * fraction, message)

    return _inner


@contextmanager
def tqdm_progress(desc: str, *, disable: bool | None = None) -> Iterator[ProgressCallback]:
    """Yield a progress callback drawing a tqdm bar on stderr (percent scale)."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = not sys.stderr.isatty()
    bar = tqdm(total=100, desc=desc, unit="%", disable=disable, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
    try:
        def _cb(fraction: float, message: str) -> None:
            bar.n = round(100 * fraction, 1)
            if message:
                bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        yield _cb
    finally:
        bar.close()

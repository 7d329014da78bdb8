"""Bridges between Processing feedback and the library's progress callbacks.

The library's long functions take ``progress(fraction, message)``; the plugin passes
:func:`progress_callback`, which forwards to ``feedback.setProgress`` and raises
:class:`qpvgeo.errors.Cancelled` as soon as the user cancels, so the library stops where it is
and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _cancelled_error() -> Exception:
    from qpvgeo.errors import Cancelled

    return Cancelled("annulé par l'utilisateur")


def cancel_check(feedback: Any) -> Callable[[], None]:
    """Return a function raising ``Cancelled`` once ``feedback.isCanceled()``."""

    def _check() -> None:
        if feedback is not None and feedback.isCanceled():
            raise _cancelled_error()

    return _check


def progress_callback(feedback: Any, start: float = 0.0, end: float = 1.0,
                      ) -> Callable[[float, str], None]:
    """Progress callback mapping the library's 0–1 fraction onto ``[start, end]`` of the bar.

    Messages are shown once each in the log; cancellation raises ``Cancelled``.
    """
    last = {"message": None}

    def _progress(fraction: float, message: str = "") -> None:
        if feedback is None:
            return
        if feedback.isCanceled():
            raise _cancelled_error()
        feedback.setProgress(100.0 * (start + (end - start) * float(fraction)))
        if message and message != last["message"]:
            last["message"] = message
            feedback.setProgressText(message)

    return _progress

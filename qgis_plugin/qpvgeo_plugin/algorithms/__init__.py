"""One module per Processing algorithm; ``ALGORITHMS`` lists them in toolbox order."""

from __future__ import annotations

from .iris_qpv import IrisQpvOverlap

ALGORITHMS: list[type] = [
    IrisQpvOverlap,
]

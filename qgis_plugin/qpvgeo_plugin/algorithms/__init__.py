"""One module per Processing algorithm; ``ALGORITHMS`` lists them in toolbox order."""

from __future__ import annotations

from .heat_loss import BuildingHeatLoss
from .heat_loss_shares import HeatLossShares
from .interpolate import InterpolateIrisQpv
from .iris_qpv import IrisQpvOverlap

ALGORITHMS: list[type] = [
    BuildingHeatLoss,
    HeatLossShares,
    IrisQpvOverlap,
    InterpolateIrisQpv,
]

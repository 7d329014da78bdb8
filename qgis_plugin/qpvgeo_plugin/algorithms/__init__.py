"""One module per Processing algorithm; ``ALGORITHMS`` lists them in toolbox order."""

from __future__ import annotations

from .health import HealthAccess
from .heat_loss import BuildingHeatLoss
from .heat_loss_shares import HeatLossShares
from .housing import SocialHousing
from .interpolate import InterpolateIrisQpv
from .iris_qpv import IrisQpvOverlap
from .portrait import Portrait

ALGORITHMS: list[type] = [
    BuildingHeatLoss,
    HeatLossShares,
    IrisQpvOverlap,
    InterpolateIrisQpv,
    SocialHousing,
    HealthAccess,
    Portrait,
]

"""Step 9 of the portrait: SIRENE establishments, creations and sectors per QPV."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo._portrait_context import (
    Context,
    TableEntry,
    _engines,
    _population,
    _prov,
    _qpv_and_all,
    _qpv_zones,
    _with_keys_any,
)
from qpvgeo._progress import ProgressCallback, report


def step_economy(ctx: Context, progress: ProgressCallback | None) -> None:
    """Count establishments at two dates, their change, creations and sector mix per QPV."""
    cfg = ctx.config
    engines = _engines(ctx, "economie", ["sirene_t0", "sirene_t1"], "activité économique non "
                       "calculée : il faut les établissements SIRENE aux deux dates", "economy")
    if engines is None:
        return
    (economy,) = engines
    zones, qpv_zones = _qpv_zones(ctx)
    pop, pop_est = _population(ctx)
    y0, y1 = int(cfg.vintages["sirene_t0"]), int(cfg.vintages["sirene_t1"])

    def run(where: gpd.GeoDataFrame, **kwargs: Any) -> pd.DataFrame:
        return economy.economic_activity(
            ctx.layers["sirene_t0"], ctx.layers["sirene_t1"], where, year0=y0, year1=y1,
            territory=ctx.layers["territoire"], duplicates="drop", **kwargs)

    eco = _qpv_and_all(ctx, qpv_zones, run, [("population", pop, False),
                                             ("population_is_estimate", pop_est, True)])
    src, vint, meth = _prov(eco, "INSEE, SIRENE géolocalisé", "établissements actifs localisés "
                            "dans les QPV", f"{y0} et {y1}")
    frame = _with_keys_any(eco, zones, cfg.name)
    cols = {"nom_qpv": "Quartier"}
    for c, label in ((f"estab_{y0}_count", f"Établissements {y0}"),
                     (f"estab_{y1}_count", f"Établissements {y1}"),
                     ("estab_change_share", f"Évolution {y0}–{y1}"),
                     (f"creations_{y1}_count", f"Créations {y1}"),
                     (f"creations_{y1}_ei_share", f"Créations {y1} en entreprise individuelle"),
                     (f"sector_{y1}_commerce_transport_hebergement_restauration_share",
                      f"Commerce, transports, hébergement, restauration ({y1})"),
                     (f"sector_{y1}_services_share", f"Services ({y1})")):
        if c in frame.columns:
            cols[c] = label
    ctx.add("economie", TableEntry(
        frame=frame, section="economie", title="Établissements et créations (SIRENE)",
        source=src, vintage=vint, method=meth, columns=cols))
    report(progress, 1.0, "économie")

"""Steps 10–11 of the portrait: the NPNRU view and the summary tables in the diagnostic's form."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import pandas as pd

from qpvgeo._format import fmt, indicator_label
from qpvgeo._portrait_context import TERRITORY_CODE, Context, TableEntry, _module
from qpvgeo._portrait_exports import qpv_indicator_layer
from qpvgeo._progress import ProgressCallback, report
from qpvgeo.errors import DataQualityWarning


def _sentences(text: Any) -> str:
    """French sentences from "; "-joined reasons: each capitalised, ending with a period."""
    if not isinstance(text, str) or not text.strip():
        return ""
    parts = [p.strip() for p in text.split(" ; ") if p.strip()]
    out = []
    for p in parts:
        p = p[0].upper() + p[1:]
        out.append(p if p.endswith((".", "!", "?")) else p + ".")
    return " ".join(dict.fromkeys(out))


def _remark(reason: Any, note: Any) -> str:
    """Remark of a row of the summary table: why a figure is missing, else the caveat.

    The caveat (e.g. "a median does not add up") is left out when a reason already says why
    a figure is missing, so the cell never says the same thing twice.
    """
    why = _sentences(reason)
    return why or _sentences(note)


def step_npnru(ctx: Context, progress: ProgressCallback | None) -> None:
    """List the NPNRU QPV with their key figures (a view of the other tables)."""
    npnru = list(ctx.layers.get("npnru_codes", []))
    if not npnru:
        ctx.note("npnru", "aucun QPV du NPNRU indiqué ([options] npnru ou champ_npnru).")
        return
    layer = qpv_indicator_layer(ctx)
    sel = pd.DataFrame(layer.loc[layer["code_qpv"].isin(npnru)]).drop(columns="geometry")
    unknown = sorted(set(npnru) - set(sel["code_qpv"]))
    if unknown:
        ctx.warnings.append("QPV du NPNRU absents de la couche des QPV : " + ", ".join(unknown))
    cols = {"nom_qpv": "Quartier", "code_qpv": "Code"}
    for c in ("area_ha", "population", "taux_pauvrete", "taux_emploi_1564",
              "heatloss_strong_share", "rpls_count", "rpls_share_of_rp",
              "quality_poor_dwellings_share", "estab_change_share"):
        if c in sel.columns and pd.to_numeric(sel[c], errors="coerce").notna().any():
            cols[c] = indicator_label(c, short=True)
    # an estimate mark on the cells that are estimates (census figures from IRIS)
    marks = {c: sel[f"{c}_is_estimate"].fillna(False).astype(bool) for c in cols
             if f"{c}_is_estimate" in sel.columns}
    ctx.add("npnru", TableEntry(
        frame=sel.reset_index(drop=True), section="npnru", title="QPV retenus au titre du NPNRU",
        source="QPV du NPNRU désignés par la couche des QPV ou par la configuration ; "
               "chiffres repris des tableaux ci-dessus",
        vintage=ctx.config.vintages["qpv"], method="extrait des tableaux par QPV",
        columns=cols, per_qpv=False, long=False,
        estimated_cells={c: m.reset_index(drop=True) for c, m in marks.items()},
        estimate=bool(any(m.any() for m in marks.values()))))
    report(progress, 1.0, "NPNRU")


_SYNTHESIS_COLUMNS = {"label": "Indicateur", "territory_text": "Territoire",
                      "zones_text": "Ensemble des QPV", "min_text": "Minimum",
                      "max_text": "Maximum", "comparison": "Comparaison"}
# computed synthesis rows go to the section of their theme
_SYNTHESIS_SECTIONS: list[tuple[str, set[str], str]] = [
    ("logement", {"Logement", "Environnement"},
     "Logement social et énergie : le territoire et ses QPV"),
    ("sante", {"Santé"}, "Santé : le territoire et ses QPV"),
    ("economie", {"Économie"}, "Activité économique : le territoire et ses QPV"),
]


def _computed_zone_table(ctx: Context) -> pd.DataFrame | None:
    """Return the counts of the RPLS, heat-loss, health and SIRENE tables by ``code_qpv``.

    Indexed by code (QPV codes, ``ensemble_qpv``, ``territoire``); a column given by several
    tables (``pop``) is taken from the first. The SIRENE columns of the two stocks are renamed
    ``estab_t0_count``, ``creations_t1_count``, ``sector_t1_…`` (catalogue names).
    """
    cfg = ctx.config
    y0, y1 = cfg.vintages["sirene_t0"], cfg.vintages["sirene_t1"]
    merged: pd.DataFrame | None = None
    for key in ("logement_social", "deperditions", "sante", "economie"):
        entry = ctx.tables.get(key)
        if entry is None or "code_qpv" not in entry.frame.columns:
            continue
        f = entry.frame.drop_duplicates("code_qpv").set_index("code_qpv")
        if key == "economie":
            ren = {f"estab_{y0}_count": "estab_t0_count",
                   f"creations_{y1}_count": "creations_t1_count",
                   f"creations_{y1}_ei_count": "creations_t1_ei_count"}
            ren.update({c: "sector_t1_" + c[len(f"sector_{y1}_"):] for c in f.columns
                        if c.startswith(f"sector_{y1}_")})
            f = f.rename(columns=ren)
        f = f.drop(columns=[c for c in ("nom_qpv", "geometry") if c in f.columns])
        merged = f if merged is None else merged.join(
            f[[c for c in f.columns if c not in merged.columns]], how="outer")
    return merged


def _synthesis_vintages(ctx: Context) -> dict[str, int]:
    cfg = ctx.config
    out = {}
    for dataset, key in (("rp", "recensement"), ("filosofi", "filosofi"), ("rpls", "rpls"),
                         ("bpe", "bpe"), ("thermographie", "thermographie"),
                         ("sirene", "sirene_t1")):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            out[dataset] = int(cfg.vintages[key])
    return out


def _synthesis_entry(ctx: Context, table: pd.DataFrame, *, section: str, title: str,
                     vintage: str, lead: str | None = None) -> TableEntry:
    """Report entry of a :func:`qpvgeo.indicators.portrait_table` result."""
    frame = pd.DataFrame(table).reset_index()
    frame["remarque"] = [_remark(r, n) for r, n in zip(
        frame.get("missing_reason", pd.Series("", index=frame.index)),
        frame.get("note", pd.Series("", index=frame.index)), strict=True)]
    cols = dict(_SYNTHESIS_COLUMNS)
    if "references_text" in frame.columns and frame["references_text"].astype(str).str.strip() \
            .ne("").any():
        cols["references_text"] = "Département, région, France"
    if frame["remarque"].ne("").any():
        cols["remarque"] = "Remarque"
    sources = "; ".join(dict.fromkeys(
        str(x) for x in frame["source"].astype(str).str.split(" ; ").explode() if str(x)))
    return TableEntry(
        frame=frame, section=section, title=title, source=sources or "voir les tableaux "
        "détaillés", vintage=vintage,
        method="ensemble des QPV recalculé à partir des numérateurs et dénominateurs (une "
               "médiane ne s'additionne pas) ; minimum, maximum et rapports QPV / territoire "
               "(qpvgeo.indicators.portrait_table)",
        estimate=bool(frame["is_estimate"].fillna(False).astype(bool).any()),
        columns=cols, per_qpv=False, long=False, lead=lead)


def _population_lead(table: pd.DataFrame, n_qpv: int, name: str) -> str | None:
    """Return the diagnostic's first sentence: inhabitants of the QPV and their share."""
    if "population" not in table.index:
        return None
    r = table.loc["population"]
    if pd.isna(r["zones_value"]) or pd.isna(r["territory_value"]):
        return None
    share = r["zones_share_of_territory"]
    return (f"{fmt(r['zones_value'], 'count')} habitants vivent dans les {n_qpv} QPV, soit "
            f"{fmt(share, 'share')} des {fmt(r['territory_value'], 'count')} habitants du "
            f"territoire ({name}). Chaque ligne compare le territoire et l'ensemble de ses "
            "QPV, donne le QPV le plus bas et le plus haut, et le rapport entre chaque QPV et "
            "le territoire (« de 1,4 à 1,9 fois moins » : du QPV le plus proche du territoire "
            "au plus éloigné).")


def step_synthesis(ctx: Context, progress: ProgressCallback | None) -> None:
    """Summary tables in the diagnostic's form: territory, all QPV, min, max, ratios.

    The census and Filosofi indicators make the first table of the report; the indicators
    computed from RPLS, thermography, BPE and SIRENE make one table in each thematic section.
    Reference values (département, région, France, QPV of France) are matched by indicator.
    """
    cfg = ctx.config
    indicators = _module("indicators")
    if indicators is None:
        return
    refs = ctx.layers.get("reference")
    values, territory = ctx.layers.get("indicateurs_t1"), ctx.layers.get("territoire_t1")
    if values is not None and territory is not None:
        table_p = indicators.portrait_table(values, territory, references=refs,
                                            territory_name=cfg.name)
        ctx.add("portrait", _synthesis_entry(
            ctx, table_p, section="population", title="Tableau de synthèse : territoire et QPV",
            vintage=f"RP {cfg.vintages['recensement']}, Filosofi {cfg.vintages['filosofi']}",
            lead=_population_lead(table_p, len(ctx.layers["qpv"]), cfg.name)))
    report(progress, 0.5, "synthèse thématique")
    comp = _computed_zone_table(ctx)
    if comp is None or TERRITORY_CODE not in comp.index:
        return
    qpv = ctx.layers["qpv"]
    codes = qpv["code_qpv"].astype(str)
    rows = comp.loc[comp.index.isin(set(codes))].reset_index()
    vint = _synthesis_vintages(ctx)
    zones = pd.DataFrame({"code_qpv": codes.to_numpy(), "nom_qpv": qpv["nom_qpv"].to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # said by the engine steps
        values_c = indicators.zone_indicators(zones, computed=[rows], vintage=vint)
        keys = [k for k in values_c.attrs["qpvgeo"]["indicators"]
                if indicators.get_indicator(k).dataset not in ("rp", "filosofi")]
        if not keys:
            return
        terr_row = comp.loc[[TERRITORY_CODE]].reset_index(drop=True)
        terr_c = indicators.compute_indicators(terr_row, vintage=vint, indicators=keys,
                                               is_estimate="auto", name="territoire")
        terr_c.insert(0, "nom", cfg.name)
        terr_c.insert(0, "code", cfg.siren_epci or TERRITORY_CODE)
        terr_c.index = pd.Index([cfg.name])
        table_c = indicators.portrait_table(values_c, terr_c, indicators=keys,
                                            references=refs, territory_name=cfg.name)
    ctx.layers["synthese_thematique"] = table_c
    for section, themes, title in _SYNTHESIS_SECTIONS:
        part = table_c.loc[table_c["theme"].isin(themes)]
        if part.empty:
            continue
        vints = sorted({str(v) for v in part["vintage"].astype(str) if v})
        ctx.add(f"synthese_{section}", _synthesis_entry(
            ctx, part, section=section, title=title, vintage=", ".join(vints) or "voir les "
            "tableaux détaillés"))
    report(progress, 1.0, "synthèse")

"""The diagnostic's summary table: territory, all zones, minimum, maximum, ratios, references."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._catalogue import _CATALOGUE_BY_KEY, CATALOGUE, Indicator, get_indicator
from qpvgeo._french import _compare_phrase, _fold, format_value, ratio_phrase
from qpvgeo._wide import (
    _ID_CANDIDATES,
    _ILLUSTRATIVE_SUFFIX,
    _NAME_CANDIDATES,
    _bare,
    _is_illustrative_source,
    _mode_int,
    _wide_columns,
)
from qpvgeo.errors import SchemaError


def _pick_reference(
    refs: pd.DataFrame, ind: Indicator, level: str, vintage: int | None
) -> pd.DataFrame:
    rows = refs[(refs["indicator"] == ind.key) & (refs["level"] == level)]
    if rows.empty:
        return rows
    out = []
    for _, grp in rows.groupby("name", sort=False):
        same = (grp["vintage"] == vintage).fillna(False).astype(bool) if vintage is not None \
            else pd.Series(False, index=grp.index)
        if same.any():
            out.append(grp[same].iloc[[0]])
        else:
            out.append(grp.sort_values("vintage").iloc[[-1]])
    return pd.concat(out)
def portrait_table(
    values: pd.DataFrame,
    territory: pd.DataFrame,
    *,
    indicators: Iterable[str | Indicator] | None = None,
    references: pd.DataFrame | None = None,
    key: str | None = None,
    name_col: str | None = None,
    zone_label: str = "QPV",
    territory_name: str | None = None,
) -> pd.DataFrame:
    """Summarise indicators as the diagnostic's table: territory, all zones, min, max, ratios.

    Parameters
    ----------
    values
        Per-zone indicators (:func:`zone_indicators` output), one row per QPV (or IRIS).
    territory
        Territory indicators (:func:`territory_indicators` output, one row).
    indicators
        Rows of the table, in order (default: the catalogue indicators present in
        ``values``, in catalogue order; one absent from ``territory`` gets a missing territory
        value with the reason).
    references
        Comparison figures (:func:`read_reference_table`): ``departement``, ``region``,
        ``france``, ``epci`` levels become columns and a French sentence; an
        ``ensemble_qpv`` row gives the zones' aggregate of a non-additive indicator (median);
        an ``epci`` row named as the territory gives the territory's official value where
        ``territory`` has none (e.g. the EPCI's Filosofi median).
    key, name_col
        Code and name columns of ``values`` (default from its attrs or usual names).
    zone_label
        Word for the zones in French sentences (``"QPV"``, ``"IRIS"``).
    territory_name
        Name of the territory in sentences (default the ``nom`` of ``territory``).

    Returns
    -------
    pandas.DataFrame
        One row per indicator (index ``indicator``) with columns: ``label, theme, unit,
        direction, kind``; ``territory_value, territory_num, territory_den``;
        ``zones_value`` (aggregate of the zones: Σ numerator / Σ denominator for ratios, sum
        for counts, official ``ensemble_qpv`` figure for medians, else missing),
        ``zones_num, zones_den, zones_aggregate_method``; ``zones_share_of_territory``
        (counts: Σ zones / territory, 0–1); ``n_zones, n_zones_with_data,
        zones_without_data`` (names, "; "-joined); ``min_code, min_name, min_value, max_code,
        max_name, max_value``; ``ratio_min, ratio_max`` (zone / territory),
        ``n_above_territory, n_below_territory``; French texts ``territory_text,
        zones_text, min_text, max_text, comparison, references_text,
        territory_comparison``; reference columns ``ref_<level>`` (and
        ``ref_<level>_name``) when one name per level, ``ref_<level>_<n>`` otherwise;
        provenance ``origin`` (counts by origin), ``source``, ``vintage``, ``method``,
        ``is_estimate``, ``share_zones_estimated`` (0–1), ``is_illustrative``,
        ``missing_reason``.
    """
    if len(territory) != 1:
        raise SchemaError(f"territory must have exactly one row, got {len(territory)}; build "
                          "it with territory_indicators")
    attrs = values.attrs.get("qpvgeo", {}) if isinstance(values.attrs, dict) else {}
    key = key or attrs.get("key") or _validate.find_column(values, list(_ID_CANDIDATES))
    name_col = (name_col or attrs.get("name_col")
                or _validate.find_column(values, list(_NAME_CANDIDATES)) or key)
    if key is None or key not in values.columns:
        raise SchemaError(_validate.missing_message("values", ["code_qpv"], values.columns,
                                                    "pass key='<zone code column>'"))
    assert name_col is not None
    terr = territory.iloc[0]
    tname = territory_name or str(terr.get("nom", "territoire"))
    if indicators is None:
        inds = [i for i in CATALOGUE if i.key in values.columns]
        extra = [k for k in attrs.get("indicators", []) if k not in _CATALOGUE_BY_KEY]
        if extra:
            raise SchemaError(f"values hold custom indicators ({', '.join(extra)}); pass them "
                              "as indicators=[Indicator(...), ...]")
    else:
        inds = [get_indicator(i) for i in indicators]
    refs = references if references is not None else pd.DataFrame(
        columns=["level", "name", "indicator", "value", "vintage", "source"])
    if references is not None:
        _validate.require_columns(references, ["level", "name", "indicator", "value",
                                               "vintage", "source"], name="references",
                                  hint="read it with read_reference_table")
    values, refs = _bare(values), _bare(refs)
    names = values[name_col].astype(object).where(values[name_col].notna(),
                                                  values[key].astype(object))
    rows = []
    terr = terr.copy()
    for ind in inds:
        _wide_columns(values, ind, "values")
        if ind.key not in territory.columns:
            # the territory table lacks it: a row all the same, territory value missing
            terr = pd.concat([terr, pd.Series({
                ind.key: np.nan, f"{ind.key}_num": np.nan, f"{ind.key}_den": np.nan,
                f"{ind.key}_origin": "", f"{ind.key}_source": "", f"{ind.key}_vintage": pd.NA,
                f"{ind.key}_method": "", f"{ind.key}_is_estimate": False,
                f"{ind.key}_missing_reason": "pas de valeur : indicateur absent du tableau "
                                             "du territoire"}, dtype=object)])
        _wide_columns(terr.to_frame().T, ind, "territory")
        rows.append(_portrait_row(ind, values, names, key, terr, tname, refs, zone_label))
    table = pd.DataFrame(rows)
    table.index = pd.Index([i.key for i in inds], name="indicator")
    table.attrs["qpvgeo"] = {
        "territory": tname, "zone_label": zone_label, "n_zones": len(values),
        "source": "; ".join(pd.unique(table["source"].astype(str))) if len(table) else "",
        "method": "qpvgeo.indicators.portrait_table",
    }
    return table


def _portrait_row(
    ind: Indicator, values: pd.DataFrame, names: pd.Series, key: str, terr: pd.Series,
    tname: str, refs: pd.DataFrame, zone_label: str,
) -> dict[str, Any]:
    k = ind.key
    v = values[k].astype(float)
    num = values[f"{k}_num"].astype(float)
    den = values[f"{k}_den"].astype(float)
    has = v.notna()
    n, n_data = len(values), int(has.sum())
    t_val = float(terr[k]) if pd.notna(terr[k]) else np.nan
    row: dict[str, Any] = {
        "label": ind.label, "theme": ind.theme, "unit": ind.unit, "direction": ind.direction,
        "kind": ind.kind, "territory_name": tname, "territory_value": t_val,
        "territory_num": terr[f"{k}_num"], "territory_den": terr[f"{k}_den"],
    }
    reasons: list[str] = []
    terr_src, terr_vint, terr_meth = (str(terr[f"{k}_source"]), terr[f"{k}_vintage"],
                                      str(terr[f"{k}_method"]))
    own = _own_reference(refs, ind, tname, _mode_int(values[f"{k}_vintage"]))
    if pd.isna(t_val) and own is not None:
        # the territory's official figure given in the reference table (level epci)
        t_val = float(own["value"])
        terr_src, terr_vint = str(own["source"]), own["vintage"]
        terr_meth = f"valeur officielle de la table de référence ({own['name']})"
        row.update({"territory_value": t_val, "territory_num": np.nan,
                    "territory_den": np.nan})
    if pd.isna(t_val):
        reasons.append(f"{tname} : {terr[f'{k}_missing_reason'] or 'valeur manquante'}")

    # aggregate of the zones
    agg, a_num, a_den = np.nan, np.nan, np.nan
    agg_method = ""
    agg_estimate = False
    if ind.kind == "count":
        if n_data:
            a_num = float(num[has].sum())
            agg = a_num * ind.scale
            agg_method = f"somme sur {n_data} {zone_label}"
    elif ind.kind == "ratio":
        ok = has & num.notna() & den.notna()
        if ok.any():
            a_num, a_den = float(num[ok].sum()), float(den[ok].sum())
            if a_den > 0:
                agg = a_num / a_den * ind.scale
                agg_method = (f"ratio des sommes Σ numérateur / Σ dénominateur sur "
                              f"{int(ok.sum())} {zone_label}")
                if int(ok.sum()) < n_data:
                    agg_method += (f" ({n_data - int(ok.sum())} {zone_label} à taux publié "
                                   "sans numérateur ni dénominateur exclus)")
            else:
                reasons.append(f"ensemble des {zone_label} : dénominateur total nul")
        elif n_data:
            reasons.append(f"ensemble des {zone_label} non calculable : les taux sont publiés "
                           "sans leurs effectifs. Fournir le chiffre publié pour l'ensemble "
                           f"des {zone_label} (table de référence)")
    if ind.kind == "median" or (pd.isna(agg) and n_data):
        off = _pick_reference(refs, ind, "ensemble_qpv", _mode_int(values[f"{k}_vintage"]))
        if not off.empty:
            o = off.iloc[0]
            agg, agg_method = float(o["value"]), (
                f"valeur officielle « {o['name']} » ({o['source']}"
                + (f", {int(o['vintage'])})" if pd.notna(o["vintage"]) else ", sans millésime)"))
            reasons = [r for r in reasons if not r.startswith("ensemble des")]
        elif ind.kind == "median":
            reasons.append(f"ensemble des {zone_label} non calculable : une médiane ne "
                           "s'additionne ni ne se moyenne entre quartiers. Fournir le chiffre "
                           f"publié pour l'ensemble des {zone_label} (table de référence)")
    if not n_data:
        reasons.append(f"aucun {zone_label} avec donnée")
    est = values[f"{k}_is_estimate"].fillna(False).astype(bool) & has
    if agg_method.startswith(("somme", "ratio")) and est.any():
        agg_estimate = True
    row.update({"zones_value": agg, "zones_num": a_num, "zones_den": a_den,
                "zones_aggregate_method": agg_method})
    row["zones_share_of_territory"] = (
        agg / t_val if ind.kind == "count" and pd.notna(agg) and t_val and t_val > 0
        else np.nan)
    row["n_zones"], row["n_zones_with_data"] = n, n_data
    row["zones_without_data"] = "; ".join(names[~has].astype(str))

    # min / max
    if n_data:
        vv = v[has].to_numpy()
        j_min, j_max = int(np.argmin(vv)), int(np.argmax(vv))
        codes_h = values.loc[has, key].to_numpy()
        names_h = names[has].to_numpy()
        row.update({"min_code": codes_h[j_min], "min_name": names_h[j_min],
                    "min_value": float(vv[j_min]), "max_code": codes_h[j_max],
                    "max_name": names_h[j_max], "max_value": float(vv[j_max])})
    else:
        row.update({"min_code": None, "min_name": None, "min_value": np.nan,
                    "max_code": None, "max_name": None, "max_value": np.nan})
    ratios = v[has] / t_val if pd.notna(t_val) and t_val > 0 else pd.Series(dtype=float)
    row["ratio_min"] = float(ratios.min()) if len(ratios) else np.nan
    row["ratio_max"] = float(ratios.max()) if len(ratios) else np.nan
    row["n_above_territory"] = int((v[has] > t_val).sum()) if pd.notna(t_val) else 0
    row["n_below_territory"] = int((v[has] < t_val).sum()) if pd.notna(t_val) else 0

    # texts
    row["territory_text"] = format_value(t_val, ind)
    ztext = format_value(agg, ind) if pd.notna(agg) else "n.d."
    if 0 < n_data < n:
        ztext += (f" (sur les {n_data} {zone_label} dont la donnée est disponible)"
                  if agg_method.startswith(("somme", "ratio")) else "")
    row["zones_text"] = ztext
    row["min_text"] = (f"Mini : {format_value(row['min_value'], ind)} pour {row['min_name']}"
                       if n_data else "")
    row["max_text"] = (f"Maxi : {format_value(row['max_value'], ind)} pour {row['max_name']}"
                       if n_data else "")
    if ind.kind == "count":
        row["comparison"] = (f"soit {format_value(row['zones_share_of_territory'], 'share')} "
                             f"du total {tname}" if pd.notna(row["zones_share_of_territory"])
                             else "")
    else:
        row["comparison"] = ratio_phrase(ratios)

    # references
    ref_texts, terr_cmp = [], ""
    t_vint = _mode_int(pd.Series([terr_vint]))
    for level in ("commune", "epci", "departement", "region", "france", "france_qpv",
                  "ensemble_iris_qpv"):
        picked = _pick_reference(refs, ind, level, t_vint)
        if level == "epci" and not picked.empty:
            picked = picked[picked["name"].map(_fold) != _fold(tname)]
        if picked.empty:
            continue
        if len(picked) == 1:
            p = picked.iloc[0]
            row[f"ref_{level}"] = float(p["value"])
            row[f"ref_{level}_name"] = p["name"]
        else:
            for j, (_, p) in enumerate(picked.iterrows(), start=1):
                row[f"ref_{level}_{j}"] = float(p["value"])
                row[f"ref_{level}_{j}_name"] = p["name"]
        for _, p in picked.iterrows():
            vtxt = format_value(float(p["value"]), ind)
            if pd.isna(p["vintage"]):
                vtxt += " (sans millésime)"
            elif t_vint is not None and int(p["vintage"]) != t_vint:
                vtxt += f" ({int(p['vintage'])})"
            ref_texts.append(f"{p['name']} : {vtxt}")
        if level == "france" and ind.kind != "count":
            phrase = _compare_phrase(t_val, float(picked.iloc[0]["value"]))
            if phrase:
                terr_cmp = (f"{tname} : {phrase} que la France" if phrase != "l'équivalent"
                            else f"{tname} : l'équivalent de la France")
    row["references_text"] = " ; ".join(ref_texts)
    row["territory_comparison"] = terr_cmp

    # provenance
    origins = values.loc[has, f"{k}_origin"].astype(str).value_counts()
    row["origin"] = " ; ".join(f"{o} : {c}" for o, c in origins.items())
    srcs = [terr_src, *values.loc[has, f"{k}_source"].astype(str)]
    row["source"] = " ; ".join(dict.fromkeys(s for s in srcs if s)) or ind.source_label
    vints = sorted({int(x) for x in [terr_vint, *values.loc[has, f"{k}_vintage"]]
                    if pd.notna(x)})
    row["vintage"] = "–".join(map(str, [vints[0], vints[-1]])) if len(vints) > 1 else (
        str(vints[0]) if vints else "")
    meths = [terr_meth, *values.loc[has, f"{k}_method"].astype(str)]
    row["method"] = " ; ".join(dict.fromkeys(m for m in meths if m))
    row["is_estimate"] = bool(est.any() or agg_estimate
                              or bool(terr.get(f"{k}_is_estimate", False)))
    row["share_zones_estimated"] = float(est.sum() / n_data) if n_data else np.nan
    ill = bool(values.get("is_illustrative", pd.Series(False, index=values.index)).any()
               or bool(terr.get("is_illustrative", False))
               or any(_is_illustrative_source(s) for s in srcs)
               or _validate.is_illustrative(refs))
    row["is_illustrative"] = ill
    if ill and not _is_illustrative_source(row["source"]):
        row["source"] = f"{row['source']}{_ILLUSTRATIVE_SUFFIX}"
    row["note"] = ind.note
    row["missing_reason"] = " ; ".join(reasons)
    return row
def _own_reference(
    refs: pd.DataFrame, ind: Indicator, tname: str, vintage: int | None
) -> pd.Series | None:
    """Return the reference row (level ``epci``) naming the territory itself, if any."""
    picked = _pick_reference(refs, ind, "epci", vintage)
    if picked.empty:
        return None
    mine = picked[picked["name"].map(_fold) == _fold(tname)]
    return None if mine.empty else mine.iloc[0]

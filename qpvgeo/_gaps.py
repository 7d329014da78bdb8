"""Gap evolution: each zone's gap to the territory at two dates, its change and quadrant."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._catalogue import CATALOGUE, NEUTRAL, Indicator, get_indicator
from qpvgeo._french import _strip_accents, format_value
from qpvgeo._wide import _ID_CANDIDATES, _NAME_CANDIDATES, _bare, _mode_int, _wide_columns
from qpvgeo.errors import DataQualityWarning, DuplicateKeyError, SchemaError

_CW_FROM = ("old_code", "code_from", "from", "code_old", "old", "code_qpv_2015", "qp2015",
            "code_qp2015", "source_code")
_CW_TO = ("new_code", "code_to", "to", "code_new", "new", "code_qpv_2024", "qp2024",
          "code_qp2024", "target_code")
_CW_WEIGHT = ("allocation", "weight_from", "weight", "share_of_old", "share_from", "poids")
_CW_COVER = ("weight_share_of_new", "share_of_new", "weight_to", "coverage", "share_to")


def _transfer(
    t0: pd.DataFrame, ind: Indicator, key0: str, crosswalk: pd.DataFrame,
    columns: Mapping[str, str | None], dominant_share: float,
) -> pd.DataFrame:
    """Carry the t0 indicator onto the t1 zones of a crosswalk (one row per t1 code)."""
    k = ind.key
    cw = crosswalk
    c_from, c_to, c_w = columns["from"], columns["to"], columns["weight"]
    assert c_from is not None
    assert c_to is not None
    assert c_w is not None
    c_cov = columns.get("cover")
    src = _bare(t0.set_index(t0[key0].astype(object)))
    if src.index.duplicated().any():
        raise DuplicateKeyError(f"t0: duplicated zone codes in {key0}")
    w = pd.to_numeric(cw[c_w], errors="coerce")
    if w.isna().any() or (w < 0).any() or (w > 1 + 1e-9).any():
        raise SchemaError(f"crosswalk: column {c_w} must hold shares 0–1 of each t0 zone "
                          "going to each t1 zone (no missing or negative value)")
    unknown = sorted(set(cw[c_from].astype(object)) - set(src.index))
    rows = []
    # plain arrays and a position lookup: the loop below runs once per t1 zone and indicator
    pos = {code: i for i, code in enumerate(src.index)}
    all_vals = pd.to_numeric(src[k], errors="coerce").to_numpy(dtype=float)
    all_nums = pd.to_numeric(src[f"{k}_num"], errors="coerce").to_numpy(dtype=float)
    all_dens = pd.to_numeric(src[f"{k}_den"], errors="coerce").to_numpy(dtype=float)
    all_vint = src[f"{k}_vintage"].to_numpy(dtype=object)
    all_reason = src[f"{k}_missing_reason"].astype(str).to_numpy(dtype=object)
    from_codes = cw[c_from].astype(object).to_numpy()
    to_codes = cw[c_to].astype(object).to_numpy()
    weights = w.to_numpy(dtype=float)
    covers = (pd.to_numeric(cw[c_cov], errors="coerce").to_numpy(dtype=float)
              if c_cov is not None else None)
    groups: dict[Any, list[int]] = {}
    for i, code in enumerate(to_codes):
        groups.setdefault(code, []).append(i)
    for code_to, members in groups.items():
        olds = [from_codes[i] for i in members]
        ww = weights[members]
        known = [o in pos for o in olds]
        rec: dict[str, Any] = {"code": code_to, "codes_t0": ";".join(map(str, olds)),
                               "reason": ""}
        if not all(known):
            rec.update(value=np.nan, num=np.nan, den=np.nan, reason="zone(s) t0 absente(s) : "
                       + ", ".join(o for o, kn in zip(olds, known, strict=True) if not kn))
            rows.append(rec)
            continue
        at = [pos[o] for o in olds]
        vals, nums, dens = all_vals[at], all_nums[at], all_dens[at]
        method = ""
        if ind.kind == "count" and np.isfinite(nums).all():
            n_ = float((ww * nums).sum())
            rec.update(value=n_ * ind.scale, num=n_, den=np.nan)
            method = "report des effectifs pondérés (table de correspondance)"
        elif ind.kind == "ratio" and np.isfinite(nums).all() and np.isfinite(dens).all():
            n_, d_ = float((ww * nums).sum()), float((ww * dens).sum())
            rec.update(value=n_ / d_ * ind.scale if d_ > 0 else np.nan, num=n_, den=d_,
                       reason="" if d_ > 0 else "dénominateur nul")
            method = "report des numérateurs et dénominateurs pondérés (table de correspondance)"
        else:
            # non-additive: only when one t0 zone dominates the t1 zone
            if covers is not None:
                cover = covers[members]
            elif np.isfinite(dens).all() and (ww * dens).sum() > 0:
                cover = ww * dens / (ww * dens).sum()
            else:
                cover = np.full(len(olds), np.nan)
            if len(olds) == 1 and ww[0] >= dominant_share:
                cover = np.array([1.0])
            j = int(np.nanargmax(cover)) if np.isfinite(cover).any() else -1
            if j >= 0 and cover[j] >= dominant_share and np.isfinite(vals[j]):
                rec.update(value=float(vals[j]), num=np.nan, den=np.nan)
                method = (f"valeur du QPV {olds[j]} qui couvre {cover[j]:.0%} de la zone "
                          "(non additif : reprise sans moyenne)")
            else:
                rec.update(value=np.nan, num=np.nan, den=np.nan, reason=(
                    "non transférable : indicateur non additif et aucune zone t0 ne couvre "
                    f"au moins {dominant_share:.0%} de la zone"))
        if pd.isna(rec.get("value")) and not rec.get("reason"):
            rec["reason"] = "t0 : " + " ; ".join(r for r in all_reason[at] if r)
        rec["method"] = method
        rec["vintage"] = _mode_int(pd.Series(all_vint[at]))
        rows.append(rec)
    out = pd.DataFrame(rows).set_index("code")
    out.attrs["unknown_t0_codes"] = unknown
    return out


def _crosswalk_columns(
    cw: pd.DataFrame, given: Mapping[str, str] | None
) -> dict[str, str | None]:
    given = dict(given or {})
    cols: dict[str, str | None] = {
        "from": given.get("from") or _validate.find_column(cw, list(_CW_FROM)),
        "to": given.get("to") or _validate.find_column(cw, list(_CW_TO)),
        "weight": given.get("weight") or _validate.find_column(cw, list(_CW_WEIGHT)),
        "cover": given.get("cover") or _validate.find_column(cw, list(_CW_COVER)),
    }
    missing = [r for r in ("from", "to", "weight") if cols[r] is None or cols[r] not in
               cw.columns]
    if missing:
        raise SchemaError(_validate.missing_message(
            "crosswalk", [{"from": "code_from", "to": "code_to", "weight": "weight"}[m]
                          for m in missing], cw.columns,
            "pass crosswalk_columns={'from': ..., 'to': ..., 'weight': ...} (weight: share "
            "0–1 of each t0 zone lying in each t1 zone)"))
    return cols


def _infra_communal(key: str, codes: pd.Series) -> bool:
    if key.lower() in ("code_qpv", "code_iris"):
        return True
    sample = codes.dropna().astype(str).head(50)
    pat_q = _validate.CODE_PATTERNS["qpv"][1]
    pat_i = _validate.CODE_PATTERNS["iris"][1]
    return bool(len(sample)) and bool(sample.map(lambda c: bool(pat_q.match(c) or
                                                                pat_i.match(c))).all())


def _vintage_caution(ind: Indicator, v0: int | None, v1: int | None, infra: bool) -> str:
    if v0 is None or v1 is None or not infra:
        return ""
    gap = abs(v1 - v0)
    if ind.dataset == "rp" and gap < 5:
        return (f"Recensement : millésimes {v0} et {v1} distants de moins de 5 ans ; l'INSEE "
                "déconseille de mesurer des évolutions infracommunales sur des millésimes si "
                "proches (comparer des millésimes distants d'au moins 5 ans)")
    if ind.dataset == "filosofi" and (gap < 5 or 2020 in (v0, v1)):
        return (f"Filosofi : évolutions locales {v0}–{v1} à lire avec prudence (l'INSEE "
                "déconseille de comparer des millésimes proches à l'échelle infracommunale ; "
                "le millésime 2020 est moins comparable)")
    return ""


def gap_evolution(
    t0: pd.DataFrame,
    t1: pd.DataFrame,
    territory_t0: pd.DataFrame,
    territory_t1: pd.DataFrame,
    indicator: str | Indicator,
    *,
    key: str | None = None,
    key_t0: str | None = None,
    name_col: str | None = None,
    crosswalk: pd.DataFrame | None = None,
    crosswalk_columns: Mapping[str, str] | None = None,
    measure: Literal["difference", "ratio"] = "difference",
    tolerance: float = 0.0,
    infra_communal: bool | None = None,
    dominant_share: float = 0.8,
) -> pd.DataFrame:
    """Gap of each zone to the territory at two dates, its change and the quadrant.

    The question of the diagnostic — "Les écarts entre les QPV et la CALL se sont-ils
    réduits ?" — crossed with "la situation des QPV s'est-elle améliorée ?". Works on any
    zones (QPV, IRIS concerned by a QPV, communes).

    * gap = zone − territory (indicator unit: share points 0–1, euros…), gap ratio = zone /
      territory;
    * gap change: with ``measure="difference"`` ``|gap_t1| − |gap_t0|``; with ``"ratio"``
      ``|ln ratio_t1| − |ln ratio_t0|``; above ``tolerance`` the gap "s'accroît", below
      ``-tolerance`` it "se réduit", else it is stable;
    * situation: ``direction × (value_t1 − value_t0)`` > 0 is a "dégradation", < 0 an
      "amélioration" (for neutral indicators: "hausse" / "baisse");
    * quadrant: situation × gap trend, e.g. ``"dégradation, écart accru"``.

    A count (population) has no gap to the territory: only its change is given (``situation``
    "hausse"/"baisse", ``quadrant`` = situation, gap columns missing).

    When the zones differ between dates (2015 ``QP…`` codes at t0, 2024 ``QN…`` at t1), pass
    a ``crosswalk``: the table of :func:`qpvgeo.overlay.crosswalk` (``old_code``, ``new_code``,
    ``allocation`` = share 0–1 of the t0 zone's counts carried to the t1 zone,
    ``weight_share_of_new``/``share_of_new`` = share of the t1 zone coming from the t0 zone),
    or any table with those roles named in ``crosswalk_columns``. Counts, numerators and
    denominators are carried with the weights and ratios re-formed (an estimate, marked);
    non-additive values (medians) are carried only when one t0 zone covers at least
    ``dominant_share`` of the t1 zone, else missing with the reason.

    Warns (:class:`~qpvgeo.errors.DataQualityWarning`) when INSEE advises against the
    comparison below commune level: census vintages less than 5 years apart; Filosofi
    vintages less than 5 years apart or involving 2020 (DOMAIN.md §10).

    Parameters
    ----------
    t0, t1
        Per-zone indicator tables (:func:`zone_indicators` / :func:`compute_indicators`) at
        the two dates.
    territory_t0, territory_t1
        Territory indicators (:func:`territory_indicators`) at the two dates.
    indicator
        Indicator key or record.
    key, key_t0
        Code columns of ``t1`` and ``t0`` (default detected).
    name_col
        Name column of ``t1``.
    crosswalk, crosswalk_columns
        Correspondence table and, when its columns are not those of
        :func:`qpvgeo.overlay.crosswalk`, the names of its roles: ``{"from": old code, "to":
        new code, "weight": share of the old zone carried, "cover": share of the new zone
        coming from the old one (optional)}``.
    measure
        Gap measure used for the trend and the quadrant.
    tolerance
        Changes within ± tolerance are "stable" (indicator unit, or log-ratio for
        ``measure="ratio"``).
    infra_communal
        Whether the zones are below commune level (default: detected from the codes).
    dominant_share
        Minimum share of a t1 zone covered by one t0 zone to carry a non-additive value.

    Returns
    -------
    pandas.DataFrame
        Index and order of ``t1``; columns ``code, name, codes_t0, value_t0, value_t1,
        territory_t0, territory_t1, gap_t0, gap_t1, gap_ratio_t0, gap_ratio_t1, gap_change,
        change_value, change_relative`` (value_t1 / value_t0 − 1), ``situation, gap_trend,
        quadrant, position_t1, vintage_t0, vintage_t1,
        is_estimate, method_t0, caution, missing_reason``. ``attrs["qpvgeo"]`` holds the
        indicator, measure and the zones without data; :func:`gap_summary` gives the counts.
    """
    ind = get_indicator(indicator)
    k = ind.key
    for tbl, what in ((t0, "t0"), (t1, "t1"), (territory_t0, "territory_t0"),
                      (territory_t1, "territory_t1")):
        _wide_columns(tbl, ind, what)
    for tbl, what in ((territory_t0, "territory_t0"), (territory_t1, "territory_t1")):
        if len(tbl) != 1:
            raise SchemaError(f"{what} must have exactly one row, got {len(tbl)}")
    if measure not in ("difference", "ratio"):
        raise SchemaError(f"measure must be 'difference' or 'ratio', not {measure!r}")
    a1 = t1.attrs.get("qpvgeo", {}) if isinstance(t1.attrs, dict) else {}
    a0 = t0.attrs.get("qpvgeo", {}) if isinstance(t0.attrs, dict) else {}
    t0, t1 = _bare(t0), _bare(t1)
    territory_t0, territory_t1 = _bare(territory_t0), _bare(territory_t1)
    key = key or a1.get("key") or _validate.find_column(t1, list(_ID_CANDIDATES))
    key_t0 = key_t0 or a0.get("key") or _validate.find_column(t0, list(_ID_CANDIDATES))
    if key is None or key not in t1.columns:
        raise SchemaError(_validate.missing_message("t1", ["code_qpv"], t1.columns,
                                                    "pass key='<zone code column>'"))
    if key_t0 is None or key_t0 not in t0.columns:
        raise SchemaError(_validate.missing_message("t0", ["code_qpv"], t0.columns,
                                                    "pass key_t0='<zone code column>'"))
    name_col = (name_col or a1.get("name_col")
                or _validate.find_column(t1, list(_NAME_CANDIDATES)))
    codes1 = t1[key].astype(object)
    codes0 = t0[key_t0].astype(object)
    _validate.check_unique(t1, key, name="t1")
    _validate.check_unique(t0, key_t0, name="t0")

    estimate0 = pd.Series(False, index=t1.index)
    method0 = pd.Series("", index=t1.index, dtype=object)
    codes_t0 = codes1.copy()
    if crosswalk is not None:
        cols = _crosswalk_columns(crosswalk, crosswalk_columns)
        moved = _transfer(t0, ind, key_t0, crosswalk, cols, dominant_share)
        al = moved.reindex(pd.Index(codes1.to_numpy(), dtype=object))
        al.index = t1.index
        v0 = al["value"].astype(float)
        reason0 = al["reason"].astype(object).where(al["reason"].notna(),
                                                    "zone absente de la table de correspondance")
        reason0 = reason0.where(v0.isna(), "")
        codes_t0 = al["codes_t0"].astype(object)
        vint0 = _mode_int(t0[f"{k}_vintage"])
        estimate0 = v0.notna()
        method0 = al["method"].astype(object).where(al["method"].notna(), "")
    else:
        common = codes1.isin(set(codes0))
        if not common.any():
            kinds0 = sorted({str(c)[:2] for c in codes0.dropna()})
            kinds1 = sorted({str(c)[:2] for c in codes1.dropna()})
            raise SchemaError(
                f"t0 and t1 share no zone code (t0 codes start with {', '.join(kinds0)}, t1 "
                f"with {', '.join(kinds1)}); when the geography changed (QPV 2015 → 2024) pass "
                "crosswalk=... (qpvgeo.overlay.crosswalk)")
        src = t0.set_index(codes0)
        al = src.reindex(pd.Index(codes1.to_numpy(), dtype=object))
        al.index = t1.index
        v0 = al[k].astype(float)
        reason0 = al[f"{k}_missing_reason"].astype(object).where(common, "zone absente à t0")
        reason0 = reason0.where(reason0.notna(), "").where(v0.isna(), "")
        vint0 = _mode_int(t0[f"{k}_vintage"])
        estimate0 = al[f"{k}_is_estimate"].fillna(False).astype(bool)
        method0 = al[f"{k}_method"].astype(object).where(al[f"{k}_method"].notna(), "")
    v1 = t1[k].astype(float)
    vint1 = _mode_int(t1[f"{k}_vintage"])
    terr0 = float(territory_t0[k].iloc[0])
    terr1 = float(territory_t1[k].iloc[0])

    infra = _infra_communal(key, codes1) if infra_communal is None else bool(infra_communal)
    caution = _vintage_caution(ind, vint0, vint1, infra)
    if caution:
        warnings.warn(f"{k}: {caution}", DataQualityWarning, stacklevel=2)

    gap0, gap1 = v0 - terr0, v1 - terr1
    r0 = v0 / terr0 if terr0 and terr0 > 0 else pd.Series(np.nan, index=t1.index)
    r1 = v1 / terr1 if terr1 and terr1 > 0 else pd.Series(np.nan, index=t1.index)
    if measure == "difference":
        change = gap1.abs() - gap0.abs()
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            l0 = pd.Series(np.log(r0.where(r0 > 0).to_numpy(dtype=float)), index=t1.index)
            l1 = pd.Series(np.log(r1.where(r1 > 0).to_numpy(dtype=float)), index=t1.index)
        change = l1.abs() - l0.abs()
    dv = v1 - v0
    trend = pd.Series(None, index=t1.index, dtype=object)
    trend[change > tolerance] = "écart accru"
    trend[change < -tolerance] = "écart réduit"
    trend[change.abs() <= tolerance] = "écart stable"
    situation = pd.Series(None, index=t1.index, dtype=object)
    if ind.direction == NEUTRAL:
        situation[dv > tolerance] = "hausse"
        situation[dv < -tolerance] = "baisse"
    else:
        signed = ind.direction * dv
        situation[signed > tolerance] = "dégradation"
        situation[signed < -tolerance] = "amélioration"
    situation[dv.abs() <= tolerance] = "stable"
    quadrant = (situation + ", " + trend).where(situation.notna() & trend.notna())
    position = pd.Series(None, index=t1.index, dtype=object)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (v1 / v0.where(v0 > 0)) - 1
    terr_rel = terr1 / terr0 - 1 if terr0 and terr0 > 0 else np.nan
    if ind.kind == "count":
        # a count (population) has no "gap to the territory": only its change is reported
        nan = pd.Series(np.nan, index=t1.index)
        gap0, gap1, r0, r1, change = nan, nan.copy(), nan.copy(), nan.copy(), nan.copy()
        trend = pd.Series(None, index=t1.index, dtype=object)
        situation = situation.replace({"amélioration": "hausse", "dégradation": "baisse"})
        quadrant = situation.copy()
        position[:] = None
    elif ind.direction == NEUTRAL:
        position[gap1 > 0] = "au-dessus du territoire"
        position[gap1 < 0] = "en dessous du territoire"
    else:
        position[ind.direction * gap1 > 0] = "défavorable"
        position[ind.direction * gap1 < 0] = "favorable"
    if ind.kind != "count":
        position[gap1 == 0] = "égal au territoire"

    reason1 = t1[f"{k}_missing_reason"].astype(object).where(v1.isna(), "")
    missing = []
    for i in t1.index:
        parts = []
        if pd.isna(terr0) or pd.isna(terr1):
            parts.append("valeur du territoire manquante")
        if pd.isna(v0[i]):
            parts.append("t0 : " + (str(reason0[i]) or "valeur manquante"))
        if pd.isna(v1[i]):
            parts.append("t1 : " + (str(reason1[i]) or "valeur manquante"))
        missing.append(" ; ".join(parts))
    is_est = (estimate0 | t1[f"{k}_is_estimate"].fillna(False).astype(bool)) & v0.notna()
    out = pd.DataFrame({
        "code": codes1,
        "name": (t1[name_col].astype(object) if name_col else codes1),
        "codes_t0": codes_t0,
        "value_t0": v0, "value_t1": v1,
        "territory_t0": terr0, "territory_t1": terr1,
        "gap_t0": gap0, "gap_t1": gap1, "gap_ratio_t0": r0, "gap_ratio_t1": r1,
        "gap_change": change, "change_value": dv, "change_relative": rel,
        "situation": situation, "gap_trend": trend, "quadrant": quadrant,
        "position_t1": position,
        "vintage_t0": pd.Series(vint0, index=t1.index, dtype="Int64"),
        "vintage_t1": pd.Series(vint1, index=t1.index, dtype="Int64"),
        "is_estimate": is_est, "method_t0": method0,
        "caution": caution, "missing_reason": missing,
    }, index=t1.index)
    out.attrs["qpvgeo"] = {
        "indicator": k, "label": ind.label, "unit": ind.unit, "direction": ind.direction,
        "kind": ind.kind, "territory_change_relative": terr_rel,
        "measure": measure, "tolerance": tolerance, "infra_communal": infra,
        "crosswalk": crosswalk is not None, "caution": caution,
        "zones_without_data": out.loc[out["quadrant"].isna(), "name"].astype(str).tolist(),
        "territory": str(territory_t1.iloc[0].get("nom", "territoire")),
    }
    return out


def gap_summary(evolution: pd.DataFrame, *, zone_label: str = "zones") -> pd.DataFrame:
    """Count the zones behind the diagnostic's sentences, from :func:`gap_evolution`.

    Parameters
    ----------
    evolution
        Output of :func:`gap_evolution`.
    zone_label
        Word for the zones in the French sentence (``"QPV"``, ``"IRIS"``).

    Returns
    -------
    pandas.DataFrame
        One row indexed by the indicator key with ``n_zones, n_with_data,
        zones_without_data, n_gap_widened, n_gap_narrowed, n_gap_stable,
        share_gap_widened`` (0–1, of zones with data), ``n_improved, n_worsened, n_stable``
        (``n_rose``/``n_fell`` for neutral indicators), one ``n_<quadrant>`` column per
        quadrant, ``n_unfavourable_t1, n_favourable_t1`` and ``sentence`` (French, e.g.
        "L'écart au territoire s'est accru pour 15 des 30 IRIS (50 %) …").
    """
    attrs = evolution.attrs.get("qpvgeo", {}) if isinstance(evolution.attrs, dict) else {}
    evolution = _bare(evolution)
    required = ["gap_trend", "situation", "quadrant", "position_t1", "name"]
    _validate.require_columns(evolution, required, name="evolution",
                              hint="pass the result of gap_evolution")
    ok = evolution["quadrant"].notna()
    n_data = int(ok.sum())
    trend = evolution.loc[ok, "gap_trend"]
    sit = evolution.loc[ok, "situation"]
    row: dict[str, Any] = {
        "n_zones": len(evolution), "n_with_data": n_data,
        "zones_without_data": "; ".join(evolution.loc[~ok, "name"].astype(str)),
        "n_gap_widened": int((trend == "écart accru").sum()),
        "n_gap_narrowed": int((trend == "écart réduit").sum()),
        "n_gap_stable": int((trend == "écart stable").sum()),
    }
    is_count = attrs.get("kind") == "count"
    row["share_gap_widened"] = (row["n_gap_widened"] / n_data if n_data and not is_count
                                else np.nan)
    neutral = attrs.get("direction", 1) == NEUTRAL or is_count
    if neutral:
        row["n_rose"] = int((sit == "hausse").sum())
        row["n_fell"] = int((sit == "baisse").sum())
    else:
        row["n_improved"] = int((sit == "amélioration").sum())
        row["n_worsened"] = int((sit == "dégradation").sum())
    row["n_stable"] = int((sit == "stable").sum())
    situations = ("hausse", "baisse", "stable") if neutral else (
        "amélioration", "dégradation", "stable")
    for s in situations if not is_count else ():
        for t in ("écart accru", "écart réduit", "écart stable"):
            col = "n_" + _strip_accents(f"{s}_{t}").replace(" ", "_").replace(",", "")
            row[col] = int((evolution.loc[ok, "quadrant"] == f"{s}, {t}").sum())
    pos = evolution.loc[evolution["position_t1"].notna(), "position_t1"]
    row["n_unfavourable_t1"] = int((pos == "défavorable").sum())
    row["n_favourable_t1"] = int((pos == "favorable").sum())
    territory = attrs.get("territory", "territoire")
    if n_data and is_count:
        tr = attrs.get("territory_change_relative", np.nan)
        sign = "+" if pd.notna(tr) and tr > 0 else ""
        row["sentence"] = (
            f"Hausse dans {row['n_rose']} des {n_data} {zone_label}, baisse dans "
            f"{row['n_fell']}" + (f" ({territory} : {sign}{format_value(tr, 'share')})"
                                  if pd.notna(tr) else "")
            + (f" ; {len(evolution) - n_data} {zone_label} sans donnée"
               if n_data < len(evolution) else "") + ".")
    elif n_data:
        share = format_value(row["share_gap_widened"], "share", 0)
        sentence = (f"L'écart au territoire s'est accru pour {row['n_gap_widened']} des "
                    f"{n_data} {zone_label} ({share}) et réduit pour {row['n_gap_narrowed']}")
        if not neutral:
            sentence += (f" ; la situation s'est dégradée pour {row['n_worsened']} et "
                         f"améliorée pour {row['n_improved']}")
        if n_data < len(evolution):
            sentence += f" ({len(evolution) - n_data} {zone_label} sans donnée)"
        row["sentence"] = sentence + "."
    else:
        row["sentence"] = f"Aucun {zone_label} avec des données aux deux dates."
    out = pd.DataFrame([row], index=pd.Index([attrs.get("indicator", "")], name="indicator"))
    out.attrs["qpvgeo"] = dict(attrs)
    return out


def gap_overview(
    t0: pd.DataFrame,
    t1: pd.DataFrame,
    territory_t0: pd.DataFrame,
    territory_t1: pd.DataFrame,
    *,
    indicators: Iterable[str | Indicator] | None = None,
    zone_label: str = "QPV",
    **kwargs: Any,
) -> pd.DataFrame:
    """Run :func:`gap_evolution` and :func:`gap_summary` for several indicators.

    Parameters
    ----------
    t0, t1, territory_t0, territory_t1
        As in :func:`gap_evolution`.
    indicators
        Keys or records (default: the catalogue indicators present in the four tables).
    zone_label
        Word for the zones in the sentences (``"QPV"``, ``"IRIS"``).
    **kwargs
        Passed to :func:`gap_evolution` (``crosswalk``, ``measure``, ``tolerance``…).

    Returns
    -------
    pandas.DataFrame
        One row per indicator (index ``indicator``): ``label`` then the columns of
        :func:`gap_summary` and ``caution``. Quadrant count columns absent for an indicator
        are 0.
    """
    if indicators is None:
        inds = [i for i in CATALOGUE if all(i.key in t.columns for t in
                                            (t0, t1, territory_t0, territory_t1))]
    else:
        inds = [get_indicator(i) for i in indicators]
    rows = []
    for i in inds:
        evo = gap_evolution(t0, t1, territory_t0, territory_t1, i, **kwargs)
        summary = gap_summary(evo, zone_label=zone_label)
        summary.insert(0, "label", i.label)
        summary["caution"] = evo.attrs["qpvgeo"]["caution"]
        rows.append(summary)
    if not rows:
        return pd.DataFrame(columns=["label", "sentence"],
                            index=pd.Index([], name="indicator"))
    out = pd.concat(rows)
    counts = [c for c in out.columns if c.startswith("n_")]
    out[counts] = out[counts].fillna(0).astype(int)
    return out

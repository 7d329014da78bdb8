"""Outputs of the portrait: the QPV indicator layer, GeoPackage, long CSV, XLSX and web map."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from qpvgeo._format import indicator_label, indicator_unit, reason_text
from qpvgeo._portrait_context import Context
from qpvgeo._portrait_health import _walking_areas_of


def qpv_indicator_layer(ctx: Context) -> gpd.GeoDataFrame:
    """Return the QPV layer with every per-QPV table's columns (prefixed on name clashes)."""
    qpv = ctx.layers["qpv"]
    out = gpd.GeoDataFrame(qpv[["code_qpv", "nom_qpv", "geometry"]].copy(),
                           geometry="geometry", crs=qpv.crs)
    out["code_qpv"] = out["code_qpv"].astype(str)
    for key, entry in ctx.tables.items():
        if not entry.per_qpv or "code_qpv" not in entry.frame.columns:
            continue
        t = entry.frame.loc[entry.frame["code_qpv"].astype(str).isin(set(out["code_qpv"]))]
        t = t.drop_duplicates("code_qpv").set_index(t["code_qpv"].astype(str).to_numpy())
        cols = []
        for c in t.columns:
            if c in ("code_qpv", "nom_qpv", "geometry") or (c in out.columns and key == "qpv"):
                continue
            if isinstance(t[c].dtype, pd.api.types.CategoricalDtype):
                continue
            cols.append(c)
        new = {}
        for c in cols:
            name = c if c not in out.columns and c not in new else f"{key}_{c}"
            new[name] = out["code_qpv"].map(t[c]).to_numpy()
        if new:
            out = gpd.GeoDataFrame(pd.concat([out, pd.DataFrame(new, index=out.index)], axis=1),
                                   geometry="geometry", crs=qpv.crs)
    return out


_HELPER_SUFFIXES = ("_num", "_den", "_vintage", "_is_estimate", "_missing_reason", "_origin",
                    "_source", "_method")


_NO_REASON = "valeur manquante (motif non précisé par le calcul)"


_REASON_OF: dict[str, str] = {
    "rpls_let_count": "rpls_vacancy", "rpls_vacant_count": "rpls_vacancy",
    "rpls_empty_count": "rpls_vacancy",
}
"""Columns explained by the reason of another column (the RPLS occupancy counts are missing
for the same reason as the vacancy rate)."""


def _reason_column(frame: pd.DataFrame, column: str) -> str:
    """Return the ``*_missing_reason`` column explaining ``column``.

    The one whose stem is the longest prefix of ``column`` (``rpls_vacancy_missing_reason``
    for ``rpls_vacancy_share``), else ``missing_reason``.
    """
    alias = _REASON_OF.get(column)
    if alias and f"{alias}_missing_reason" in frame.columns:
        return f"{alias}_missing_reason"
    best = ""
    for r in frame.columns:
        if r.endswith("_missing_reason"):
            stem = r[: -len("_missing_reason")]
            if (column == stem or column.startswith(stem + "_")) and len(stem) > len(best):
                best = stem
    return f"{best}_missing_reason" if best else "missing_reason"


def _long_table(ctx: Context) -> pd.DataFrame:
    """One row per (table, zone, indicator) with its unit and provenance.

    Numerators, denominators and per-indicator provenance columns (``*_num``, ``*_den``,
    ``*_origin``…) are not rows of their own: they stay in the wide sheets of the XLSX; an
    indicator's own ``*_source``/``*_method``/``*_is_estimate`` fill its row's columns, and a
    missing value says why (``motif_valeur_manquante``, from ``*_missing_reason``).
    """
    cols = ["table", "code_zone", "nom_zone", "indicateur", "libelle", "valeur", "unite",
            "estimation", "source", "millesime", "methode", "motif_valeur_manquante",
            "donnees_illustratives"]
    acc: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    for key, entry in ctx.tables.items():
        if not (entry.export and entry.long):
            continue
        f = entry.frame.reset_index(drop=True)
        code_col = next((c for c in ("code_qpv", "code_iris", "insee_com", "code", "indicator",
                                     "key") if c in f.columns), None)
        name_col = next((c for c in ("nom_qpv", "nom_iris", "nom_com", "nom", "label", "name")
                         if c in f.columns), None)
        numeric = [c for c in f.columns if pd.api.types.is_numeric_dtype(f[c])
                   and not pd.api.types.is_bool_dtype(f[c]) and c != "geometry"
                   and not (c.endswith(_HELPER_SUFFIXES) and c.rsplit("_", 1)[0] in f.columns)
                   and not (c.endswith(("_num", "_den")) and c[:-4] in f.columns)]
        if not numeric or f.empty:
            continue
        n, k = len(f), len(numeric)
        row_est = np.full(n, bool(entry.estimate))
        for flag in ("is_estimate", "share_estimated"):
            if flag in f.columns:
                row_est = (pd.to_numeric(f[flag], errors="coerce").fillna(0) > 0).to_numpy()
                break
        codes = (np.array([None if pd.isna(v) else str(v) for v in f[code_col]], dtype=object)
                 if code_col else np.full(n, None, dtype=object))
        names = (np.array([None if pd.isna(v) else v for v in f[name_col]], dtype=object)
                 if name_col else np.full(n, None, dtype=object))
        values = f[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(values)
        acc["table"].append(np.full(n * k, key, dtype=object))
        acc["code_zone"].append(np.tile(codes, k))
        acc["nom_zone"].append(np.tile(names, k))
        acc["indicateur"].append(np.repeat(np.array(numeric, dtype=object), n))
        acc["libelle"].append(np.repeat(np.array([indicator_label(c) for c in numeric],
                                                 dtype=object), n))
        acc["valeur"].append(values.T.ravel())
        acc["unite"].append(np.repeat(np.array([indicator_unit(c) for c in numeric],
                                               dtype=object), n))
        acc["millesime"].append(np.full(n * k, entry.vintage, dtype=object))
        acc["donnees_illustratives"].append(np.full(n * k, ctx.is_illustrative))
        for j, c in enumerate(numeric):
            acc["estimation"].append(
                f[f"{c}_is_estimate"].astype("boolean").fillna(False).to_numpy(dtype=bool)
                if f"{c}_is_estimate" in f.columns else row_est)
            acc["source"].append(_text_array(f, f"{c}_source", entry.source))
            acc["methode"].append(_text_array(f, f"{c}_method", entry.method))
            reason = _text_array(f, _reason_column(f, c), _NO_REASON)
            acc["motif_valeur_manquante"].append(np.where(missing[:, j], reason, ""))
    if not acc["table"]:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({c: np.concatenate(acc[c]) for c in cols})


def _text_array(frame: pd.DataFrame, column: str, default: str) -> np.ndarray:
    """Text column of ``frame`` as an object array, blanks replaced by ``default``."""
    if column not in frame.columns:
        return np.full(len(frame), default, dtype=object)
    return np.array([default if (v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                 or not str(v).strip()) else v
                     for v in frame[column].to_numpy(dtype=object)], dtype=object)


def _write_csv_xlsx(ctx: Context, out: Path) -> list[str]:
    from qpvgeo._xlsx import write_xlsx

    long = _long_table(ctx)
    long.to_csv(out / "indicateurs.csv", sep=";", index=False, encoding="utf-8-sig")
    sheets: list[tuple[str, pd.DataFrame]] = [("indicateurs", long)]
    used = {"indicateurs", "provenance"}
    for key, entry in ctx.tables.items():
        if not entry.export:
            continue
        name = key[:31]
        n = 2
        while name in used:
            name = f"{key[:28]}_{n}"
            n += 1
        used.add(name)
        frame = entry.frame.drop(columns=[c for c in ("geometry",) if c in entry.frame.columns])
        sheets.append((name, pd.DataFrame(frame)))
    prov = pd.DataFrame([{
        "table": key, "titre": e.title, "section": e.section, "source": e.source,
        "millesime": e.vintage, "methode": e.method, "estimation": e.estimate,
        "donnees_illustratives": ctx.is_illustrative, "lignes": len(e.frame)}
        for key, e in ctx.tables.items() if e.export])
    sheets.append(("provenance", prov))
    write_xlsx(out / "indicateurs.xlsx", sheets)
    return ["indicateurs.csv", "indicateurs.xlsx"]


def _write_gpkg(ctx: Context, out: Path) -> list[str]:
    from qpvgeo import styles

    path = out / "portrait.gpkg"
    layers: list[tuple[str, gpd.GeoDataFrame, str]] = []
    qpv_layer = qpv_indicator_layer(ctx)
    indicator = _map_indicator(ctx, qpv_layer)
    if indicator is not None:
        from qpvgeo.maps import class_breaks, palette

        k = int(ctx.config.options.get("classes_carte", 5))
        _, breaks = class_breaks(qpv_layer[indicator], k)
        qml = styles.qpv_qml(qpv_layer, indicator, breaks=breaks, colours=palette(len(breaks)))
    else:
        qml = styles.qpv_qml(qpv_layer, None)
    layers.append(("qpv", qpv_layer, qml))
    if "batiments_classes" in ctx.layers:
        b = ctx.layers["batiments_classes"]
        layers.append(("batiments", b, styles.buildings_qml(
            ctx.heat_classes or [], class_col=ctx.layers.get("batiments_label_col",
                                                               "heatloss_label"))))
    if "correspondance_iris_qpv" in ctx.layers:
        layers.append(("iris_qpv", ctx.layers["correspondance_iris_qpv"], styles.outline_qml()))
    if "territoire" in ctx.layers:
        layers.append(("territoire", ctx.layers["territoire"], styles.outline_qml("#333333")))
    for name, gdf, _ in layers:
        g = gdf.copy()
        for c in g.columns:
            if c != g.geometry.name and (g[c].dtype == object or str(g[c].dtype) == "str"):
                g[c] = g[c].astype(object).where(g[c].notna(), None)
                g[c] = [None if v is None else str(v) for v in g[c]]
        g.to_file(path, layer=name, driver="GPKG")
    styles.embed_styles(path, [(name, qml) for name, _, qml in layers])
    return ["portrait.gpkg"]


def _map_indicator(ctx: Context, qpv_layer: pd.DataFrame) -> str | None:
    """Return the indicator of the QPV choropleth (web map and QGIS style).

    The configured one, else the first share column (with a warning), else none.
    """
    indicator = ctx.config.options.get("indicateur_carte")
    if indicator in qpv_layer.columns:
        return str(indicator)
    numeric = [c for c in qpv_layer.columns if c not in ("area_ha", "territory_share")
               and pd.api.types.is_numeric_dtype(qpv_layer[c]) and indicator_unit(c) == "share"
               and pd.to_numeric(qpv_layer[c], errors="coerce").notna().any()]
    text = (f"indicateur de carte « {indicator} » indisponible ; "
            + (f"carte sur « {numeric[0]} »." if numeric else "carte des périmètres seuls."))
    if indicator and text not in ctx.warnings:
        ctx.warnings.append(text)
    return numeric[0] if numeric else None


def _write_map(ctx: Context, out: Path, offline: bool) -> list[str]:
    from qpvgeo.maps import DEFAULT_HEAT_CLASSES, portrait_map, save_map

    cfg = ctx.config
    qpv_layer = qpv_indicator_layer(ctx)
    indicator = _map_indicator(ctx, qpv_layer)
    tips = [c for c in ("population", "revenu_median", "taux_pauvrete",
                        "heatloss_strong_share", "rpls_count") if c in qpv_layer.columns]
    if indicator is not None:
        # why the mapped figure is missing, in the tooltip of the grey QPV
        reason_col = _reason_column(qpv_layer, indicator)
        if reason_col in qpv_layer.columns:
            missing = pd.to_numeric(qpv_layer[indicator], errors="coerce").isna()
            qpv_layer["motif_carte"] = [reason_text(r, indicator) if m else ""
                                        for r, m in zip(qpv_layer[reason_col], missing,
                                                        strict=True)]
            tips.append("motif_carte")
    iris = ctx.layers.get("iris_concernes")
    walking = ctx.layers.get("zones_marche")
    if walking is None:
        walking = _walking_areas_of(ctx)
    m = portrait_map(
        qpv_layer, indicator=indicator, k=int(cfg.options.get("classes_carte", 5)),
        tooltip_fields=tips, npnru=list(ctx.layers.get("npnru_codes", [])),
        iris=iris, communes=ctx.layers.get("communes"),
        buildings=ctx.layers.get("batiments_classes"),
        building_class_col=ctx.layers.get("batiments_label_col", "heatloss_label"),
        heat_classes=ctx.heat_classes or DEFAULT_HEAT_CLASSES,
        strong_classes=ctx.strong_classes,
        detail_m=float(cfg.options["detail_batiments_m"]),
        cell_m=float(cfg.options["carreau_batiments_m"]),
        social_housing=ctx.layers.get("rpls"), equipment=ctx.layers.get("bpe_sante"),
        walking_areas=walking,
        walking_label=f"Zones à {cfg.options['marche_minutes']:g} min à pied",
        title=f"Portrait de territoire — {cfg.name}", illustrative=ctx.is_illustrative,
        offline=offline)
    save_map(m, out / "carte.html", offline=offline)
    files = ["carte.html"]
    if offline:
        files += [str(p.relative_to(out)) for p in sorted((out / "assets").rglob("*"))
                  if p.is_file()]
    return files

"""State shared by the steps of :func:`qpvgeo.portrait.run_portrait` and the helpers every step
uses: the :class:`Context`, result tables (:class:`TableEntry`) with their provenance, the
zones (QPV, all QPV as one zone, territory) and the census figures the engines divide by.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._format import is_reason_code, reason_text
from qpvgeo._progress import ProgressCallback
from qpvgeo.config import PortraitConfig
from qpvgeo.errors import DataQualityWarning

TERRITORY_CODE = "territoire"


@dataclass
class TableEntry:
    """A result table with its provenance.

    Attributes
    ----------
    frame
        The table (one row per zone; QPV rows keyed by ``code_qpv``; aggregate rows allowed).
    section
        Report section id (:data:`qpvgeo.report.SECTIONS`).
    title
        French title.
    source, vintage, method
        Provenance shown under the table and exported to the provenance sheet.
    estimate
        The figures are estimates from IRIS.
    columns
        Columns shown in the report (``{column: French header}``); all columns are exported.
    per_qpv
        One row per QPV keyed by ``code_qpv`` (merged into the QPV layer of the GeoPackage).
    export
        Written to the CSV/XLSX exports (``False`` for a second view of an exported table).
    long
        Rows of the long ``indicateurs.csv`` (per-zone indicator tables); detail and summary
        tables (correspondences, evolution, synthesis) have their XLSX sheet only.
    estimated_cells
        ``{column: boolean Series aligned with frame}``: cells marked as estimates in the
        report.
    collapsed, lead, note
        Report display: folded table, sentence above it, text under the provenance.
    estimate_label, estimate_rest
        How the estimated cells were estimated (default "à partir des IRIS") and what the
        other cells are (default "les autres sont publiées"), for the report's marks.
    """

    frame: pd.DataFrame
    section: str
    title: str
    source: str
    vintage: str
    method: str
    estimate: bool = False
    columns: dict[str, str] | None = None
    per_qpv: bool = True
    export: bool = True
    long: bool = True
    estimated_cells: dict[str, pd.Series] | None = None
    collapsed: bool = False
    lead: str | None = None
    note: str | None = None
    estimate_label: str | None = None
    estimate_rest: str | None = None


@dataclass
class Context:
    """State shared by the steps of one run."""

    config: PortraitConfig
    layers: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, TableEntry] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    illustrative: set[str] = field(default_factory=set)
    figures: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    heat_classes: list[tuple[str, str]] | None = None
    strong_classes: tuple[str, ...] = ("fortes", "excessives")

    def note(self, section: str, text: str) -> None:
        """Record that (part of) a section was skipped, and why (French)."""
        self.notes.setdefault(section, []).append(text)

    def add(self, key: str, entry: TableEntry) -> None:
        """Register a result table (machine reason codes turned into plain French)."""
        entry.frame = _french_reasons(entry.frame)
        self.tables[key] = entry

    @property
    def is_illustrative(self) -> bool:
        """True when any input is illustrative stand-in data."""
        return bool(self.illustrative)


Step = tuple[str, str, Callable[[Context, ProgressCallback | None], None]]


def _french_reasons(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its ``*_missing_reason`` cells in plain French.

    The engines give some reasons as machine codes (``zero``, ``no_mode_column``): the French
    wording (:func:`qpvgeo._format.reason_text`) replaces them and the codes move to a
    ``*_missing_code`` column beside, for scripts. Other cells (French already) are kept.
    """
    cols = [c for c in frame.columns if str(c).endswith("missing_reason")]
    todo = []
    for c in cols:
        vals = frame[c]
        codes = [str(v).strip() if is_reason_code(v) else None for v in vals]
        if any(x is not None for x in codes):
            todo.append((c, codes))
    if not todo:
        return frame
    out = frame.copy()
    for c, codes in todo:
        stem = str(c)[: -len("missing_reason")].rstrip("_")
        out[f"{stem}_missing_code" if stem else "missing_code"] = pd.Series(
            codes, index=out.index, dtype=object)
        out[c] = [reason_text(v, stem) for v in frame[c]]
    return out


def _source_of(df: Any) -> str | None:
    if isinstance(df, pd.DataFrame) and "source" in df.columns:
        vals = df["source"].dropna().astype(str).unique()
        return vals[0] if len(vals) == 1 else (", ".join(sorted(vals)) if len(vals) else None)
    return None


def _source_label(df: Any, default: str) -> str:
    """Return the source wording of a table: the layer's ``source``, else ``default``.

    Illustrative stand-ins say what they stand for (``ANCT, périmètres des QPV (données
    illustratives)``).
    """
    src = _source_of(df)
    if not src:
        return default
    return f"{default} (données illustratives)" if src == _validate.ILLUSTRATIVE else src


def _mark_illustrative(ctx: Context, key: str, df: Any) -> None:
    if isinstance(df, pd.DataFrame) and _validate.is_illustrative(df):
        ctx.illustrative.add(key)


def _prov(result: pd.DataFrame, default_source: str, default_method: str,
          default_vintage: str) -> tuple[str, str, str]:
    info = result.attrs.get("qpvgeo", {}) if hasattr(result, "attrs") else {}
    info = info if isinstance(info, Mapping) else {}
    src = str(info.get("source") or default_source)
    if src == _validate.ILLUSTRATIVE:
        src = f"{default_source} (données illustratives)"
    meth = str(info.get("method") or default_method)
    vint = str(info.get("vintage") or default_vintage)
    return src, vint, meth


def _module(name: str) -> Any | None:
    import importlib

    try:
        return importlib.import_module(f"qpvgeo.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"qpvgeo.{name}":
            return None
        raise


def _engines(
    ctx: Context, section: str, files: Sequence[str], missing: str, *modules: str
) -> tuple[Any, ...] | None:
    """The qpvgeo modules a step runs, or None after a note saying what is missing.

    ``files`` are the ``[fichiers]`` keys the step needs; when one is not configured the note
    is ``missing`` followed by ``([fichiers] key, ...)`` and nothing else is checked.
    """
    if not all(ctx.config.has(key) for key in files):
        ctx.note(section, f"{missing} ([fichiers] {', '.join(files)}).")
        return None
    found = tuple(_module(name) for name in modules)
    if any(m is None for m in found):
        names = " / ".join(f"qpvgeo.{name}" for name in modules)
        ctx.note(section, f"modules {names} indisponibles." if len(modules) > 1 else
                 f"module {names} indisponible.")
        return None
    return found


def _territory_polygon(ctx: Context) -> gpd.GeoDataFrame:
    """Return the territory as one polygon (EPCI, else union of communes, else union of QPV)."""
    cfg = ctx.config
    if "epci" in ctx.layers:
        epci = ctx.layers["epci"]
        if cfg.siren_epci and "siren_epci" in epci.columns:
            sel = epci.loc[epci["siren_epci"].astype(str) == cfg.siren_epci]
            if len(sel):
                epci = sel
        geom = epci.geometry.union_all()
    elif "communes" in ctx.layers:
        geom = ctx.layers["communes"].geometry.union_all()
    else:
        geom = ctx.layers["qpv"].geometry.union_all()
    return gpd.GeoDataFrame({"code": [TERRITORY_CODE], "nom": [cfg.name]}, geometry=[geom],
                            crs=_validate.LAMBERT93)


ALL_QPV_CODE = "ensemble_qpv"
ALL_QPV_NAME = "Ensemble des QPV"


def _all_qpv(ctx: Context) -> gpd.GeoDataFrame:
    """Return the union of the territory's QPV as one zone (index, code ``ensemble_qpv``)."""
    qpv = ctx.layers["qpv"]
    return gpd.GeoDataFrame({"code_qpv": [ALL_QPV_CODE], "nom_qpv": [ALL_QPV_NAME]},
                            geometry=[qpv.geometry.union_all()], crs=qpv.crs,
                            index=pd.Index([ALL_QPV_CODE], dtype=object))


def _all_qpv_value(values: pd.Series | None, qpv_zones: pd.DataFrame, *, flag: bool = False
                   ) -> pd.Series | None:
    """Sum a count over the QPV (missing if any QPV's is), or OR an estimate flag."""
    if values is None:
        return None
    part = values.loc[qpv_zones.index]
    if flag:
        v: Any = bool(part.fillna(False).astype(bool).any())
    else:
        v = float(part.sum()) if part.notna().all() else np.nan
    return pd.Series([v], index=pd.Index([ALL_QPV_CODE], dtype=object))


def _with_all_qpv(per_zone: pd.DataFrame, all_qpv: pd.DataFrame) -> pd.DataFrame:
    """Insert the all-QPV row before the territory row (the last one) of an engine result."""
    return pd.concat([per_zone.iloc[:-1], all_qpv, per_zone.iloc[-1:]])


def _zones(ctx: Context) -> gpd.GeoDataFrame:
    """QPV of the territory then one territory row (``code_qpv`` = "territoire")."""
    qpv = ctx.layers["qpv"][["code_qpv", "nom_qpv", "geometry"]]
    terr = ctx.layers["territoire"].rename(columns={"code": "code_qpv", "nom": "nom_qpv"})
    z = pd.concat([qpv, terr[["code_qpv", "nom_qpv", "geometry"]]], ignore_index=True)
    return gpd.GeoDataFrame(z, geometry="geometry", crs=qpv.crs)


def _qpv_zones(ctx: Context) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return the zones of :func:`_zones` and, among them, the QPV (territory row left out)."""
    zones = _zones(ctx)
    return zones, zones.loc[zones["code_qpv"] != TERRITORY_CODE]


def _qpv_and_all(ctx: Context, qpv_zones: gpd.GeoDataFrame, run: Callable[..., pd.DataFrame],
                 series: Sequence[tuple[str, pd.Series | None, bool]] = (), *,
                 quiet: bool = True,
                 progress: tuple[ProgressCallback | None, ProgressCallback | None] | None = None,
                 ) -> pd.DataFrame:
    """Run an engine on the QPV with its territory row, then on all the QPV as one zone.

    ``run(zones, **keywords)`` calls the engine with every argument but the zones and the
    per-zone ``series``: ``(keyword, values per zone of :func:`_zones`, is an estimate flag)``,
    given re-indexed on the QPV (:func:`_qpv_series`) to the first call and summed over the QPV
    (flags: any; :func:`_all_qpv_value`) to the second. ``progress``: the callbacks of the two
    calls. The second call's :class:`~qpvgeo.errors.DataQualityWarning` are muted when
    ``quiet`` (the first call said them). Returns the first result with the all-QPV row before
    its territory row (:func:`_with_all_qpv`).
    """
    first: dict[str, Any] = {key: _qpv_series(values, qpv_zones) for key, values, _ in series}
    second: dict[str, Any] = {key: _all_qpv_value(values, qpv_zones, flag=flag)
                              for key, values, flag in series}
    if progress is not None:
        first["progress"], second["progress"] = progress
    per_qpv = run(qpv_zones, territory_row=True, **first)
    with warnings.catch_warnings() if quiet else contextlib.nullcontext():
        if quiet:
            warnings.simplefilter("ignore", DataQualityWarning)
        whole = run(_all_qpv(ctx), **second)
    return _with_all_qpv(per_qpv, whole)


def _dwellings(ctx: Context) -> tuple[gpd.GeoDataFrame | None, str | None]:
    """Return the buildings layer and its dwellings column (``nb_logts``) when it has one.

    The dwellings weight the IRIS → QPV estimates and the population within reach.
    """
    buildings = ctx.layers.get("batiments")
    col = "nb_logts" if buildings is not None and "nb_logts" in buildings.columns else None
    return buildings, col


def _census_values(ctx: Context, column: str, flags: Sequence[str]
                   ) -> tuple[pd.Series | None, pd.Series | None]:
    """Return a column of the census table per zone of :func:`_zones`, and its estimate flag.

    The flag is the first of the columns ``flags`` present (``None`` when none is); both are
    ``None`` when the census table or the column is missing.
    """
    entry = ctx.tables.get("population")
    if entry is None or column not in entry.frame.columns:
        return None, None
    f = entry.frame.drop_duplicates("code_qpv").set_index("code_qpv")
    zones = _zones(ctx)
    vals = zones["code_qpv"].map(pd.to_numeric(f[column], errors="coerce")).astype(float)
    flag = next((c for c in flags if c in f.columns), None)
    est = None if flag is None else zones["code_qpv"].map(f[flag]).fillna(False).astype(bool)
    return vals, est


def _population(ctx: Context) -> tuple[pd.Series | None, pd.Series | None]:
    """Return the population per zone of :func:`_zones` (and its estimate flag) when computed."""
    return _census_values(ctx, "population", ("population_is_estimate", "is_estimate"))


def _qpv_series(values: pd.Series | None, qpv_zones: pd.DataFrame) -> pd.Series | None:
    """Re-index per-zone values of :func:`_zones` on the QPV zones plus "territory".

    The engines' ``territory_row`` reads the territory's denominator at that label.
    """
    if values is None:
        return None
    out = values.loc[qpv_zones.index].copy()
    out.index = out.index.astype(object)
    rest = values.loc[~values.index.isin(qpv_zones.index)]
    if len(rest):
        out.loc["territory"] = rest.iloc[0]
    return out


def _census_column(ctx: Context, key: str, part: str) -> tuple[pd.Series | None,
                                                               pd.Series | None]:
    """Return a census numerator or denominator per zone of :func:`_zones` and its flag.

    ``part`` is ``num`` or ``den`` (e.g. main residences = ``part_locataires_hlm_den``).
    """
    return _census_values(ctx, f"{key}_{part}", (f"{key}_is_estimate",))


def _with_keys_any(result: pd.DataFrame, zones: pd.DataFrame, territory_name: str
                   ) -> pd.DataFrame:
    """Put ``code_qpv``/``nom_qpv`` first in an engine result on zones of :func:`_zones`.

    Rows keep the zones' codes and names; aggregate rows (``territory``/``territoire``,
    ``ensemble_qpv``) get the territory's name and "Ensemble des QPV". RangeIndex.
    """
    out = pd.DataFrame(result).drop(columns=[c for c in ("geometry",) if c in result.columns])
    known = out.index.isin(zones.index)
    codes = pd.Series([str(i) for i in out.index], index=out.index, dtype=object)
    names = codes.copy()
    codes[known] = zones.loc[out.index[known], "code_qpv"].to_numpy()
    names[known] = zones.loc[out.index[known], "nom_qpv"].to_numpy()
    if "code_qpv" in out.columns:
        codes = out["code_qpv"].astype(object).where(out["code_qpv"].notna(), codes)
    if "nom_qpv" in out.columns:
        names = out["nom_qpv"].astype(object).where(out["nom_qpv"].notna(), names)
    names = names.where(~codes.isin([TERRITORY_CODE, "territory"]), territory_name)
    names = names.where(codes != ALL_QPV_CODE, ALL_QPV_NAME)
    codes = codes.where(~codes.isin(["territory"]), TERRITORY_CODE)
    out = out.drop(columns=[c for c in ("code_qpv", "nom_qpv") if c in out.columns])
    out.insert(0, "nom_qpv", names.to_numpy())
    out.insert(0, "code_qpv", codes.to_numpy())
    return out.reset_index(drop=True)

"""The main job: the portrait de territoire of the QPV, from one configuration to one folder.

:func:`run_portrait` reads a :class:`~qpvgeo.config.PortraitConfig` (or the demo territory),
loads the layers with :mod:`qpvgeo.io`, runs the engine steps with progress, gathers every
table with its provenance, and writes into ``out_dir``:

- ``carte.html`` — the folium web map (``assets/`` beside it with ``offline=True``);
- ``rapport.html`` — the French report (sections of a portrait de territoire);
- ``graphiques/*.png|svg`` — the charts;
- ``portrait.gpkg`` — QPV with all indicators, classified buildings, IRIS correspondence,
  with QGIS styles embedded in the ``layer_styles`` table;
- ``indicateurs.csv`` (long format: one row per zone × indicator, with unit, source, vintage,
  method and estimate flag) and ``indicateurs.xlsx`` (the same, one sheet per table, and a
  ``provenance`` sheet);
- ``resume.json`` — what was written, timings per step, notes and warnings.

**Atomic output.** Everything is written into a temporary folder beside ``out_dir`` and moved
into place at the very end; an error or an interruption leaves the previous output untouched
and no half-written folder. An existing ``out_dir`` is replaced only when it is empty or is a
previous portrait (it holds the marker file ``.qpvgeo-portrait``), so a mistyped ``--out``
never deletes a user's folder.

**Steps.** :data:`STEPS` lists the engine steps in order (``name``, French label, function).
Each takes the :class:`Context` and adds tables, layers, figures and notes to it; a step whose
input layers are absent from the configuration is skipped with a note in the report (a missing
optional layer is not an error). Re-running on the same inputs gives the same numbers (no
randomness; element ids of the map are deterministic).

1. load: every layer through :mod:`qpvgeo.io` (census bases given as several files are joined
   by :func:`merge_insee_tables`); the territory is the EPCI (else the communes); its QPV are
   those with at least :data:`MIN_TERRITORY_SHARE` of their area inside (or listing the EPCI):
   a QPV straddling two EPCI is counted whole. National point files are read for the
   territory's communes and those of its QPV (BPE: also the neighbours within walking reach);
2. QPV areas; 3. IRIS ↔ QPV correspondence and IRIS concerned (:mod:`qpvgeo.overlay`);
4. census and Filosofi indicators per QPV — official per-QPV values first, IRIS estimates
   (dasymetric on dwellings) elsewhere, each cell's origin kept and marked in the report —,
   territory, IRIS concerned and the summary table (:mod:`qpvgeo.indicators`);
5. gap evolution between the two census vintages for the QPV (2015 perimeters carried onto
   2024 ones with :func:`qpvgeo.overlay.crosswalk`) and for the IRIS concerned;
6. heat loss (:mod:`qpvgeo.thermography`); 7. social housing and housing quality;
8. health equipment and walking reach (street network when given); 9. SIRENE activity;
10. NPNRU view (codes from ``[options] npnru`` and the QPV layer's ``champ_npnru`` field).

Per-QPV tables end with an ``ensemble_qpv`` row (the union of the QPV as one zone) and a
``territoire`` row, both computed by the same engine call as the QPV. The charts are drawn by
forked processes while the steps go on and the exports are written; the web map too
(:data:`PARALLEL`).

**Layout.** This module holds the run itself (step order, progress, parallel jobs, atomic
output folder). The steps and outputs live in private modules by theme:
``_portrait_context`` (:class:`Context`, :class:`TableEntry`, zones and shared helpers),
``_portrait_load`` (steps 1–2), ``_portrait_census`` (3–4), ``_portrait_evolution`` (5),
``_portrait_housing`` (6–7), ``_portrait_health`` (8, collèges), ``_portrait_economy`` (9),
``_portrait_synthesis`` (NPNRU, summary tables), ``_portrait_exports`` (GeoPackage, CSV, XLSX,
web map), ``_portrait_charts`` and ``_portrait_report``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qpvgeo._atomic import usual_permissions
from qpvgeo._portrait_census import _territory_official as _territory_official
from qpvgeo._portrait_census import step_census, step_iris
from qpvgeo._portrait_charts import _CHART_STEMS, _CHARTS, _write_charts
from qpvgeo._portrait_context import ALL_QPV_CODE as ALL_QPV_CODE
from qpvgeo._portrait_context import ALL_QPV_NAME as ALL_QPV_NAME
from qpvgeo._portrait_context import TERRITORY_CODE as TERRITORY_CODE
from qpvgeo._portrait_context import Context, Step, TableEntry
from qpvgeo._portrait_economy import step_economy
from qpvgeo._portrait_evolution import step_evolution
from qpvgeo._portrait_exports import _write_csv_xlsx, _write_gpkg, _write_map
from qpvgeo._portrait_exports import qpv_indicator_layer as qpv_indicator_layer
from qpvgeo._portrait_health import WALKING_AREA_KINDS as WALKING_AREA_KINDS
from qpvgeo._portrait_health import (
    WALKING_AREAS_LABEL,
    _walking_areas_of,
    step_health,
    step_schools,
)
from qpvgeo._portrait_housing import step_housing, step_thermography
from qpvgeo._portrait_load import MIN_TERRITORY_SHARE as MIN_TERRITORY_SHARE
from qpvgeo._portrait_load import merge_insee_tables as merge_insee_tables
from qpvgeo._portrait_load import step_area, step_load
from qpvgeo._portrait_report import _write_report
from qpvgeo._portrait_synthesis import step_npnru, step_synthesis
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo._warnings_fr import french_warning
from qpvgeo.config import FILE_KEYS, PortraitConfig, demo_config
from qpvgeo.errors import InputFileError

# The ``X as X`` imports above keep names importable from qpvgeo.portrait, where they were
# defined before the steps moved to the private modules qpvgeo._portrait_*.

__all__ = [
    "STEPS",
    "Context",
    "PortraitResult",
    "TableEntry",
    "run_portrait",
]


MARKER = ".qpvgeo-portrait"
"""Marker file identifying a folder written by :func:`run_portrait` (safe to replace)."""


@dataclass
class PortraitResult:
    """What :func:`run_portrait` wrote.

    Attributes
    ----------
    out_dir
        The output folder.
    files
        Written files, relative to ``out_dir``.
    timings
        Seconds per step (French step labels), in run order.
    notes
        Sections skipped and why.
    warnings
        Warnings raised during the run (deduplicated text).
    tables
        Result tables by key (the same numbers as in the exports).
    illustrative
        Inputs include illustrative stand-in data.
    """

    out_dir: Path
    files: list[str]
    timings: dict[str, float]
    notes: dict[str, list[str]]
    warnings: list[str]
    tables: dict[str, pd.DataFrame]
    illustrative: bool


STEPS: list[Step] = [
    ("load", "Lecture des couches", step_load),
    ("qpv", "Quartiers", step_area),
    ("iris", "IRIS concernés par un QPV", step_iris),
    ("recensement", "Recensement et revenus", step_census),
    ("evolution", "Évolution des écarts", step_evolution),
    ("thermographie", "Déperditions thermiques", step_thermography),
    ("logement", "Logement social et qualité", step_housing),
    ("sante", "Équipements de santé", step_health),
    ("colleges", "Collèges", step_schools),
    ("economie", "Activité économique", step_economy),
    ("npnru", "NPNRU", step_npnru),
    ("synthese", "Tableaux de synthèse", step_synthesis),
]
"""Engine steps in run order: (name, French label, function(ctx, progress))."""


PARALLEL = True
"""Draw the charts and the web map in forked processes while the engine steps and the
exports go on (POSIX only; the result is the same as writing them in turn): the charts of
the census and evolution tables start as soon as those tables exist (after
:data:`EARLY_CHARTS_AFTER`), the other charts and the map once every step is done."""


EARLY_CHARTS_AFTER = "evolution"
"""Step after which the charts of the tables already computed start in a second process."""


def _job_child(func: Callable[[], Any], conn: Any) -> None:
    t0 = time.perf_counter()
    try:
        payload = func()
        conn.send(("ok", payload, time.perf_counter() - t0))
    except BaseException as exc:  # reported to the parent, which re-runs the work itself
        conn.send(("error", f"{type(exc).__name__}: {exc}", 0.0))
    finally:
        conn.close()


class _Job:
    """Work done by a forked process and collected with :meth:`result`.

    ``func`` takes no argument and returns a picklable payload. Without ``fork`` (or with
    :data:`PARALLEL` off) the work is done by :meth:`result` itself; when the process fails,
    :meth:`result` runs ``cleanup`` then ``func`` here, so that the error surfaces with its
    traceback.
    """

    def __init__(self, func: Callable[[], Any], cleanup: Callable[[], None] | None = None
                 ) -> None:
        import multiprocessing

        self.func, self.cleanup = func, cleanup
        self.proc: Any = None
        self.conn: Any = None
        if PARALLEL and "fork" in multiprocessing.get_all_start_methods():
            mp = multiprocessing.get_context("fork")
            recv, send = mp.Pipe(duplex=False)
            self.proc = mp.Process(target=_job_child, args=(func, send), daemon=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                self.proc.start()
            send.close()
            self.conn = recv

    def result(self) -> tuple[Any, float]:
        """Wait for the work; return its payload and the seconds it took."""
        if self.proc is not None:
            try:
                status, payload, seconds = self.conn.recv()
            except EOFError:
                status, payload, seconds = "error", "process ended", 0.0
            self.proc.join()
            self.proc = None
            if status == "ok":
                return payload, float(seconds)
            if self.cleanup is not None:
                self.cleanup()
        t0 = time.perf_counter()
        payload = self.func()
        return payload, time.perf_counter() - t0

    def cancel(self) -> None:
        """Stop the process (an error elsewhere ends the run)."""
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()
        self.proc = None


def _chart_job(ctx: Context, out: Path, keys: Sequence[str]) -> _Job:
    """Charts of the tables ``keys``; payload ``(files, {section: figures})``."""
    keys = list(keys)

    def work() -> tuple[list[str], dict[str, list[dict[str, str]]]]:
        ctx.figures = {}
        files = _write_charts(ctx, out, keys)
        return files, ctx.figures

    def cleanup() -> None:
        for f in (out / "graphiques").glob("*"):
            if any(f.stem.startswith(_CHART_STEMS.get(k, k)) for k in keys):
                f.unlink()

    return _Job(work, cleanup)


OUTPUTS: list[tuple[str, str]] = [
    ("exports", "Exports (GeoPackage, CSV, XLSX)"),
    ("carte", "Carte web"),
    ("graphiques", "Graphiques"),
    ("rapport", "Rapport HTML"),
]


# ---------------------------------------------------------------------------------------------
# atomic output folder
# ---------------------------------------------------------------------------------------------

def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputFileError(f"{out_dir}: exists and is not a folder; choose another --out")
        if any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
            raise InputFileError(
                f"{out_dir}: folder exists, is not empty and was not written by qpvgeo "
                "portrait; choose an empty or new folder for --out (nothing was deleted)")


@contextlib.contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir``; move it into place on success only."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        usual_permissions(tmp)  # mkdtemp creates 0700; its files are made as usual
        (tmp / MARKER).write_text("Dossier écrit par qpvgeo portrait ; il peut être remplacé "
                                  "par une nouvelle exécution.\n", encoding="utf-8")
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "previous")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _collect_warnings(ctx: Context) -> Iterator[Callable[[], None]]:
    """Record the warnings of the run into ``ctx.warnings`` (in French, deduplicated).

    The engines warn in English; each warning is listed as :func:`french_warning` words it
    (report, ``resume.json``, command line). Yields a function moving the warnings caught so
    far into ``ctx.warnings`` (called before the report is written, so that the report lists
    them); the rest are moved at the end.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def flush() -> None:
            for w in caught:
                text = french_warning(f"{w.category.__name__} : {w.message}")
                if text not in ctx.warnings:
                    ctx.warnings.append(text)
            caught.clear()

        yield flush
    flush()


# ---------------------------------------------------------------------------------------------
# main entry point
# ---------------------------------------------------------------------------------------------

def run_portrait(
    config: PortraitConfig | str | Path | None = None,
    out_dir: str | Path = "output/portrait",
    *,
    offline: bool = False,
    progress: ProgressCallback | None = None,
    step_progress: Callable[[str], ProgressCallback | None] | None = None,
) -> PortraitResult:
    """Compute the portrait de territoire and write its map, report, charts and exports.

    Parameters
    ----------
    config
        A :class:`~qpvgeo.config.PortraitConfig`, the path of a TOML configuration, or
        ``None`` for the embedded demo territory.
    out_dir
        Output folder, replaced atomically at the end (see the module docstring).
    offline
        Make the map self-contained (vendored Leaflet assets, no tiles, no CDN).
    progress
        Overall progress callback ``(fraction 0–1, French message)``.
    step_progress
        Optional factory giving a progress callback per step label (the CLI draws one bar
        per step); used instead of ``progress`` when given.

    Returns
    -------
    PortraitResult
        Files written, timings per step, notes, warnings and the result tables.

    Raises
    ------
    QpvgeoError
        Bad configuration or input (nothing is written; a previous output stays intact).
    """
    from qpvgeo.config import load_config

    if config is None:
        cfg = demo_config()
    elif isinstance(config, PortraitConfig):
        cfg = config
    else:
        cfg = load_config(config)
    out = Path(out_dir).expanduser().resolve()
    _check_replaceable(out)
    ctx = Context(config=cfg)
    timings: dict[str, float] = {}
    n_total = len(STEPS) + len(OUTPUTS)
    done = 0

    def _cb(label: str) -> ProgressCallback | None:
        if step_progress is not None:
            return step_progress(label)
        return scaled(progress, done / n_total, (done + 1) / n_total)

    files: list[str] = []
    with _collect_warnings(ctx) as flush_warnings, _staging(out) as tmp:
        jobs: list[_Job] = []
        chart_jobs: list[_Job] = []
        areas_job: _Job | None = None
        drawn: set[str] = set()
        try:
            for name, label, func in STEPS:
                t0 = time.perf_counter()
                func(ctx, _cb(label))
                timings[label] = time.perf_counter() - t0
                done += 1
                if name == EARLY_CHARTS_AFTER:
                    keys = [k for k in _CHARTS if k in ctx.tables]
                    drawn |= set(keys)
                    chart_jobs.append(_chart_job(ctx, tmp, keys))
                if name == "sante" and "zones_marche_params" in ctx.layers:
                    areas_job = _Job(lambda: _walking_areas_of(ctx))
                    jobs.append(areas_job)
            if ctx.is_illustrative:
                names = ([FILE_KEYS[k] for k in FILE_KEYS if k in ctx.illustrative]
                         or sorted(ctx.illustrative))  # layers derived from them not repeated
                ctx.methods.insert(0, "Données illustratives : les couches « "
                                   + " », « ".join(names)
                                   + " » sont des données fictives de démonstration (source "
                                   "« illustratif »).")
            chart_jobs.append(_chart_job(ctx, tmp, [k for k in _CHARTS
                                                    if k in ctx.tables and k not in drawn]))
            if areas_job is not None:
                t0 = time.perf_counter()
                ctx.layers["zones_marche"], timings[WALKING_AREAS_LABEL] = areas_job.result()
                timings["Attente : zones à pied"] = time.perf_counter() - t0
            map_job = _Job(lambda: _write_map(ctx, tmp, offline))
            jobs = [*jobs, *chart_jobs, map_job]
            for name, label in OUTPUTS:
                cb = _cb(label)
                report(cb, 0.0, label)
                t0 = time.perf_counter()
                seconds = None
                if name == "exports":
                    files += _write_gpkg(ctx, tmp)
                    files += _write_csv_xlsx(ctx, tmp)
                elif name == "carte":
                    map_files, seconds = map_job.result()
                    files += map_files
                elif name == "graphiques":
                    seconds = 0.0
                    for job in chart_jobs:
                        (chart_files, figures), job_seconds = job.result()
                        files += chart_files
                        for section, figs in figures.items():
                            ctx.figures.setdefault(section, []).extend(figs)
                        seconds += job_seconds
                elif name == "rapport":
                    flush_warnings()
                    files += _write_report(ctx, tmp, files)
                timings[label] = time.perf_counter() - t0
                if seconds is not None:
                    # done meanwhile by other processes: their own duration, and the wait here
                    timings[f"Attente : {label.split(' (')[0].lower()}"] = timings[label]
                    timings[label] = seconds
                report(cb, 1.0, label)
                done += 1
        finally:
            for job in jobs:
                job.cancel()
        flush_warnings()
        summary = {
            "territoire": cfg.name, "donnees_illustratives": ctx.is_illustrative,
            "fichiers": [*files, "resume.json"],
            "durees_s": {k: round(v, 3) for k, v in timings.items()},
            "notes": ctx.notes, "avertissements": ctx.warnings,
        }
        (tmp / "resume.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1),
                                         encoding="utf-8")
        files.append("resume.json")
    return PortraitResult(out_dir=out, files=files, timings=timings, notes=ctx.notes,
                          warnings=list(ctx.warnings),
                          tables={k: e.frame for k, e in ctx.tables.items()},
                          illustrative=ctx.is_illustrative)

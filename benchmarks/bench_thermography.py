"""Benchmark of the thermography engine against exactextract and rasterstats.

Generates seeded synthetic Lens-area cases (cached under ``benchmarks/_cache/``, git-ignored):
a classified heat-loss raster (uint8 classes 0–4, EPSG:2154, 20 km × 20 km) at 16 Mpx
(4000², 5 m pixels) and 100 Mpx (10000², 2 m pixels), 10k and 50k building footprints (rotated
rectangles clustered around 30 "towns") and 20 QPV-like zones. Each engine runs in its own
process (honest peak RSS) on the same job — per-polygon class fractions with coverage
weighting — and the script prints median seconds, peak RSS and the ratio to exactextract.

Usage::

    .venv/bin/python benchmarks/bench_thermography.py            # 16 and 100 Mpx, 10k and 50k
    .venv/bin/python benchmarks/bench_thermography.py --quick    # 16 Mpx only
    .venv/bin/python benchmarks/bench_thermography.py --big      # + 1 Gpx streaming case

Engines: ``qpvgeo-exact`` (class_fractions coverage="exact"), ``qpvgeo-centre``
(coverage="centre"), ``exactextract-rs`` (``exact_extract(ops=["unique", "frac"],
strategy="raster-sequential")``, its fastest strategy for many small polygons),
``exactextract`` (default ``strategy="feature-sequential"``; 10k buildings and zones only, it
takes minutes at 50k), ``rasterstats`` (``zonal_stats(categorical=True)``, pixel-centre rule;
10k case only) and, for information, ``qpvgeo-buildings`` (building_heat_loss end to end:
interior buffer, classes). Ratios are to the faster exactextract strategy of each case.
Timings include opening and reading the raster, not reading the vector file.
``--qgis-python .venv-qgis/bin/python`` adds the qpvgeo rows run in QGIS's Python (numpy 1.26).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / "_cache"
EXTENT = (680_000.0, 7_020_000.0, 700_000.0, 7_040_000.0)  # Lens-Liévin area, Lambert-93
SIZES = {"16Mpx": 4000, "100Mpx": 10000, "1Gpx": 32000}
NBUILD = {"10k": 10_000, "50k": 50_000}


# ----------------------------------------------------------------------------------------------
# Data generation (seeded, cached)
# ----------------------------------------------------------------------------------------------
def raster_path(size_key: str) -> Path:
    return CACHE / f"heatloss_{size_key}.tif"


def make_raster(size_key: str) -> Path:
    import rasterio
    from affine import Affine

    path = raster_path(size_key)
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    n = SIZES[size_key]
    res = (EXTENT[2] - EXTENT[0]) / n
    rng = np.random.default_rng(42)
    # coarse 40 m classes (blocky structure) with 30 % pixel noise; 0 = not measured
    coarse_n = int((EXTENT[2] - EXTENT[0]) / 40)
    coarse = rng.choice(np.arange(5, dtype=np.uint8), size=(coarse_n, coarse_n),
                        p=[0.05, 0.25, 0.3, 0.25, 0.15])
    tmp = path.with_suffix(".tmp.tif")
    profile = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint8",
               "crs": "EPSG:2154", "transform": Affine(res, 0.0, EXTENT[0], 0.0, -res, EXTENT[3]),
               "nodata": 255, "tiled": True, "blockxsize": 512, "blockysize": 512,
               "BIGTIFF": "YES"}
    strip = 1024
    with rasterio.open(tmp, "w", **profile) as dst:
        from rasterio.windows import Window

        for r0 in range(0, n, strip):
            r1 = min(n, r0 + strip)
            rows = ((np.arange(r0, r1) + 0.5) * res / 40).astype(int)
            cols = ((np.arange(n) + 0.5) * res / 40).astype(int)
            block = coarse[np.ix_(rows, cols)]
            noise = rng.random(block.shape) < 0.3
            block[noise] = rng.integers(0, 5, int(noise.sum()), dtype=np.uint8)
            dst.write(block, 1, window=Window(0, r0, n, r1 - r0))
    tmp.rename(path)
    return path


def buildings_path(nb_key: str) -> Path:
    return CACHE / f"buildings_{nb_key}.gpkg"


def make_buildings(nb_key: str) -> Path:
    import geopandas as gpd
    import shapely

    path = buildings_path(nb_key)
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    n = NBUILD[nb_key]
    rng = np.random.default_rng(7)
    towns = rng.uniform([EXTENT[0] + 1500, EXTENT[1] + 1500],
                        [EXTENT[2] - 1500, EXTENT[3] - 1500], size=(30, 2))
    which = rng.integers(0, 30, n)
    centre = towns[which] + rng.normal(0, 900, size=(n, 2))
    centre[:, 0] = np.clip(centre[:, 0], EXTENT[0] + 50, EXTENT[2] - 50)
    centre[:, 1] = np.clip(centre[:, 1], EXTENT[1] + 50, EXTENT[3] - 50)
    w = rng.uniform(6, 20, n)
    h = rng.uniform(6, 15, n)
    ang = rng.uniform(0, np.pi, n)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    local = corners[None, :, :] * np.stack([w, h], axis=1)[:, None, :]
    cos, sin = np.cos(ang)[:, None], np.sin(ang)[:, None]
    xs = centre[:, 0:1] + local[:, :, 0] * cos - local[:, :, 1] * sin
    ys = centre[:, 1:2] + local[:, :, 0] * sin + local[:, :, 1] * cos
    geoms = shapely.polygons(np.stack([xs, ys], axis=2))
    gdf = gpd.GeoDataFrame({"building_id": [f"BAT{i:06d}" for i in range(n)]},
                           geometry=geoms, crs="EPSG:2154")
    gdf.to_file(path, driver="GPKG")
    return path


def zones_path() -> Path:
    return CACHE / "zones_20.gpkg"


def make_zones() -> Path:
    import geopandas as gpd
    import shapely

    path = zones_path()
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    rng = np.random.default_rng(11)
    polys = []
    for _ in range(20):
        c = rng.uniform([EXTENT[0] + 2000, EXTENT[1] + 2000], [EXTENT[2] - 2000, EXTENT[3] - 2000])
        k = 12
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(250, 700, k)
        polys.append(shapely.Polygon(np.c_[c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)]))
    gdf = gpd.GeoDataFrame({"code_qpv": [f"QN06299{chr(65 + i)}" for i in range(20)]},
                           geometry=polys, crs="EPSG:2154")
    gdf.to_file(path, driver="GPKG")
    return path


# ----------------------------------------------------------------------------------------------
# One engine run (in a child process)
# ----------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_engine(engine: str, raster: str, vector: str, repeats: int) -> dict:
    import geopandas as gpd

    gdf = gpd.read_file(vector)
    import rasterio  # noqa: F401  (import cost outside the timing, as for every engine)

    if engine.startswith("qpvgeo"):
        from qpvgeo import thermography as th
    elif engine.startswith("exactextract"):
        from exactextract import exact_extract
    elif engine == "rasterstats":
        from rasterstats import zonal_stats
    base_rss = _peak_rss_mb()
    times = []
    checksum = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        if engine == "qpvgeo-exact":
            res = th.class_fractions(raster, gdf, coverage="exact")
            checksum = float(np.nansum(res[[c for c in res.columns if isinstance(c, int)]]
                                       .to_numpy()))
        elif engine == "qpvgeo-centre":
            res = th.class_fractions(raster, gdf, coverage="centre")
            checksum = float(np.nansum(res[[c for c in res.columns if isinstance(c, int)]]
                                       .to_numpy()))
        elif engine == "qpvgeo-buildings":
            res = th.building_heat_loss(raster, gdf)
            checksum = float(res["heatloss_class"].notna().sum())
        elif engine in ("exactextract", "exactextract-rs"):
            strategy = "raster-sequential" if engine == "exactextract-rs" else \
                "feature-sequential"
            res = exact_extract(raster, gdf, ["unique", "frac"], output="pandas",
                                strategy=strategy)
            checksum = float(sum(float(np.sum(f)) for f in res["frac"]))
        elif engine == "rasterstats":
            res = zonal_stats(gdf, raster, categorical=True, nodata=255)
            checksum = float(len(res))
        else:
            raise ValueError(engine)
        times.append(time.perf_counter() - t0)
        del res
    return {"engine": engine, "median_s": float(np.median(times)), "times": times,
            "peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base_rss, "checksum": checksum}


def child(engine: str, raster: Path, vector: Path, repeats: int, python: str | None = None,
          label: str | None = None) -> dict:
    cmd = [python or sys.executable, __file__, "--child", engine, str(raster), str(vector),
           str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"engine": label or engine, "error": out.stderr.strip().splitlines()[-1:]}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["engine"] = label or engine
    return res


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------
def machine() -> str:
    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import psutil

    mem = psutil.virtual_memory().total / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GB RAM, {platform.platform()}, "
            f"Python {platform.python_version()}, load average {load[0]:.2f} {load[1]:.2f} "
            f"{load[2]:.2f}")


def print_rows(title: str, rows: list[dict]) -> None:
    """Print one table; ratios are to the faster exactextract strategy of the case."""
    refs = [r for r in rows if str(r.get("engine", "")).startswith("exactextract")
            and "median_s" in r]
    ref = min(refs, key=lambda r: r["median_s"]) if refs else None
    print(f"\n{title}")
    print(f"  {'engine':26s} {'median s':>9s} {'peak RSS MB':>12s} {'ratio to best ee':>17s}"
          f"  runs (s)")
    for r in rows:
        if "error" in r:
            print(f"  {r['engine']:26s} ERROR {r['error']}")
            continue
        ratio = f"{r['median_s'] / ref['median_s']:.2f}" if ref else "-"
        runs = ", ".join(f"{t:.2f}" for t in r["times"])
        print(f"  {r['engine']:26s} {r['median_s']:9.2f} {r['peak_rss_mb']:12.0f} {ratio:>17s}"
              f"  [{runs}]")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="16 Mpx only")
    p.add_argument("--sizes", default="16Mpx,100Mpx",
                   help="comma-separated raster sizes of the main cases ('' for none)")
    p.add_argument("--big", action="store_true", help="add the 1 Gpx streaming case")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", default="qpvgeo-exact,qpvgeo-centre,exactextract-rs,"
                   "exactextract,rasterstats,qpvgeo-buildings")
    p.add_argument("--qgis-python", metavar="PYTHON",
                   help="also run qpvgeo with this interpreter (e.g. .venv-qgis/bin/python: "
                   "QGIS's Python, numpy 1.26)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        engine, raster, vector, repeats = args.child
        print(json.dumps(run_engine(engine, raster, vector, int(repeats))))
        return 0
    engines = args.engines.split(",")
    print("qpvgeo thermography benchmark")
    print("machine:", machine())
    sizes = ["16Mpx"] if args.quick else [v for v in args.sizes.split(",") if v]
    for size in sizes:
        rpath = make_raster(size)
        for nb in NBUILD:
            bpath = make_buildings(nb)
            rows = []
            for eng in engines:
                if eng in ("rasterstats", "exactextract") and nb != "10k":
                    continue  # minutes per run at 50k (see README)
                reps = 1 if eng in ("rasterstats", "exactextract") else args.repeats
                rows.append(child(eng, rpath, bpath, reps))
            if args.qgis_python:
                for eng in ("qpvgeo-exact", "qpvgeo-centre", "qpvgeo-buildings"):
                    rows.append(child(eng, rpath, bpath, args.repeats, args.qgis_python,
                                      f"{eng} (QGIS Python)"))
            print_rows(f"{size} raster, {nb} buildings (load {os.getloadavg()[0]:.2f})", rows)
        zpath = make_zones()
        rows = [child(e, rpath, zpath, args.repeats)
                for e in ("qpvgeo-exact", "qpvgeo-centre", "exactextract", "exactextract-rs")]
        print_rows(f"{size} raster, 20 QPV-like zones (load {os.getloadavg()[0]:.2f})", rows)
    if args.big:
        print("\ngenerating the 1 Gpx raster (cached) ...", flush=True)
        rpath = make_raster("1Gpx")
        bpath = make_buildings("50k")
        rows = [child(e, rpath, bpath, 1) for e in ("qpvgeo-exact", "qpvgeo-centre",
                                                    "exactextract-rs")]
        print_rows(f"1Gpx raster (32000², 62.5 cm, {rpath.stat().st_size / 2**30:.1f} GiB on "
                   f"disk), 50k buildings (load {os.getloadavg()[0]:.2f})", rows)
        zpath = make_zones()
        rows = [child(e, rpath, zpath, 1) for e in ("qpvgeo-exact", "qpvgeo-centre",
                                                    "exactextract", "exactextract-rs")]
        print_rows(f"1Gpx raster, 20 QPV-like zones (load {os.getloadavg()[0]:.2f})", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

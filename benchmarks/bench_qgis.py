"""Benchmark: "Déperditions thermiques par bâtiment" vs QGIS's native:zonalhistogram.

Both run as whole ``qgis_process.bin`` processes (start-up included, as a user or a script
would call them) on the same layers: the seeded synthetic cases of
``benchmarks/bench_thermography.py`` (classified uint8 raster 16 Mpx or 100 Mpx, EPSG:2154;
50,000 building footprints in a GeoPackage), output to a GeoPackage, a FlatGeobuf, a shapefile
and a memory layer (``TEMPORARY_OUTPUT``, not saved). qpvgeo uses exact pixel
coverage on each roof interior (1 m inner buffer) and classifies every building;
native:zonalhistogram counts the pixels whose centre falls in each footprint, per class.
The plugin zip is built and installed in a temporary QGIS profile; Python packages come from
the QGIS-safe site of ``scripts/qgis_env.py`` then ``.venv-qgis``.

Runs alternate (native, qpvgeo, native, …) to spread the load of a shared machine; the script
prints the median and min wall time, the peak memory of each process, the load average, and
a sanity figure: the share of buildings whose majority class agrees between the two (they
differ by design — pixel centres on the whole footprint vs exact coverage of the interior).

Usage::

    .venv/bin/python benchmarks/bench_qgis.py            # 16 and 100 Mpx, every output
    .venv/bin/python benchmarks/bench_qgis.py --quick    # 16 Mpx only
    .venv/bin/python benchmarks/bench_qgis.py --repeats 5 --outputs gpkg,memory
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE))
import qgis_env  # noqa: E402


def run_timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Run a process; return (wall seconds, peak RSS MB, output) — per-process rusage."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({proc.returncode}):\n{out[-3000:]}")
    return wall, usage.ru_maxrss / 1024, out


def majority_agreement(native_out: Path, qpvgeo_out: Path) -> tuple[int, int, float]:
    """(features native, features qpvgeo, share of classified buildings with the same class)."""
    import numpy as np
    import pyogrio

    def read(path: Path):
        layers = [n for n, _ in pyogrio.list_layers(path) if n != "layer_styles"]
        frame = pyogrio.read_dataframe(path, layer=layers[0], read_geometry=False)
        # a shapefile cuts field names at 10 characters
        return frame.rename(columns={"classe_dep": "classe_deperdition"})

    nat = read(native_out)
    ours = read(qpvgeo_out)
    cols = [c for c in nat.columns if c.startswith("HISTO_") and c[6:].isdigit()
            and int(c[6:]) in (1, 2, 3, 4)]
    counts = nat[cols].fillna(0).to_numpy(dtype=float)
    has = counts.sum(axis=1) > 0
    nat_class = np.array([int(c[6:]) for c in cols])[counts.argmax(axis=1)]
    merged = ours["classe_deperdition"].to_numpy(dtype=float)
    both = has & ~np.isnan(merged)
    same = float((nat_class[both] == merged[both]).mean()) if both.any() else float("nan")
    return len(nat), len(ours), same


# output kinds: file extension (or "memory") -> name printed
OUTPUTS = {"gpkg": "GeoPackage", "fgb": "FlatGeobuf", "shp": "Shapefile", "memory": "memory"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 Mpx case only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--outputs", default=",".join(OUTPUTS),
                        help="comma-separated output kinds among " + ", ".join(OUTPUTS))
    args = parser.parse_args(argv)
    try:
        import bench_thermography as cases
    except ImportError as exc:
        print(f"bench_qgis: the case generator benchmarks/bench_thermography.py is needed ({exc})")
        return 2
    if not Path(qgis_env.QGIS_PROCESS).exists():
        print(f"bench_qgis: {qgis_env.QGIS_PROCESS} not found (install QGIS)")
        return 2
    site_dir = qgis_env.compatible_site()
    sizes = ["16Mpx"] if args.quick else ["16Mpx", "100Mpx"]
    vector = cases.make_buildings("50k")
    with tempfile.TemporaryDirectory(prefix="bench_qgis_") as tmp_name:
        tmp = Path(tmp_name)
        profiles = tmp / "profiles"
        qgis_env.install_plugin(profiles, tmp / "qpvgeo_plugin.zip")
        env = qgis_env.qgis_process_env(profiles, site_dir)
        qp = qgis_env.QGIS_PROCESS

        def destination(who: str, ext: str) -> str:
            return "TEMPORARY_OUTPUT" if ext == "memory" else str(tmp / f"{who}.{ext}")
        print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores; QGIS via {qp}")
        formats = [(ext, OUTPUTS[ext]) for ext in args.outputs.split(",")]
        for size in sizes:
            raster = cases.make_raster(size)
            for ext, fmt in formats:
                jobs = {
                    "native:zonalhistogram": [
                        qp, "run", "native:zonalhistogram", "--", f"INPUT_RASTER={raster}",
                        "RASTER_BAND=1", f"INPUT_VECTOR={vector}", "COLUMN_PREFIX=HISTO_",
                        f"OUTPUT={destination('native', ext)}"],
                    "qpvgeo:building_heat_loss": [
                        qp, "run", "qpvgeo:building_heat_loss", "--", f"RASTER={raster}",
                        f"BUILDINGS={vector}", f"OUTPUT={destination('qpvgeo', ext)}"],
                }
                times: dict[str, list[float]] = {k: [] for k in jobs}
                rss: dict[str, float] = dict.fromkeys(jobs, 0.0)
                load0 = os.getloadavg()[0]
                for _ in range(args.repeats):
                    for name, cmd in jobs.items():
                        if ext != "memory":
                            out = Path(cmd[-1].split("=", 1)[1])
                            for old in out.parent.glob(out.stem + ".*"):
                                old.unlink()  # a shapefile is several files
                        wall, peak, _ = run_timed(cmd, env, tmp)
                        times[name].append(wall)
                        rss[name] = max(rss[name], peak)
                load1 = os.getloadavg()[0]
                print(f"\n{size} raster, 50k buildings, {fmt} output — {args.repeats} runs each, "
                      f"load average {load0:.2f} → {load1:.2f}")
                print(f"  {'process':28s} {'median s':>9s} {'min s':>7s} {'peak MB':>8s}")
                for name in jobs:
                    print(f"  {name:28s} {statistics.median(times[name]):9.2f} "
                          f"{min(times[name]):7.2f} {rss[name]:8.0f}")
                ratio = (statistics.median(times["qpvgeo:building_heat_loss"])
                         / statistics.median(times["native:zonalhistogram"]))
                if ext == "memory":  # nothing saved to compare
                    print(f"  ratio qpvgeo / native (median): {ratio:.2f}")
                    continue
                n_nat, n_ours, same = majority_agreement(Path(destination("native", ext)),
                                                         Path(destination("qpvgeo", ext)))
                print(f"  ratio qpvgeo / native (median): {ratio:.2f}; features {n_nat} / "
                      f"{n_ours}; same majority class for {same:.1%} of buildings classed by "
                      "both")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A landing sensor's tick with 100 vs 10,000 files present: time, Python peak memory, peak RSS, cursor bytes.

`new`: the high-water mark (`lib/landing_scan.py`); `old`: the scan before it, which kept every file in the
cursor (its source is read from git, `--old-from <commit>`). Each case runs in its own process, so peak RSS
is that tick's process; a steady tick finds nothing new, a busy one 10 new files. Local folder only.
Usage: python benchmarks/sensor_ticks.py [--old-from d430c26~1]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from statistics import median

MARGIN = 1.0


def land(folder: Path, first: int, count: int) -> None:
    for i in range(first, first + count):
        (folder / f"drop-{i:06d}.csv").write_text(f"a,b\n{i},x\n")


def case(scheme: str, files: int, new: int, old_source: str | None) -> dict:
    from upath import UPath

    if scheme == "old":
        namespace: dict = {}
        exec(compile(old_source, "old_landing_scan", "exec"), namespace)
        from ml_platform.lib.landing import landed_files

        def tick(folder, cursor):
            found = namespace["scan"](landed_files(folder), namespace["LandingState"].parse(cursor))
            return found.state.dump()
    else:
        from ml_platform.lib.landing_scan import LandingState, scan

        def tick(folder, cursor):
            return scan(folder, "*", LandingState.parse(cursor), MARGIN).state.dump()
    with tempfile.TemporaryDirectory() as tmp:
        folder = UPath(tmp)
        land(Path(tmp), 0, files)
        time.sleep(MARGIN + 0.5)
        cursor = tick(folder, None)
        times, peaks, rss_before = [], [], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for round_ in range(6):  # the last round under tracemalloc (it slows the tick), for the peak only
            land(Path(tmp), files + round_ * new, new)
            time.sleep(MARGIN + 0.5 if new else 0)
            if round_ == 5:
                tracemalloc.start()
            started = time.perf_counter()
            cursor = tick(folder, cursor)
            (times if round_ < 5 else []).append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"scheme": scheme, "files": files, "new": new, "tick_ms": round(median(times) * 1000, 1),
            "python_peak_kib": round(max(peaks) / 1024), "peak_rss_mib": round(rss / 1024),
            "rss_growth_kib": rss - rss_before, "cursor_bytes": len(cursor)}


def main() -> None:
    old_from = sys.argv[sys.argv.index("--old-from") + 1] if "--old-from" in sys.argv else None
    if "--case" in sys.argv:
        scheme, files, new = sys.argv[sys.argv.index("--case") + 1].split(":")
        source = sys.stdin.read() if scheme == "old" else None
        print(json.dumps(case(scheme, int(files), int(new), source)))
        return
    source = subprocess.run(["git", "show", f"{old_from}:ml_platform/lib/landing_scan.py"], capture_output=True,
                            text=True, check=True).stdout if old_from else ""
    for scheme in ["new", *(["old"] if old_from else [])]:
        for files in (100, 10_000):
            for new in (0, 10):
                out = subprocess.run([sys.executable, __file__, "--case", f"{scheme}:{files}:{new}"], input=source,
                                     capture_output=True, text=True, check=True).stdout
                print(out.strip())


if __name__ == "__main__":
    main()

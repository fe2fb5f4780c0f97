"""CSV export of 1,000,000 events (peak RSS) and the newest-200 timeline of a large session.

    python bench/bench_export.py [EVENTS] [TIMELINE_MB]

Targets (issue 5): CSV export of 1,000,000 events with peak RSS <= 100 MB; the newest-200
timeline of a 1 GB session in <= 150 ms (no full scan). The session is generated through
the real journal, first EVENTS events for the export, then grown to TIMELINE_MB for the
timeline. Predecessor: its timeline request on 1,000,000 events took 15.9 s and 1.6 GB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_summary import generate

TARGET_CSV_RSS_MB = 100.0
TARGET_TIMELINE_MS = 150.0
PREDECESSOR_TIMELINE_S = 15.9
PREDECESSOR_RSS_MB = 1600.0

CSV_CHILD = """
import json, sys, time
from peaktrade import create_app
app = create_app({"log_dir": sys.argv[1], "demo": {"enabled": False}})
client = app.test_client()
start = time.perf_counter()
response = client.get("/api/telemetry?session_id=bench&format=csv", buffered=False)
size = lines = 0
for chunk in response.response:
    size += len(chunk)
    lines += chunk.count("\\n") if isinstance(chunk, str) else chunk.count(b"\\n")
response.close()
print(json.dumps({"elapsed": time.perf_counter() - start, "bytes": size, "lines": lines,
                  "status": response.status_code}))
"""

TIMELINE_CHILD = """
import json, statistics, sys, time
from peaktrade import create_app
app = create_app({"log_dir": sys.argv[1], "demo": {"enabled": False}})
client = app.test_client()
out = {}
for name, url in (("api", "/api/live/execution/bench?limit=200"),
                  ("api_fills", "/api/live/execution/bench?limit=200&kind=fill"),
                  ("page", "/live/execution/bench?limit=200")):
    times = []
    for _ in range(7):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    out[name] = {"first_ms": times[0], "median_ms": statistics.median(times)}
print(json.dumps(out))
"""


def run_child(code: str, root: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", code, str(root)], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    timeline_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 1000.0
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        generate(root, events)
        print(f"generated {events:,} events in {time.perf_counter() - started:.1f} s")
        csv_run = run_child(CSV_CHILD, root)
        csv_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"CSV export: {csv_run['lines'] - 1:,} rows, {csv_run['bytes'] / 1e6:,.0f} MB "
              f"in {csv_run['elapsed']:.1f} s, peak RSS {csv_rss:.0f} MB (target <= "
              f"{TARGET_CSV_RSS_MB:.0f} MB: {'met' if csv_rss <= TARGET_CSV_RSS_MB else 'NOT met'}"
              f"; predecessor {PREDECESSOR_RSS_MB:.0f} MB, {PREDECESSOR_RSS_MB / csv_rss:.0f}x "
              f"less)")
        path = root / "bench.jsonl"
        day = 1
        while path.stat().st_size < timeline_mb * 1e6:
            grow = int((timeline_mb * 1e6 - path.stat().st_size) / 450) + 1
            generate(root, grow, first_intent=day * 10_000_000, day=day)
            day += 1
        size_mb = path.stat().st_size / 1e6
        timeline = run_child(TIMELINE_CHILD, root)
    for name, label in (("api", "newest-200 timeline, JSON API"),
                        ("api_fills", "newest-200 fills, JSON API"),
                        ("page", "newest-200 timeline, HTML page")):
        figure = timeline[name]["median_ms"]
        print(f"{label} of a {size_mb:,.0f} MB session: median {figure:.1f} ms, first "
              f"{timeline[name]['first_ms']:.1f} ms (target <= {TARGET_TIMELINE_MS:.0f} ms: "
              f"{'met' if figure <= TARGET_TIMELINE_MS else 'NOT met'}; predecessor "
              f"{PREDECESSOR_TIMELINE_S} s, {PREDECESSOR_TIMELINE_S * 1000 / figure:.0f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

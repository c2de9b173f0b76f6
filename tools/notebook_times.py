"""Wall-clock time of each notebook's committed full run, read from its cells' execution records
(nbclient stores when each cell started and finished). Usage: python tools/notebook_times.py"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import notebook_paths  # noqa: E402  (the series' order: numbered notebooks, then appendices)


def run_seconds(path: Path) -> float | None:
    """Seconds from the first cell's start to the last cell's end, or None without execution records."""
    stamps = []
    for cell in json.loads(path.read_text())["cells"]:
        ex = cell.get("metadata", {}).get("execution", {})
        for key in ("iopub.execute_input", "shell.execute_reply"):
            if key in ex:
                stamps.append(dt.datetime.fromisoformat(ex[key].replace("Z", "+00:00")))
    return (max(stamps) - min(stamps)).total_seconds() if stamps else None


def human(seconds: float) -> str:
    """``85.4`` -> ``1 min 25 s``; under a minute ``42 s``."""
    s = int(round(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def main() -> int:
    for path in notebook_paths(ROOT):
        sec = run_seconds(path)
        print(f"{path.name}: {human(sec) if sec is not None else 'no execution records'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

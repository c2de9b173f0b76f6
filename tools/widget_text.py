"""Replace the text shown for a committed widget output (its ``repr``) by what ``FigureApp.__repr__`` now
returns, so pages without a kernel show a sentence instead of ``FigureApp(children=...)``.
Usage: python tools/widget_text.py (rewrites notebooks/*.ipynb in place; outputs otherwise untouched)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dflib.teach.widgets import WIDGET_TEXT  # noqa: E402


def main() -> int:
    paths = [Path(a) for a in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        nb, n = json.loads(path.read_text()), 0
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data and "".join(data.get("text/plain", "")).startswith("FigureApp("):
                    data["text/plain"] = [WIDGET_TEXT]
                    n += 1
        if n:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"{path.name}: {n} widget output(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

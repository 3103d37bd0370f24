"""Open a bench folder's Space in headless Chromium and read what a visitor sees: the Alignment tab's 2x2 table of
each unlearned model on the forget set (the off-diagonal cells are the modality misalignment UMU-Bench exists to
show) and the Leaderboard tab's per-modality tables and trajectory plot; screenshots of both tabs.

    python benchmarks/space_check.py --bench-dir umu-bench-out --out /tmp/space-check

Needs Debian's Chromium (``apt-get install chromium``) and playwright (a dev dependency). Prints, per model, the
forget-set 2x2 rows as the page shows them, and whether any off-diagonal cell ("only unimodal", "only multimodal")
is non-zero; writes ``alignment.png``, ``leaderboard.png`` and ``check.json`` into ``--out`` (the Alignment picture shows the first model with a misaligned pair). Exits 1 when no
method shows a non-zero off-diagonal cell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from playwright.sync_api import expect, sync_playwright

    from umu_hf.space.app import build_app, launch
    from umu_hf.space.logic import BenchSpace

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "alignment.png").unlink(missing_ok=True)
    space = BenchSpace(args.bench_dir, device="cpu")
    methods = [e.name for e in space.manifest.models if e.method]
    demo = build_app(args.bench_dir, device="cpu")
    _app, url, _ = launch(demo, port=None, prevent_thread_lock=True, quiet=True)
    seen: dict[str, list[list[str]]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, timeout=60_000)
            page.get_by_role("tab", name="Alignment").click()
            for method in methods:
                page.get_by_label("After: model B", exact=True).click()
                page.get_by_role("option", name=method, exact=True).click()
                expect(page.locator("#alignment-note-b")).to_contain_text(method, timeout=60_000)
                table = page.locator("#alignment-b")
                expect(table).to_contain_text("only multimodal")
                seen[method] = _rows(table.inner_text())
                if _off_diagonal(seen[method]) and not (out / "alignment.png").exists():
                    page.keyboard.press("Escape")
                    page.wait_for_timeout(800)  # let the dropdown close before the picture
                    page.screenshot(path=str(out / "alignment.png"), full_page=True)
            page.get_by_role("tab", name="Leaderboard").click()
            expect(page.locator("#leaderboard-details")).to_contain_text("Selectivity")
            page.screenshot(path=str(out / "leaderboard.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
    off_diagonal = {m: _off_diagonal(rows) for m, rows in seen.items()}
    report = {"bench": str(args.bench_dir), "alignment_rows": seen, "non_zero_off_diagonal": off_diagonal}
    (out / "check.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    for method, rows in seen.items():
        print(f"{method}: " + " | ".join(" ".join(r) for r in rows) + f"  off-diagonal > 0: {off_diagonal[method]}")
    return 0 if any(off_diagonal.values()) else 1


def _rows(text: str) -> list[list[str]]:
    """The data rows of a rendered 2x2 table (its text: the header cells down to "both wrong", then six cells a
    row: task, question pairs, both right, only unimodal, only multimodal, both wrong)."""
    cells = [c.strip() for c in text.splitlines() if c.strip()]
    body = cells[cells.index("both wrong") + 1 :] if "both wrong" in cells else []
    return [body[i : i + 6] for i in range(0, len(body) - 5, 6)]


def _off_diagonal(rows: list[list[str]]) -> bool:
    """Whether any "only unimodal" or "only multimodal" cell of the rows holds a question pair."""
    return any(_count(r[3]) > 0 or _count(r[4]) > 0 for r in rows if len(r) >= 6)


def _count(cell: str) -> int:
    """The count of a ``"3 (10.0%)"`` cell."""
    try:
        return int(cell.split()[0])
    except (ValueError, IndexError):
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fail unless line+branch coverage is at least the bar overall and for every package.

A package is each directory of the source tree holding an ``__init__.py``; its figure counts the
modules directly in it (sub-packages are judged on their own).

Usage: python tools/coverage_check.py COVERAGE_JSON SRC_DIR BAR
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def main(argv: list[str]) -> int:
    report_path, src, bar_text = argv
    bar = float(bar_text)
    report = json.loads(Path(report_path).read_text())
    root = Path(src).resolve()
    packages = sorted(p.parent for p in root.rglob("__init__.py"))
    totals: dict[Path, list[int]] = defaultdict(lambda: [0, 0])  # covered, measurable
    seen: set[Path] = set()
    for name, data in report["files"].items():
        path = Path(name).resolve()
        if root not in path.parents:
            continue
        seen.add(path)
        s = data["summary"]
        covered = s["covered_lines"] + s.get("covered_branches", 0)
        measurable = s["num_statements"] + s.get("num_branches", 0)
        totals[path.parent][0] += covered
        totals[path.parent][1] += measurable
    missing = [p for p in root.rglob("*.py") if p.resolve() not in seen]
    failed = False
    if missing:
        # A module no test imports is 0% covered, not absent.
        for path in missing:
            print(f"coverage: {path.relative_to(root.parent)} was never imported by a test")
        failed = True
    overall_cov = sum(c for c, _ in totals.values())
    overall_all = sum(m for _, m in totals.values())
    print(f"{'package':<40} {'line+branch':>12}")
    for package in packages:
        covered, measurable = totals.get(package, [0, 0])
        pct = 100.0 * covered / measurable if measurable else 100.0
        mark = "" if pct >= bar else f"   < {bar:.0f}%"
        failed |= pct < bar
        print(f"{package.relative_to(root.parent)!s:<40} {pct:>11.1f}%{mark}")
    pct = 100.0 * overall_cov / overall_all if overall_all else 0.0
    failed |= pct < bar
    print(f"{'overall':<40} {pct:>11.1f}%{'' if pct >= bar else f'   < {bar:.0f}%'}")
    if failed:
        print(f"coverage check FAILED (bar: {bar:.0f}% line+branch, overall and per package)")
        return 1
    print(f"coverage check passed (bar: {bar:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""List every requirement: `python -m conformance requirements [--json] [--area A] [--level L]`."""

from __future__ import annotations

import argparse
import json
import sys

from conformance.suite.requirements import REGISTRY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance requirements", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--area", help="only this area")
    parser.add_argument("--level", choices=["MUST", "SHOULD", "MAY"], help="only this level")
    args = parser.parse_args(argv)
    reqs = [r for r in REGISTRY if (not args.area or r.area == args.area)
            and (not args.level or r.level.value == args.level)]
    if args.json:
        json.dump([r.as_dict() for r in reqs], sys.stdout, indent=1)
        print()
        return 0
    width = max((len(r.id) for r in reqs), default=10)
    area = None
    for r in reqs:
        if r.area != area:
            area = r.area
            print(f"\n## {area}")
        feature = f" [{r.feature}]" if r.feature else ""
        print(f"{r.id:<{width}}  {r.level.value:<6}  {r.statement}{feature}")
        print(f"{'':<{width}}  {'':<6}  spec: {r.spec} ({r.basis})")
    counts = {lvl: sum(1 for r in reqs if r.level.value == lvl) for lvl in ("MUST", "SHOULD", "MAY")}
    print(f"\n{len(reqs)} requirements: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

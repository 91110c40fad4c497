"""Write a sample inbox of AI images with real generator metadata: python examples/make_inbox.py DIR."""

from __future__ import annotations

import argparse
from pathlib import Path

from alice_mcp.samples import make_sample_inbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="the inbox to fill (created if missing)")
    parser.add_argument("--count", type=int, default=24, help="how many files (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="change for a different mix")
    args = parser.parse_args()
    paths = make_sample_inbox(args.folder, count=args.count, seed=args.seed)
    print(f"wrote {len(paths)} sample files to {args.folder}")


if __name__ == "__main__":
    main()

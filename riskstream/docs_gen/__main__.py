"""``python -m riskstream.docs_gen [--check] [--root DIR]``: write the generated reference
pages, or with ``--check`` exit 1 naming those that are stale."""

import argparse
import sys
from pathlib import Path

from riskstream.docs_gen import REGENERATE, stale, write


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns its exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m riskstream.docs_gen",
        description="Generate docs/reference pages from the code.",
    )
    parser.add_argument("--check", action="store_true", help="only say which pages are stale")
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (default: here)"
    )
    args = parser.parse_args(argv)
    root: Path = args.root
    if not (root / "mkdocs.yml").is_file():
        print(f"{root}: no mkdocs.yml here; run from the repository root or pass --root")
        return 2
    if args.check:
        behind = stale(root)
        for path in behind:
            print(f"{path} is stale: regenerate with {REGENERATE}", file=sys.stderr)
        return 1 if behind else 0
    for path in write(root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

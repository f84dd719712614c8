#!/usr/bin/env python3
"""md2man.py - a man page from a page of docs/, so the two never drift.

    md2man.py PANDOC NAME SECTION SUMMARY VERSION INPUT.md OUTPUT
              [--keep HEADING]... [--drop HEADING]...

The page's first level-1 heading is its title and is replaced by the NAME
section (NAME - SUMMARY). --keep keeps only the named "## " sections (the
text before the first of them is dropped too); --drop removes the named
ones. Every heading then moves up one level, so the page's "##" sections
become the man page's sections. pandoc renders the rest as roff.
"""
import argparse
import subprocess
import sys


def sections(lines):
    """Splits @lines into (heading or None, lines) blocks at "## " headings."""
    blocks, head, cur = [], None, []
    for line in lines:
        if line.startswith("## "):
            blocks.append((head, cur))
            head, cur = line[3:].strip(), []
        cur.append(line)
    blocks.append((head, cur))
    return blocks


def main() -> int:
    p = argparse.ArgumentParser(usage=__doc__)
    for name in ("pandoc", "name", "section", "summary", "version", "src", "out"):
        p.add_argument(name)
    p.add_argument("--keep", action="append", default=[])
    p.add_argument("--drop", action="append", default=[])
    a = p.parse_args()
    with open(a.src, encoding="utf-8") as f:
        lines = f.read().splitlines()
    title = next((i for i, l in enumerate(lines) if l.startswith("# ")), None)
    if title is None:
        print(f"md2man.py: {a.src} has no '# ' title line to replace by NAME", file=sys.stderr)
        return 1
    blocks = sections(lines[title + 1:])
    known = {h for h, _ in blocks if h}
    for h in a.keep + a.drop:
        if h not in known:
            print(f"md2man.py: {a.src} has no section '## {h}'", file=sys.stderr)
            return 1
    body = ["## NAME", "", f"{a.name} - {a.summary}", ""]
    if not a.keep:
        body += ["## DESCRIPTION", ""]
    for head, block in blocks:
        if (a.keep and head not in a.keep) or head in a.drop:
            continue
        body += block
    cmd = [a.pandoc, "--from=gfm", "--to=man", "--standalone", "--shift-heading-level-by=-1",
           "-M", f"title={a.name}", "-M", f"section={a.section}",
           "-M", "header=slurm-ckpt manual", "-M", f"footer=slurm-ckpt {a.version}",
           "-o", a.out]
    return subprocess.run(cmd, input="\n".join(body) + "\n", text=True).returncode


if __name__ == "__main__":
    sys.exit(main())

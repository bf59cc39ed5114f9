#!/usr/bin/env python3
"""Line coverage by architectural layer, from the JSON export of `cargo llvm-cov`.

Prints one row per layer (lines, covered, percent, threshold) and the production files below
their own threshold, and exits 2 when a layer or a file is below its threshold, or when a file of
the report is in no layer and not excluded. The layers and the exclusions are said here and
nowhere else.

Usage: coverage_by_layer.py target/coverage.json
"""

import json
import sys
from pathlib import Path

LAYER_MIN = 90.0
FILE_MIN = 80.0

# Where each layer lives, first match wins. The plan names the first four folders; ports and the
# error vocabulary are what the use cases are written against, and the in-memory adapters are
# real backends of the embedded mode, so they are infrastructure like the other adapters.
LAYERS = [
    ("domain", ["shared/src/domain/"]),
    ("application", [
        "shared/src/usecases/", "shared/src/protocol/", "shared/src/ports/", "shared/src/error.rs",
    ]),
    ("infrastructure", ["adapters/src/", "persister/src/", "shared/src/memory/"]),
    ("presentation", ["node/src/"]),
]

# Code that is not the product, each with why; so are the items marked #[cfg(test)] in any file
# (test_only_lines) and the files of modules declared under #[cfg(test)] (test_only_files: unit
# tests and test support such as nats/testing.rs). Test code is never counted as covered lines.
EXCLUDED = {
    "tests/": "end-to-end tests and their harness",
    "bench/": "the load generator",
    "fuzz/": "fuzz targets (a workspace of their own)",
    # The tests start the same entry points as binaries of their own (tests/src/bin).
    "node/src/main.rs": "chat-node's main: a call of chat_node::cli::main",
    "persister/src/main.rs": "chat-persister's main: a call of chat_persister::cli_main",
}


def line_counts(segments):
    """Per line holding code, its execution count, by llvm-cov's own rule (LineCoverageStats):
    the lines `llvm-cov show` colours and lcov's DA records. Each line counts once; llvm-cov's
    summary counts a line once for every function spanning it (a closure's lines twice)."""
    counts = {}
    if not segments:
        return counts
    by_line = {}
    for segment in segments:
        by_line.setdefault(segment[0], []).append(segment)
    wrapped = None
    for line in range(segments[0][0], segments[-1][0] + 1):
        starting = by_line.get(line, [])
        # A segment: [line, col, count, has_count, is_region_entry, is_gap_region].
        region_starts = [s for s in starting if s[3] and s[4] and not s[5]]
        skipped = bool(starting) and not starting[0][3] and starting[0][4]
        mapped = not skipped and ((wrapped is not None and wrapped[3]) or bool(region_starts))
        mapped |= any(s[4] and s[3] for s in starting)
        if mapped:
            count = wrapped[2] if wrapped is not None else 0
            for s in region_starts:
                count = max(count, s[2])
            counts[line] = count
        if starting:
            wrapped = starting[-1]
    return counts


def test_only_lines(source):
    """Line numbers of the items marked `#[cfg(test)]`. Formatted by rustfmt, an item that does
    not end on its first line ends on a `}` at its own indentation."""
    lines = source.splitlines()
    found = set()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "#[cfg(test)]":
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        item = i + 1
        while lines[item].strip().startswith("#["):
            item += 1
        end = item
        first = lines[item].rstrip()
        if not (first.endswith(";") or first.count("{") == first.count("}")):
            end = next(j for j in range(item + 1, len(lines)) if lines[j].rstrip() == indent + "}")
        found.update(range(i + 1, end + 2))
        i = end + 1
    return found


def test_only_files(root, paths):
    """The files of the modules declared `#[cfg(test)] mod name;` by the files in `paths`."""
    found = set()
    for path in paths:
        lines = (root / path).read_text().splitlines()
        folder = Path(path).parent if Path(path).name in ("lib.rs", "main.rs", "mod.rs") else Path(path).with_suffix("")
        for i, line in enumerate(lines[:-1]):
            if line.strip() != "#[cfg(test)]":
                continue
            declared = lines[i + 1].strip().removeprefix("pub(crate) ").removeprefix("pub ")
            if declared.startswith("mod ") and declared.endswith(";"):
                name = declared[4:-1].strip()
                found.update({(folder / f"{name}.rs").as_posix(), (folder / name / "mod.rs").as_posix()})
    return found


def layer_of(path):
    if any(path.startswith(prefix) for prefix in EXCLUDED):
        return None
    for layer, prefixes in LAYERS:
        if any(path.startswith(p) for p in prefixes):
            return layer
    return "unmapped"


def main(export_path):
    export = json.loads(Path(export_path).read_text())
    root = Path(export["cargo_llvm_cov"]["manifest_path"]).parent
    totals = {layer: [0, 0] for layer, _ in LAYERS}
    low_files, unmapped = [], []
    files = export["data"][0]["files"]
    paths = [Path(entry["filename"]).relative_to(root).as_posix() for entry in files]
    test_files = test_only_files(root, paths)
    for path, entry in zip(paths, files):
        layer = layer_of(path)
        if layer is None or path in test_files:
            continue
        if layer == "unmapped":
            unmapped.append(path)
            continue
        counts = line_counts(entry["segments"])
        for line in test_only_lines((root / path).read_text()):
            counts.pop(line, None)
        lines, covered = len(counts), sum(1 for c in counts.values() if c)
        totals[layer][0] += lines
        totals[layer][1] += covered
        if lines and 100.0 * covered / lines < FILE_MIN:
            low_files.append((path, lines, covered))

    failed = False
    print(f"{'layer':<16}{'lines':>8}{'covered':>9}{'%':>8}{'threshold':>11}")
    for layer, (lines, covered) in totals.items():
        percent = 100.0 * covered / lines if lines else 100.0
        below = percent < LAYER_MIN
        failed |= below
        mark = "  BELOW" if below else ""
        print(f"{layer:<16}{lines:>8}{covered:>9}{percent:>7.1f}%{LAYER_MIN:>10.0f}%{mark}")
    if low_files:
        failed = True
        print(f"\nproduction files below {FILE_MIN:.0f} %:")
        for path, lines, covered in sorted(low_files, key=lambda f: f[2] / f[1]):
            print(f"  {100.0 * covered / lines:5.1f}%  {covered:>5}/{lines:<5} {path}")
    if unmapped:
        failed = True
        print("\nfiles in no layer (add them to LAYERS or EXCLUDED):")
        for path in unmapped:
            print(f"  {path}")
    return 2 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))

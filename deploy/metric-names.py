"""Metric names, for deploy/check-monitoring.sh: compares the metrics that the dashboard, the
alert rules and a live /metrics name with those docs/metrics.md describes.

  metric-names.py names FILE                   metric families in a Prometheus text exposition
  metric-names.py check-referenced DOC FILE... every metric a dashboard (.json) or rule file
                                               (.yml) queries is described in DOC
  metric-names.py check-live DOC FILE          every metric family in an exposition is in DOC
"""

import json
import re
import sys

import yaml

KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}
SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


def documented(doc_path):
    """Names in the first column of the tables of the metrics reference."""
    names = set()
    with open(doc_path) as doc:
        for line in doc:
            match = re.match(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`", line)
            if match:
                names.add(match.group(1))
    return names


def promql_metrics(expr):
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    labels, durations or Grafana variables."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\w+", "", e)
    found = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        before = e[match.start() - 1] if match.start() > 0 else " "
        after = e[match.end():].lstrip()[:1]
        if before.isdigit() or before == "." or after == "(" or match.group(0) in KEYWORDS:
            continue
        found.add(match.group(0))
    return found


def referenced(path):
    exprs = []
    if path.endswith(".json"):
        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "expr" and isinstance(value, str):
                        exprs.append(value)
                    elif key == "definition" and isinstance(value, str):
                        exprs.extend(re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", value))
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        with open(path) as f:
            walk(json.load(f))
    else:
        with open(path) as f:
            for group in yaml.safe_load(f)["groups"]:
                exprs.extend(rule["expr"] for rule in group["rules"])
    names = set()
    for expr in exprs:
        names |= promql_metrics(expr)
    return names, len(exprs)


def family(name, known):
    for suffix in SERIES_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def exposition_families(path):
    families = set()
    with open(path) as f:
        for line in f:
            if line.startswith("# TYPE "):
                families.add(line.split()[2])
            elif line.strip() and not line.startswith("#"):
                families.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return {family(name, families) for name in families}


def main(args):
    if args[:1] == ["names"] and len(args) == 2:
        print("\n".join(sorted(exposition_families(args[1]))))
        return 0
    if args[:1] == ["check-referenced"] and len(args) >= 3:
        known = documented(args[1])
        missing = {}
        for path in args[2:]:
            names, count = referenced(path)
            unknown = sorted(n for n in names if family(n, known) not in known)
            print(f"{path}: {count} queries, {len(names)} metric names")
            if unknown:
                missing[path] = unknown
        for path, names in missing.items():
            print(f"not in {args[1]}, used by {path}: {', '.join(names)}", file=sys.stderr)
        return 1 if missing else 0
    if args[:1] == ["check-live"] and len(args) == 3:
        known = documented(args[1])
        unknown = sorted(exposition_families(args[2]) - known)
        if unknown:
            print(f"exported but not in {args[1]}: {', '.join(unknown)}", file=sys.stderr)
            return 1
        print(f"every exported metric is in {args[1]}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""grafana_check.py DASHBOARD METRICS: check a Grafana dashboard against the
Prometheus text that `chipctl metrics` printed (file METRICS).

Checked: the JSON parses and is a dashboard (panels with unique ids and a
gridPos, every query on the ${DS_PROMETHEUS} datasource input); every
metric name a query uses is one chipctl prints; every label a query
matches on ({label=...}, by (...)) or names in its legend ({{label}}) is a
label of a metric of that query; and every metric family chipctl prints is
shown by some panel. Prints each problem and exits 1 if there is any.
"""
import json
import re
import sys

NAME = re.compile(r"\bchipctl_[a-zA-Z0-9_]+")
MATCHERS = re.compile(r"(chipctl_[a-zA-Z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"(?:[^\"\\\\]|\\\\.)*\"\s*,?")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def exported(path):
    """metric name -> set of label names, from the exposition text."""
    out = {}
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if not m:
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", m.group(3) or ""))
        out.setdefault(m.group(1), set()).update(labels)
    return out


def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))


def main():
    dash = json.load(open(sys.argv[1], encoding="utf-8"))
    have = exported(sys.argv[2])
    errs, shown, ids = [], set(), set()
    if not have:
        errs.append("no metrics in %s" % sys.argv[2])
    if not isinstance(dash.get("panels"), list) or not dash["panels"]:
        errs.append("no panels")
    for p in walk(dash.get("panels", [])):
        title = p.get("title", "?")
        if p.get("id") in ids:
            errs.append("panel %r: duplicate id %r" % (title, p.get("id")))
        ids.add(p.get("id"))
        if not {"h", "w", "x", "y"} <= set(p.get("gridPos", {})):
            errs.append("panel %r: no gridPos" % title)
        if p.get("type") == "row":
            continue
        if not p.get("targets"):
            errs.append("panel %r: no query" % title)
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            if (t.get("datasource") or {}).get("uid") != "${DS_PROMETHEUS}":
                errs.append("panel %r: a query not on the ${DS_PROMETHEUS} input" % title)
            names = set(NAME.findall(expr))
            if not names:
                errs.append("panel %r: %r queries no chipctl metric" % (title, expr))
            for n in names:
                if n not in have:
                    errs.append("panel %r: %s is not a metric chipctl prints" % (title, n))
            shown |= names
            labels = set().union(*(have.get(n, set()) for n in names)) if names else set()
            used = set()
            for _, body in MATCHERS.findall(expr):
                rest = MATCHER.sub(lambda m: used.add(m.group(1)) or "", body)
                if rest.strip():
                    errs.append("panel %r: cannot read the matchers {%s}" % (title, body))
            for g in GROUPING.findall(expr):
                used |= {x.strip() for x in g.split(",") if x.strip()}
            used |= set(LEGEND.findall(t.get("legendFormat", "")))
            for lab in sorted(used - labels):
                errs.append("panel %r: label %r is not a label of %s" % (title, lab, ", ".join(sorted(names))))
    for n in sorted(set(have) - shown):
        errs.append("metric %s is on no panel" % n)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())

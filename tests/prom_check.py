#!/usr/bin/env python3
"""prom_check.py [FILE]: a strict check of the Prometheus text exposition
format (version 0.0.4), for when promtool is not installed. Reads FILE or
stdin; prints each problem as "line N: why" and exits 1 if there is any.

Checked: metric and label names; label values quoted with only the \\\\,
\\" and \\n escapes; no duplicate label in a sample; float values (NaN,
+Inf, -Inf included) and optional integer timestamps; at most one HELP and
one TYPE per family, TYPE before the family's first sample and a known
type; every family's samples together (no family seen again later); no
duplicate series; gauge and counter families without suffixed samples;
a counter's value not negative; the text ends with a newline.
"""
import re
import sys

METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def parse_float(s):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(s.replace("Inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError(s)
    return float(s)


def parse_labels(text, pos, errs, n):
    """text[pos] == '{'; returns (labels tuple, position after '}')."""
    labels = []
    pos += 1
    while True:
        if pos < len(text) and text[pos] == "}":
            return tuple(labels), pos + 1
        m = LABEL.match(text, pos)
        if not m:
            errs.append("line %d: bad label name at column %d" % (n, pos + 1))
            return None, pos
        name = m.group(0)
        if name.startswith("__"):
            errs.append("line %d: label name %s is reserved" % (n, name))
        pos = m.end()
        if text[pos:pos + 2] != '="':
            errs.append("line %d: expected =\" after label %s" % (n, name))
            return None, pos
        pos += 2
        val = []
        while True:
            if pos >= len(text):
                errs.append("line %d: unterminated label value" % n)
                return None, pos
            c = text[pos]
            if c == "\\":
                nxt = text[pos + 1:pos + 2]
                if nxt not in ("\\", '"', "n"):
                    errs.append("line %d: bad escape \\%s in label value" % (n, nxt))
                val.append(nxt)
                pos += 2
            elif c == '"':
                pos += 1
                break
            elif c == "\n":
                errs.append("line %d: newline in label value" % n)
                return None, pos
            else:
                val.append(c)
                pos += 1
        if name in (l[0] for l in labels):
            errs.append("line %d: label %s repeated" % (n, name))
        labels.append((name, "".join(val)))
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == "}":
            continue
        else:
            errs.append("line %d: expected , or } after a label" % n)
            return None, pos


def family_of(name, types):
    for suf in SUFFIXES:
        if name.endswith(suf) and name[:-len(suf)] in types and \
                types[name[:-len(suf)]] in ("histogram", "summary", "counter"):
            return name[:-len(suf)]
    return name


def check(text):
    errs = []
    if text and not text.endswith("\n"):
        errs.append("the text does not end with a newline")
    helps, types, done, series = {}, {}, set(), set()
    current = None
    samples = 0
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not METRIC.fullmatch(parts[2]):
                    errs.append("line %d: bad metric name in %s" % (n, parts[1]))
                    continue
                name = parts[2]
                if name in done or (current and current != name and name in types and name in helps):
                    errs.append("line %d: %s for %s after its family ended" % (n, parts[1], name))
                if parts[1] == "HELP":
                    if name in helps:
                        errs.append("line %d: second HELP for %s" % (n, name))
                    helps[name] = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", helps[name]):
                        errs.append("line %d: bad escape in HELP" % n)
                else:
                    if name in types:
                        errs.append("line %d: second TYPE for %s" % (n, name))
                    if len(parts) < 4 or parts[3] not in TYPES:
                        errs.append("line %d: unknown type %r" % (n, parts[3] if len(parts) > 3 else ""))
                    if name in {family_of(s[0], types) for s in series}:
                        errs.append("line %d: TYPE for %s after its samples" % (n, name))
                    types[name] = parts[3] if len(parts) > 3 else "untyped"
                if current != name:
                    if current:
                        done.add(current)
                    current = name
            continue
        m = METRIC.match(line)
        if not m:
            errs.append("line %d: bad metric name" % n)
            continue
        name = m.group(0)
        pos = m.end()
        labels = ()
        if pos < len(line) and line[pos] == "{":
            labels, pos = parse_labels(line, pos, errs, n)
            if labels is None:
                continue
        rest = line[pos:]
        if not rest.startswith(" "):
            errs.append("line %d: expected a space before the value" % n)
            continue
        fields = rest.split()
        if len(fields) not in (1, 2):
            errs.append("line %d: expected a value and an optional timestamp" % n)
            continue
        try:
            value = parse_float(fields[0])
        except ValueError:
            errs.append("line %d: bad value %r" % (n, fields[0]))
            continue
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            errs.append("line %d: bad timestamp %r" % (n, fields[1]))
        fam = family_of(name, types)
        if fam in done:
            errs.append("line %d: sample of %s after its family ended" % (n, fam))
        if current != fam:
            if current:
                done.add(current)
            current = fam
        t = types.get(fam, "untyped")
        if t in ("gauge", "untyped") and name != fam:
            errs.append("line %d: suffixed sample in a %s family" % (n, t))
        if t == "counter" and value < 0:
            errs.append("line %d: negative counter" % n)
        key = (name, tuple(sorted(labels)))
        if key in series:
            errs.append("line %d: duplicate series %s%s" % (n, name, dict(labels)))
        series.add(key)
        samples += 1
    if samples == 0:
        errs.append("no samples")
    return errs


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    errs = check(text)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())

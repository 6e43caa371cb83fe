#!/usr/bin/env python3
"""Every SQL function, view and trigger is defined in one file under sql/,
and no function body is repeated across sql/ (issue 18; `make lint`).

Definitions live in sql/functions/ (repeatable, re-applied when they
change); the numbered migrations hold tables, columns, indexes and data
changes only. Prints each offence on one line and exits 1, or exits 0."""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else 'sql'
files = sorted(glob.glob(os.path.join(root, '[0-9][0-9][0-9]_*.sql')) +
               glob.glob(os.path.join(root, 'functions', '*.sql')))
DEF = re.compile(r'(?im)^\s*create\s+(?:or\s+replace\s+)?(function|view|trigger)\s+([a-z_0-9.]+)')
BODY = re.compile(r'(\$[A-Za-z_]*\$)(.*?)\1', re.S)
bad = []
where = {}
bodies = {}
for f in files:
    text = open(f, encoding='utf-8').read()
    code = re.sub(r'--[^\n]*', '', text)
    for m in DEF.finditer(code):
        key = (m.group(1).lower(), m.group(2).lower())
        where.setdefault(key, []).append(f)
        if '/functions/' not in f:
            bad.append('%s: %s %s is defined in a numbered migration (it belongs in %s/functions/)'
                       % (f, key[0], key[1], root))
    for m in BODY.finditer(code):
        body = ' '.join(m.group(2).split())
        if len(body) < 200:	# one-line rules may well look alike
            continue
        bodies.setdefault(body, []).append(f)
for (kind, name), fs in sorted(where.items()):
    if len(fs) > 1:
        bad.append('%s %s is defined %d times: %s' % (kind, name, len(fs), ', '.join(fs)))
for body, fs in bodies.items():
    if len(fs) > 1:
        bad.append('a function body is repeated in %s: %s...' % (', '.join(fs), body[:60]))
for b in bad:
    print('check-sql-once: ' + b)
sys.exit(1 if bad else 0)

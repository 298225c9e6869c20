#!/usr/bin/env python3
"""Bring README's configuration table in line with `mercato help`.

Rows already in README keep their wording; options missing from README are
added with the help text; options no longer in help are dropped.  Run after
adding or removing a configuration option:  tools/readme_config.py build/debug/mercato
"""
import re, subprocess, sys

binary = sys.argv[1] if len(sys.argv) > 1 else 'build/debug/mercato'
help_text = subprocess.run([binary, 'help'], capture_output=True, text=True).stdout
opts = re.findall(r'^  --(\S+)\s+(\S+)\s+(.*) \[(.*)\]$', help_text, re.M)
readme = open('README.md').read()
row_re = re.compile(r'^\| `--([^`]+)` \| `([^`]+)` \| `([^`]*)` \| (.*) \|$', re.M)
existing = {m.group(1): m.group(4) for m in row_re.finditer(readme)}
rows = []
for name, env, desc, dflt in opts:
    rows.append('| `--%s` | `%s` | `%s` | %s |' % (name, env, dflt if dflt else '""', existing.get(name, desc)))
lines = readme.split('\n')
idx = [i for i, l in enumerate(lines) if row_re.match(l)]
if not idx:
    sys.exit('README has no configuration table')
lines[idx[0]:idx[-1] + 1] = rows
open('README.md', 'w').write('\n'.join(lines))
print('%d options' % len(rows))

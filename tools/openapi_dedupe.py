#!/usr/bin/env python3
"""Drop from a module's OpenAPI fragment the components and problem types that
00-base.json (or an earlier fragment) already defines, reporting any whose
definitions differ.  For merging module branches:  tools/openapi_dedupe.py docs/openapi/X.json"""
import json, sys, glob
target = sys.argv[1]
others = [f for f in sorted(glob.glob('docs/openapi/*.json')) if f != target]
seen = {}
for f in others:
    d = json.load(open(f))
    for kind, m in d.get('components', {}).items():
        for k, v in m.items(): seen[('components', kind, k)] = (f, v)
    for k, v in d.get('x-problem-types', {}).items(): seen[('x-problem-types', k)] = (f, v)
d = json.load(open(target))
for kind, m in d.get('components', {}).items():
    for k in list(m):
        if ('components', kind, k) in seen:
            f, v = seen[('components', kind, k)]
            if v != m[k]: print('differs: components/%s/%s (kept %s)' % (kind, k, f))
            del m[k]
for k in list(d.get('x-problem-types', {})):
    if ('x-problem-types', k) in seen:
        f, v = seen[('x-problem-types', k)]
        if v.get('status') != d['x-problem-types'][k].get('status'): print('STATUS differs: %s' % k)
        del d['x-problem-types'][k]
for kind in list(d.get('components', {})):
    if not d['components'][kind]: del d['components'][kind]
json.dump(d, open(target, 'w'), indent=2, ensure_ascii=False)
open(target, 'a').write('\n')

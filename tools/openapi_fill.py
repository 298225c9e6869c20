#!/usr/bin/env python3
"""Fill the gaps of a module's OpenAPI fragment:
  - an operationId for every operation without one (verb + path words),
  - x-problem-types for every problem slug the module's C code answers with
    and no fragment documents yet (title and first detail taken from the code;
    edit the description afterwards where the detail is too specific).
Usage: tools/openapi_fill.py docs/openapi/X.json src/dir [src/dir...]"""
import json, sys, glob, os, re
target, dirs = sys.argv[1], sys.argv[2:]
d = json.load(open(target))
VERB = {'get': 'get', 'post': 'create', 'put': 'put', 'patch': 'update', 'delete': 'delete'}
def camel(words): return words[0] + ''.join(w[:1].upper() + w[1:] for w in words[1:])
ids = set()
for f in glob.glob('docs/openapi/*.json'):
    for item in json.load(open(f)).get('paths', {}).values():
        for o in item.values():
            if isinstance(o, dict) and o.get('operationId'): ids.add(o['operationId'])
for path, item in d.get('paths', {}).items():
    for m, o in item.items():
        if m not in VERB or o.get('operationId'): continue
        words = [w for w in re.split(r'[/{}_\-.]+', path) if w and w != 'v1']
        if m == 'get' and not path.endswith('}'): verb = 'list' if words[-1].endswith('s') else 'get'
        else: verb = VERB[m]
        if m == 'post' and not words[-1].endswith('s'): verb = 'post'
        base = camel([verb] + words); oid = base; n = 2
        while oid in ids: oid = '%s%d' % (base, n); n += 1
        ids.add(oid); o['operationId'] = oid
known = set()
for f in glob.glob('docs/openapi/*.json'):
    known |= set(json.load(open(f)).get('x-problem-types', {}))
pt = d.setdefault('x-problem-types', {})
pat = re.compile(r'http_respond_problem\w*\(\s*\w+,\s*(\d{3}),\s*"([a-z0-9-]+)",\s*"([^"]*)",\s*"((?:[^"\\]|\\.)*)"?', re.S)
for dd in dirs:
    for root, _, fs in os.walk(dd):
        for fn in sorted(fs):
            if not fn.endswith('.c'): continue
            for m in pat.finditer(open(os.path.join(root, fn)).read()):
                st, slug, title, detail = int(m.group(1)), m.group(2), m.group(3), m.group(4)
                if slug in known or slug in pt: continue
                pt[slug] = {'status': st, 'title': title, 'description': detail or title}
json.dump(d, open(target, 'w'), indent=2, ensure_ascii=False)
open(target, 'a').write('\n')
print('%d operations, %d problem types' % (len(ids), len(pt)))

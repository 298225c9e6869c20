#!/usr/bin/env python3
"""wal_pages.py — which tables and indexes a SQLite write load writes.

    bench/wal_pages.py DB            (DB-wal next to it; copy both first)

Reads the frames of the current WAL generation (those carrying the salts of
the WAL header), maps each frame's page to the b-tree that owns it (the
dbstat virtual table) and prints, per b-tree, the frames written and the
frames per commit.  Every b-tree a commit touches costs at least one 4 KiB
frame (a pwrite of the page, and later a copy by the checkpointer), so the
list says where the WAL volume of, say, a checkout comes from.

Take the sample from a server under load: copy DB and DB-wal while it runs
(or after kill -9), e.g. during bench/checkout.sh:
    cp /tmp/mercato-checkoutbench.*/bench.db{,-wal} /tmp/sample/
Opening the copy read-only never checkpoints the original.
"""
import collections
import sqlite3
import struct
import sys


def frames(wal_path):
    with open(wal_path, 'rb') as f:
        hdr = f.read(32)
        if len(hdr) < 32:
            return 4096, [], 0
        _magic, _ver, psz, _seq, salt1, salt2, _c1, _c2 = struct.unpack('>8I', hdr)
        pages, commits = [], 0
        while True:
            h = f.read(24)
            if len(h) < 24:
                break
            pg, dbsize, s1, s2 = struct.unpack('>4I', h[:16])
            if (s1, s2) != (salt1, salt2):
                break  # a frame of an older generation: the WAL restarted
            f.seek(psz, 1)
            pages.append(pg)
            if dbsize:
                commits += 1
        return psz, pages, commits


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    db = sys.argv[1]
    psz, pages, commits = frames(db + '-wal')
    if not pages:
        print('no frames in the current WAL generation')
        return 1
    con = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    owner = {pageno: name for name, pageno in con.execute('SELECT name, pageno FROM dbstat')}
    count = collections.Counter(owner.get(p, '(free list / new)') for p in pages)
    print(f'page size {psz}; {len(pages)} frames in {commits} commits '
          f'({len(pages) / max(commits, 1):.1f} frames per commit)')
    print(f'{"frames":>8} {"per commit":>10}  b-tree')
    for name, n in count.most_common():
        print(f'{n:8d} {n / max(commits, 1):10.2f}  {name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""A digest of what the signature scan finds in logs, to hold two checkouts to identical results.

    python bench/scan_digest.py LOG... > after.json
    PYTHONPATH=/path/to/other/checkout python bench/scan_digest.py LOG... > before.json && cmp before.json after.json

One JSON line per log: facts (value, source, kind), matched ids in order, counts, excerpts, cue hits, lines, bytes,
the kept head; a short hash, the CPU time and the hfdiag in use go to stderr."""

import hashlib
import json
import sys
import time

import hfdiag
from hfdiag.engine.knowledge import load_knowledge

signatures = load_knowledge(None).signatures
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        t = time.process_time()
        r, head = signatures.scan_stream(f, "t", keep_text=1000)
        cpu = time.process_time() - t
    d = {"facts": {k: [repr(v.value), v.source, v.kind] for k, v in r.facts.items()}, "matched": r.matched,
         "counts": r.counts, "excerpts": list(r.excerpts), "lines": r.lines, "bytes": r.bytes,
         "cue_hits": r.cue_hits, "last": list(r.last_lines), "head": head}
    text = json.dumps(d, sort_keys=True)
    print(f"{path} {hashlib.sha256(text.encode()).hexdigest()[:16]} {sum(r.counts.values())} matches, "
          f"{cpu:.2f} s CPU, {hfdiag.__file__}", file=sys.stderr)
    print(text)

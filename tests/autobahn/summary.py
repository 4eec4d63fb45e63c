#!/usr/bin/env python3
"""Summarise an Autobahn fuzzingclient report: summary.py <outdir> [-v]
Counts behavior / behaviorClose per agent from <outdir>/index.json, counts
UNIMPLEMENTED per category, and lists every case that is NON-STRICT or FAILED
(behavior or behaviorClose); -v lists UNIMPLEMENTED/INFORMATIONAL ones too."""
import json, os, sys, collections

def key(c):
    return [int(x) for x in c.split('.')]

outdir = sys.argv[1]
verbose = '-v' in sys.argv
idx = json.load(open(os.path.join(outdir, 'index.json')))
for agent, cases in sorted(idx.items()):
    b = collections.Counter(v['behavior'] for v in cases.values())
    bc = collections.Counter(v['behaviorClose'] for v in cases.values())
    print('agent %s: %d cases' % (agent, len(cases)))
    order = ['OK', 'NON-STRICT', 'INFORMATIONAL', 'UNIMPLEMENTED', 'FAILED']
    print('  behavior:      ' + '  '.join('%s=%d' % (k, b.get(k, 0)) for k in order)
          + ''.join('  %s=%d' % (k, n) for k, n in b.items() if k not in order))
    print('  behaviorClose: ' + '  '.join('%s=%d' % (k, n) for k, n in sorted(bc.items())))
    unimpl = collections.Counter(c.split('.')[0] for c, v in cases.items()
                                 if v['behavior'] == 'UNIMPLEMENTED')
    if unimpl:
        print('  UNIMPLEMENTED by category: ' + '  '.join(
            '%s.*=%d' % (k, n) for k, n in sorted(unimpl.items(), key=lambda x: int(x[0]))))
    bad = sorted((c for c, v in cases.items()
                  if v['behavior'] not in ('OK', 'INFORMATIONAL', 'UNIMPLEMENTED')
                  or v['behaviorClose'] not in ('OK', 'INFORMATIONAL')
                  or (verbose and v['behavior'] != 'OK')), key=key)
    if bad:
        print('  not OK (behavior/behaviorClose):')
        for c in bad:
            v = cases[c]
            print('    %-10s %-13s %-13s %s' % (c, v['behavior'], v['behaviorClose'], v.get('reportfile', '')))

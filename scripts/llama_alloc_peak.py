#!/usr/bin/env python3
"""Find which tensors make up the peak of llama.cpp's compute buffer.

Input: the log of `llama-server-allocdebug ... -v` (built by
`ALLOC_DEBUG=1 scripts/build-llama-cpp.sh`, which enables ggml-alloc's AT_PRINTF
trace). For every graph reservation it replays the allocator's allocate/free
events and prints the offset+size high-water mark (= the compute buffer size),
the tensor that set it, and the tensors alive at that moment (>= MIN_BYTES).

Usage: python3 scripts/llama_alloc_peak.py LOG [MIN_BYTES]
"""
import re,sys
lines=open(sys.argv[1],errors='replace').read().splitlines()
segs=[];cur=None
for ln in lines:
    if 'reserving a graph for ubatch' in ln:
        cur={'hdr':ln.split('D graph_reserve: ')[-1],'ev':[]};segs.append(cur);continue
    if cur is None: continue
    m=re.search(r'allocating (\S+) \((\d+) bytes\) - .*offset (\d+), chunk (\d+)',ln)
    if m: cur['ev'].append(('a',m.group(1),int(m.group(2)),int(m.group(3))));continue
    m=re.search(r'freeing (\S+) at \{chunk=(\d+), offset=(\d+)\} \((\d+) bytes\)',ln)
    if m: cur['ev'].append(('f',m.group(1),int(m.group(4)),int(m.group(3))));continue
MiB=1024*1024
for i,s in enumerate(segs):
    live={};peak=0;snap=None
    for e in s['ev']:
        k=(e[3])
        if e[0]=='a':
            live[k]=(e[1],e[2])
            end=e[3]+e[2]
            if end>peak: peak=end;snap=(e[1],dict(live))
        else:
            live.pop(k,None)
    if not snap: continue
    tot=sum(v[1] for v in snap[1].values())
    print(f"seg{i} {s['hdr']}: peak_end={peak/MiB:.4f} MiB set by {snap[0]}; live sum={tot/MiB:.4f} MiB")
    if len(sys.argv)>2:
        for off,(n,sz) in sorted(snap[1].items()):
            if sz>=int(sys.argv[2]): print(f"   off={off/MiB:9.3f} {sz/MiB:9.3f} MiB {n}")

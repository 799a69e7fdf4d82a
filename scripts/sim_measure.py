#!/usr/bin/env python3
"""Measures `pbal sim`: start-up time to the `listening on` line (includes CA + leaf generation)
and sequential request throughput over verified TLS with keep-alive. Not part of CI.

    cargo build [--release]
    python3 scripts/sim_measure.py [--pbal target/debug/pbal] [--n 2000]
"""
import argparse
import os
import subprocess
import tempfile
import time

import requests

ap = argparse.ArgumentParser()
ap.add_argument('--pbal', default=os.path.join(os.path.dirname(__file__), '..', 'target', 'debug', 'pbal'))
ap.add_argument('--n', type=int, default=2000)
args = ap.parse_args()
ca = os.path.join(tempfile.mkdtemp(), 'ca.pem')
t0 = time.perf_counter()
sim = subprocess.Popen([args.pbal, 'sim', '--listen', '127.0.0.1:0', '--ca-out', ca, '--no-rate-limits'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    base = sim.stdout.readline().strip().split(' ', 2)[2]
    startup = time.perf_counter() - t0
    s = requests.Session()
    # Per-request verify: a REQUESTS_CA_BUNDLE in the environment would override Session.verify.
    s.get(f'{base}/v1/api/iserver/accounts', verify=ca).raise_for_status()
    s.get(f'{base}/v1/api/portfolio/accounts', verify=ca).raise_for_status()
    for path in ['/iserver/auth/status', '/portfolio/DU1234567/ledger']:
        t1 = time.perf_counter()
        for _ in range(args.n):
            s.get(f'{base}/v1/api{path}', verify=ca).raise_for_status()
        dt = time.perf_counter() - t1
        print(f'GET {path}: {args.n} requests in {dt:.2f} s = {args.n / dt:.0f} req/s, {dt / args.n * 1e3:.2f} ms each')
    print(f'start-up to first line: {startup * 1e3:.0f} ms')
finally:
    sim.terminate()
    sim.wait(timeout=10)

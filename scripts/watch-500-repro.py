#!/usr/bin/env python3
"""Count `cargo lambda watch` emulator 500s vs real function answers for one path.

Usage:
  watch-500-repro.py BASE_URL [PATH] [-n N] [-c CONCURRENCY] [--timeout S]

  BASE_URL     e.g. http://127.0.0.1:9000   (a running `cargo lambda watch`)
  PATH         default /openapi.yaml
  -n N         requests per phase (default 300)
  -c C         parallel clients in the concurrent phase (default N, i.e. all at once)

Phase 1 sends N sequential GETs; phase 2 sends N GETs from C threads released together.
Every answer is classified as:
  function     any status whose body is not the emulator's problem+json
  emulator500  status 500 with body {"type":"https://httpstatuses.com/500",...}
               (cargo-lambda-watch's ServerError::into_response; the function never
               produces it)
  other        transport errors / timeouts
Exit status 1 if any emulator500 was seen. Standard library only.
"""
import argparse
import collections
import http.client
import json
import sys
import threading
import time
import urllib.parse

PROBLEM_TYPE = "https://httpstatuses.com/500"


def one(base, path, timeout):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request("GET", path, headers={"accept": "*/*"})
        r = conn.getresponse()
        body = r.read()
        dt = time.monotonic() - t0
        if r.status == 500:
            try:
                if json.loads(body).get("type") == PROBLEM_TYPE:
                    return "emulator500", r.status, len(body), dt
            except ValueError:
                pass
        return "function", r.status, len(body), dt
    except Exception as e:  # noqa: BLE001 - report every transport failure
        return "other:" + type(e).__name__, None, 0, time.monotonic() - t0
    finally:
        conn.close()


def report(name, results):
    kinds = collections.Counter(k.split(":")[0] for k, *_ in results)
    statuses = collections.Counter(s for _, s, _, _ in results)
    sizes = collections.Counter(n for k, _, n, _ in results if k == "function")
    print(f"{name}: {len(results)} requests -> function={kinds['function']} "
          f"emulator500={kinds['emulator500']} other={kinds['other']}")
    print(f"  statuses={dict(statuses)} function body sizes={dict(sizes)}")
    bad = [i for i, (k, *_rest) in enumerate(results) if k != "function"]
    if bad:
        print(f"  failing request indexes: {bad[:40]}{' ...' if len(bad) > 40 else ''}")
    return kinds["emulator500"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("path", nargs="?", default="/openapi.yaml")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("-c", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    base = a.base.rstrip("/")

    seq = [one(base, a.path, a.timeout) for _ in range(a.n)]
    bad = report("sequential", seq)

    conc = a.c or a.n
    results = [None] * a.n
    gate = threading.Barrier(conc)
    lock = threading.Lock()
    todo = iter(range(a.n))

    def worker():
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            pass
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            results[i] = one(base, a.path, a.timeout)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad += report(f"concurrent (x{conc})", results)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

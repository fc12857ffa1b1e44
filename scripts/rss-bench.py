#!/usr/bin/env python3
"""Memory of password hashing, measured: resident memory (VmRSS, and the peak VmHWM) of

1. the server (`target/<profile>/dompet`, fresh SQLite database) before and after N logins
   from C concurrent clients (each login is one argon2id verification of 19 MiB), and
2. the `login` function under `cargo lambda watch`'s Lambda Runtime API, after M sequential
   invocations with unknown users (one dummy verification each).

    scripts/rss-bench.py [--profile release] [--logins 1000] [--clients 64] [--invocations 100]

Prints one line per measurement; results are recorded in README.md ("Memory").
Standard library only; needs cargo-lambda for part 2 (skipped with --no-function).
"""
import argparse
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def post(url, body, timeout=300):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_http(url, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=30).read()
            return
        except Exception:
            time.sleep(0.3)
    sys.exit(f"nothing answered at {url}")


def server(args):
    binary = f"target/{args.profile}/dompet"
    work = tempfile.mkdtemp()
    port = free_port()
    proc = subprocess.Popen([binary, "--db", f"{work}/dompet.db", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RUST_LOG": "warn"})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/.well-known/jwks.json")
        start_rss, _ = rss_kib(proc.pid)
        users = [f"bench{i}" for i in range(args.clients)]
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(
                lambda u: post(base + "/register", {"username": u, "password": "rahasia-sekali"}), users))
        assert all(s == 201 for s in statuses), statuses
        registered_rss, _ = rss_kib(proc.pid)
        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(
                lambda i: post(base + "/login", {"username": users[i % len(users)], "password": "rahasia-sekali"}),
                range(args.logins)))
        elapsed = time.time() - started
        assert all(s == 200 for s in statuses), {s: statuses.count(s) for s in set(statuses)}
        end_rss, peak = rss_kib(proc.pid)
        print(f"server ({args.profile}): RSS {start_rss / 1024:.1f} MiB at start, "
              f"{registered_rss / 1024:.1f} MiB after {len(users)} registrations, "
              f"{end_rss / 1024:.1f} MiB after {args.logins} logins from {args.clients} clients "
              f"({args.logins / elapsed:.1f} logins/s); peak {peak / 1024:.1f} MiB")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def function(args):
    """`login` under cargo lambda watch: the function process is the one measured."""
    port = free_port()
    work = tempfile.mkdtemp()
    # The watch's functions read .dompet/ (Cargo.toml); the server's first start creates it.
    created = not os.path.exists(".dompet")
    first = subprocess.Popen([f"target/{args.profile}/dompet", "--port", str(free_port())],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        if os.path.exists(".dompet/cursor-secret") and os.path.exists(".dompet/signing-key.pem"):
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)
    first.wait(timeout=30)
    flags = ["--release"] if args.profile == "release" else []
    watch = subprocess.Popen(["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(port),
                              "--ignore-changes", *flags],
                             stdout=open(f"{work}/watch.log", "w"), stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        invoke = f"http://127.0.0.1:{port}/login"
        deadline = time.time() + 600
        while True:
            try:
                status = post(invoke, {"username": "nobody-0", "password": "x" * 8}, timeout=600)
                break
            except Exception:
                if time.time() > deadline:
                    sys.exit("the login function did not start; see " + work)
                time.sleep(0.5)
        pid = int(subprocess.check_output(["pgrep", "-n", "-f", f"target/{args.profile}/login"]).split()[0])
        first_rss, _ = rss_kib(pid)
        for i in range(1, args.invocations):
            # A different unknown user each time: no lockout, one dummy verification each.
            status = post(invoke, {"username": f"nobody-{i}", "password": "x" * 8})
            assert status == 401, status
        end_rss, peak = rss_kib(pid)
        print(f"function login ({args.profile}): RSS {first_rss / 1024:.1f} MiB after 1 invocation, "
              f"{end_rss / 1024:.1f} MiB after {args.invocations}; peak {peak / 1024:.1f} MiB")
    finally:
        os.killpg(watch.pid, signal.SIGTERM)
        watch.wait(timeout=30)
        if created:
            subprocess.run(["rm", "-rf", ".dompet"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="release", choices=["release", "debug"])
    ap.add_argument("--logins", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--invocations", type=int, default=100)
    ap.add_argument("--no-function", action="store_true")
    args = ap.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    server(args)
    if not args.no_function:
        function(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PostgreSQL's own share of a refresh: what `bench.py` cannot see.

`bench.py` samples the latchkey process only; on PostgreSQL part of every
refresh is spent in another process on the same cores. This runs the
refresh load (`loadgen refresh`, concurrency 32) against a fresh schema and,
over a window after the warm-up, reads the CPU of every `postgres` process
(/proc/<pid>/stat) and the schema's `pg_stat_user_tables` and
`pg_stat_database`, and prints each per refresh (refreshes = rows inserted
into `refresh_tokens` in the window).

    LATCHKEY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \\
        python3 bench/pg_share.py [--alg ES256] [--duration 12] [--options '-cname=value …']

`--options` is added to the server's connection options (URL-encoded here),
e.g. `-csession_preload_libraries=auto_explain -cauto_explain.log_min_duration=0
-cauto_explain.sample_rate=0.02` to log the plans of a sample of statements
to the PostgreSQL server's log. Table columns printed: sequential scans,
rows they read, index scans, inserts, updates, heap-only updates, deletes.
Nothing here is a test: CI does not run it.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

COLUMNS = "seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del"


def postgres_cpu_seconds():
    """utime + stime of every `postgres` process, in seconds."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("postgres"):
                    total += bench.proc_cpu_seconds(pid)
        except OSError:
            continue
    return total


def psql_rows(base, sql):
    out = subprocess.run(["psql", base, "-Atc", sql], capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def stats(base, schema):
    tables = {r[0]: [int(v or 0) for v in r[1:]] for r in psql_rows(
        base, f"SELECT relname, {COLUMNS} FROM pg_stat_user_tables WHERE schemaname = '{schema}'")}
    db = psql_rows(base, "SELECT xact_commit, blks_hit, tup_returned, tup_fetched FROM pg_stat_database "
                         "WHERE datname = current_database()")[0]
    tables["(database: commits, buffer hits, tuples returned, fetched)"] = [int(v) for v in db]
    return tables


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alg", default="RS256")
    ap.add_argument("--duration", type=int, default=12)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--options", default="")
    args = ap.parse_args()
    args.concurrency = 32
    base = os.environ.get("LATCHKEY_TEST_POSTGRES_URL") or sys.exit("set LATCHKEY_TEST_POSTGRES_URL")
    url = bench.fresh_database(tempfile.mkdtemp(), "postgres", base, "pg_share")
    if args.options:
        url += urllib.parse.quote(" " + args.options)
    schema = f"lk_pg_share_{os.getpid()}"
    srv = bench.Server(url, {"LATCHKEY_SIGNING_ALG": args.alg})
    client = bench.first_party(srv, args.concurrency)
    srv.start()
    try:
        result = {}
        load = threading.Thread(target=lambda: result.update(
            r=bench.loadgen("refresh", srv, client, args, args.concurrency, args.concurrency)))
        load.start()
        time.sleep(args.warmup)
        s0, pg0, srv0 = stats(base, schema), postgres_cpu_seconds(), bench.proc_cpu_seconds(srv.pid)
        time.sleep(max(1.0, args.duration - args.warmup - 1))
        s1, pg1, srv1 = stats(base, schema), postgres_cpu_seconds(), bench.proc_cpu_seconds(srv.pid)
        load.join()
    finally:
        srv.stop()
    n = s1["refresh_tokens"][3] - s0["refresh_tokens"][3]
    print(f"refresh {args.alg}: {result['r']['rps']:,.0f}/s, p99 {result['r']['p99_ms']} ms; "
          f"{n} refreshes in the window")
    print(f"CPU per refresh: PostgreSQL {(pg1 - pg0) * 1e6 / n:,.0f} µs, latchkey {(srv1 - srv0) * 1e6 / n:,.0f} µs")
    print(f"per refresh ({COLUMNS}):")
    for name, after in sorted(s1.items()):
        before = s0.get(name, [0] * len(after))
        per = [(b - a) / n for a, b in zip(before, after)]
        if any(per):
            print(f"  {name}: " + ", ".join(f"{v:.3g}" for v in per))


if __name__ == "__main__":
    main()

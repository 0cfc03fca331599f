#!/usr/bin/env python3
"""Two builds of latchkey compared in one run, interleaved: A, B, A, B, …

On a shared two-core machine the speed of the cores drifts by more than the
change being measured (the same `openssl speed` has read 1,300 and 4,600
RSA-2048 signatures per second on different days), so two `bench.py` runs
minutes apart cannot tell a 10 % gain from noise. Here each round runs the
client_credentials baseline and the refresh grant on a fresh database for
each build, back to back, and the figures compared are those of the same
round: server CPU per refresh, that CPU over the round's client_credentials
CPU per token, and the refresh rate over the client_credentials rate.

    python3 bench/ab.py --b /path/to/other/target/release/latchkey
    python3 bench/ab.py --b OTHER --alg ES256 --rounds 5 --duration 10
    LATCHKEY_TEST_POSTGRES_URL=postgres://… python3 bench/ab.py --b OTHER --db postgres

A defaults to this checkout's release binary; the load generator is this
checkout's (`examples/loadgen.rs`) for both. `--big` runs the purge scenario
instead (refresh while the first purge deletes a million expired tokens, on
the fixture database; slow: the fixture is built once per build and round).
Nothing here is a test: CI does not run it and no test asserts a time.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def refresh_round(db_url_for, args):
    """client_credentials then refresh, both signing with `--alg`: one row each."""
    rows = []
    bench.scenario_client_credentials_loadgen(db_url_for("cc"), args, rows, args.alg)
    bench.scenario_refresh(db_url_for("refresh"), args, rows, args.alg)
    cc, rf = rows
    return {
        "cc_rps": cc["ok_rps"], "cc_us": cc["cpu_us_per_ok"],
        "rps": rf["ok_rps"], "p99": rf["p99_ms"], "us": rf["cpu_us_per_ok"],
        "x_cc_cpu": rf["cpu_us_per_ok"] / cc["cpu_us_per_ok"], "x_cc_rate": rf["ok_rps"] / cc["ok_rps"],
    }


def purge_round(db_url_for, args):
    """The --big scenario's refresh during the first purge, then after it."""
    rows = []
    bench.scenarios_big(db_url_for("big"), args, rows)
    during, after = rows[0], rows[1]
    return {
        "rps": during["ok_rps"], "p99": during["p99_ms"], "us": during["cpu_us_per_ok"],
        "after_rps": after["ok_rps"], "after_p99": after["p99_ms"], "after_us": after["cpu_us_per_ok"],
        "p99_x": during["p99_ms"] / after["p99_ms"],
        "purged": during["purge"]["expired_before"] - during["purge"]["expired_after"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", default=bench.BIN, help="latchkey binary A (default: this checkout's release build)")
    ap.add_argument("--b", required=True, help="latchkey binary B")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--alg", default="RS256")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--big", action="store_true", help="the purge scenario on the fixture database")
    ap.add_argument("--big-users", type=int, default=1_000_000)
    ap.add_argument("--big-denied", type=int, default=100_000)
    args = ap.parse_args()
    base = os.environ.get("LATCHKEY_TEST_POSTGRES_URL") if args.db == "postgres" else None
    if args.db == "postgres" and not base:
        sys.exit("--db postgres needs LATCHKEY_TEST_POSTGRES_URL")
    builds = {"A": args.a, "B": args.b}
    results = {"A": [], "B": []}
    step = purge_round if args.big else refresh_round
    print(f"# A = {args.a}\n# B = {args.b}\n# load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            # Alternate which build goes first, so that a drift within a
            # round does not always favour the same one.
            order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
            for name in order:
                bench.BIN = builds[name]
                r = step(lambda tag: bench.fresh_database(tmp, args.db, base, f"ab_{name}{rnd}_{tag}_{int(time.time())}"), args)
                results[name].append(r)
                print(f"round {rnd} {name}: " + " ".join(f"{k}={v:.3g}" for k, v in r.items()), flush=True)
    print()
    keys = list(results["A"][0].keys())
    print("| figure | A (median) | B (median) | B / A |")
    print("|---|---|---|---|")
    for k in keys:
        a = statistics.median(r[k] for r in results["A"])
        b = statistics.median(r[k] for r in results["B"])
        print(f"| {k} | {a:,.3g} | {b:,.3g} | {b / a:.3f} |")


if __name__ == "__main__":
    main()

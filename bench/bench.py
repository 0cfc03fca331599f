#!/usr/bin/env python3
"""latchkey's reproducible benchmark.

One entry point: builds release, starts latchkey on SQLite (and PostgreSQL when
LATCHKEY_TEST_POSTGRES_URL is set), provisions clients and users through the
CLI and HTTP, drives each scenario with a real load generator for a bounded
time, samples the server process's CPU time and peak RSS from /proc, measures
the hardware reference (openssl speed) in the same run, and writes a markdown
table to docs/PERFORMANCE.md.

    python3 bench/bench.py                      # everything, 20 s per scenario
    python3 bench/bench.py --duration 5 --only client_credentials

Load generator: oha (installed with `cargo install oha` when missing).
Nothing here is a test: CI does not run it and no test asserts a time.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "latchkey")
LOADGEN = os.path.join(ROOT, "target", "release", "examples", "loadgen")
PROTECTED_API = os.path.join(ROOT, "target", "release", "examples", "protected_api")
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_AT_START = os.getloadavg()
ANALYSIS_MARKER = "<!-- analysis: kept across runs -->"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$", " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds (proc(5) fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    """A `latchkey serve` process on a database, with its own environment."""

    def __init__(self, db_url, env=None):
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update(
            {
                "LATCHKEY_DATABASE_URL": db_url,
                "LATCHKEY_BIND": f"127.0.0.1:{self.port}",
                "LATCHKEY_ISSUER": self.url,
                "LATCHKEY_LOG_LEVEL": "warn",
            }
        )
        self.env.update(env or {})
        self.proc = None

    def cli(self, *args, stdin=None):
        out = subprocess.run(
            [BIN, *args], env=self.env, input=stdin, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout) if "--json" in args else out.stdout

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen([BIN, "serve"], env=self.env, stdout=subprocess.DEVNULL)
        while True:
            try:
                status, _ = http("GET", self.url + "/health/ready")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("latchkey exited during start")
            if time.monotonic() - t0 > 60:
                raise RuntimeError("latchkey not ready after 60 s")
            time.sleep(0.002)
        self.ready_ms = (time.monotonic() - t0) * 1000
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self):
        return self.proc.pid


def oha(url, duration, concurrency, method="GET", body=None, body_lines=None, headers=(), content_type=None):
    cmd = ["oha", "--no-tui", "--output-format", "json", "-z", f"{duration}s", "-c", str(concurrency), "-m", method]
    for h in headers:
        cmd += ["-H", h]
    if content_type:
        cmd += ["-T", content_type]
    if body is not None:
        cmd += ["-d", body]
    if body_lines is not None:
        cmd += ["-Z", body_lines]
    cmd.append(url)
    log("$", " ".join(c if "Basic" not in c else "-H 'Authorization: Basic …'" for c in cmd))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def measure(server, name, fn):
    """Runs a load, sampling the server's CPU time and peak RSS around it."""
    cpu0 = proc_cpu_seconds(server.pid)
    result = fn()
    cpu1 = proc_cpu_seconds(server.pid)
    summary = result["summary"]
    codes = result.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    total = sum(codes.values())
    rps = summary["requestsPerSec"] * (ok / total if total else 0)
    p99 = result.get("latencyPercentiles", {}).get("p99")
    row = {
        "scenario": name,
        "ok_rps": rps,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "ok": ok,
        "errors": total - ok,
        "server_cpu_s": cpu1 - cpu0,
        "cpu_us_per_ok": (cpu1 - cpu0) / ok * 1e6 if ok else None,
        "peak_rss_mib": proc_status_kib(server.pid, "VmHWM") / 1024,
    }
    log(json.dumps(row))
    return row


def openssl_speed():
    """Single-process signature rates: the hardware reference of this run."""
    out = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "rsa2048", "ecdsap256", "ed25519"],
        capture_output=True, text=True, check=True,
    ).stdout
    ref = {}
    m = re.search(r"^rsa\s+2048 bits\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out, re.M)
    if m:
        ref["rsa2048_sign"], ref["rsa2048_verify"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out, re.M)
    if m:
        ref["p256_sign"], ref["p256_verify"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"^\s*253 bits EdDSA \(Ed25519\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out, re.M)
    if m:
        ref["ed25519_sign"], ref["ed25519_verify"] = float(m.group(1)), float(m.group(2))
    return ref


def basic(client_id, secret):
    return "Authorization: Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def scenario_client_credentials(db_url, alg, args, rows):
    srv = Server(db_url, {"LATCHKEY_SIGNING_ALG": alg})
    client = srv.cli("client", "create", "--name", "bench", "--grant-type", "client_credentials",
                     "--scope", "read", "--json")
    srv.start()
    try:
        auth = basic(client["client_id"], client["client_secret"])
        status, body = http("POST", srv.url + "/v1/oauth/token", b"grant_type=client_credentials",
                            {"Authorization": auth.split(": ", 1)[1],
                             "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, body
        rows.append(measure(srv, f"client_credentials {alg}", lambda: oha(
            srv.url + "/v1/oauth/token", args.duration, args.concurrency, "POST",
            body="grant_type=client_credentials", headers=[auth],
            content_type="application/x-www-form-urlencoded")))
    finally:
        srv.stop()


def first_party(srv, users):
    """A first-party client for password sign-in and refresh, and `users` users
    bench0@example.com … (password `bench-password`), made through the CLI."""
    client = srv.cli("client", "create", "--name", "bench-app", "--first-party",
                     "--grant-type", "password", "--grant-type", "refresh_token",
                     "--scope", "read", "--json")
    for i in range(users):
        srv.cli("user", "create", "--email", f"bench{i}@example.com", "--password-stdin", "--json", stdin="bench-password\n")
    return client


def loadgen(mode, srv, client, args, concurrency, users):
    """Runs the loadgen example (refresh rotation needs a client that replays
    the token each answer returned, which a fixed-URL tool cannot do)."""
    # `--client-secret=…` in one argument: a base64url secret may start with '-'.
    cmd = [LOADGEN, mode, "--url", srv.url, "--client-id", client["client_id"],
           f"--client-secret={client['client_secret']}", "--users", str(users),
           "--concurrency", str(concurrency), "--duration", str(args.duration)]
    log("$", " ".join(cmd[:5]), "…")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    ok, errors = int(fields["ok"]), int(fields["errors"])
    secs = float(fields["duration"].rstrip("s"))
    return {"ok": ok, "errors": errors, "rps": ok / secs, "p99_ms": float(fields["p99"].rstrip("ms"))}


def measure_custom(server, name, fn):
    """As `measure`, for a load generator that reports ok/errors/rps/p99 itself."""
    cpu0 = proc_cpu_seconds(server.pid)
    r = fn()
    cpu1 = proc_cpu_seconds(server.pid)
    row = {
        "scenario": name,
        "ok_rps": r["rps"],
        "p99_ms": r["p99_ms"],
        "ok": r["ok"],
        "errors": r["errors"],
        "server_cpu_s": cpu1 - cpu0,
        "cpu_us_per_ok": (cpu1 - cpu0) / r["ok"] * 1e6 if r["ok"] else None,
        "peak_rss_mib": proc_status_kib(server.pid, "VmHWM") / 1024,
    }
    log(json.dumps(row))
    return row


def scenario_refresh(db_url, args, rows):
    srv = Server(db_url)
    client = first_party(srv, 32)
    srv.start()
    try:
        rows.append(measure_custom(srv, "refresh_token grant (c=32)",
                                   lambda: loadgen("refresh", srv, client, args, 32, 32)))
    finally:
        srv.stop()


def scenario_signin(db_url, args, rows):
    # 64 users, one per connection: 64 concurrent guesses at one username are
    # what the brute-force limiter exists to refuse (every attempt is charged
    # before its password is checked), so one user would measure 429s.
    srv = Server(db_url)
    client = first_party(srv, 64)
    srv.start()
    try:
        rows.append(measure_custom(srv, "POST /v1/signin (Argon2id, c=64)",
                                   lambda: loadgen("signin", srv, client, args, 64, 64)))
    finally:
        srv.stop()


def client_credentials_token(srv, client, extra=""):
    status, body = http("POST", srv.url + "/v1/oauth/token", ("grant_type=client_credentials" + extra).encode(),
                        {"Authorization": basic(client["client_id"], client["client_secret"]).split(": ", 1)[1],
                         "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    return json.loads(body)["access_token"]


def scenario_introspection(db_url, args, rows):
    srv = Server(db_url)
    app = srv.cli("client", "create", "--name", "bench-app", "--grant-type", "client_credentials",
                  "--scope", "read", "--json")
    rs = srv.cli("client", "create", "--name", "bench-api", "--grant-type", "client_credentials", "--json")
    srv.start()
    try:
        token = client_credentials_token(srv, app)
        rows.append(measure(srv, "introspection of an access token", lambda: oha(
            srv.url + "/v1/oauth/introspect", args.duration, args.concurrency, "POST",
            body=f"token={token}", headers=[basic(rs["client_id"], rs["client_secret"])],
            content_type="application/x-www-form-urlencoded")))
    finally:
        srv.stop()


def scenario_protected_api(db_url, args, rows):
    srv = Server(db_url)
    app = srv.cli("client", "create", "--name", "bench-app", "--grant-type", "client_credentials",
                  "--scope", "read", "--json")
    srv.start()
    api_port = free_port()
    env = dict(os.environ, ISSUER=srv.url, AUDIENCE=srv.url, BIND=f"127.0.0.1:{api_port}", RUST_LOG="warn")
    api = subprocess.Popen([PROTECTED_API], env=env, stdout=subprocess.DEVNULL)
    try:
        token = client_credentials_token(srv, app)
        url = f"http://127.0.0.1:{api_port}/me"
        for _ in range(500):
            try:
                if http("GET", url, headers={"Authorization": f"Bearer {token}"})[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.01)

        class Api:
            pid = api.pid
        row = measure(Api, "GET /me on protected_api (latchkey-verify)", lambda: oha(
            url, args.duration, args.concurrency, headers=[f"Authorization: Bearer {token}"]))
        rows.append(row)
    finally:
        api.kill()
        api.wait()
        srv.stop()


def scenario_jwks(db_url, args, rows):
    srv = Server(db_url).start()
    try:
        rows.append(measure(srv, "GET /.well-known/jwks.json", lambda: oha(
            srv.url + "/.well-known/jwks.json", args.duration, args.concurrency)))
    finally:
        srv.stop()


def scenario_idle_and_ready(db_url, rows):
    srv = Server(db_url).start()  # first start: creates keys
    srv.stop()
    srv = Server(db_url).start()  # existing database: what is measured
    try:
        time.sleep(1)
        rows.append({
            "scenario": "idle",
            "ready_ms": srv.ready_ms,
            "idle_rss_mib": proc_status_kib(srv.pid, "VmRSS") / 1024,
        })
        log(json.dumps(rows[-1]))
    finally:
        srv.stop()


def markdown(rows, ref, args, started):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = [
        "# Performance",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `python3 bench/bench.py {' '.join(sys.argv[1:])}`",
        f"on {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()};",
        f"load generator on the same machine: oha, {args.concurrency} connections, {args.duration} s per scenario.",
        f"Load average when the run started: {LOAD_AT_START[0]:.2f} (1 min); other work on the machine competes "
        "for the same 2 cores, so absolute rates are lower bounds; the CPU-per-request ratios hold.",
        "",
        "Hardware reference in the same run (`openssl speed -seconds 3 rsa2048 ecdsap256 ed25519`, one process):",
        "",
        "| operation | sign/s | verify/s |",
        "|---|---|---|",
    ]
    for name, key in (("RSA-2048", "rsa2048"), ("ECDSA P-256", "p256"), ("Ed25519", "ed25519")):
        if f"{key}_sign" in ref:
            lines.append(f"| {name} | {ref[key + '_sign']:,.0f} | {ref[key + '_verify']:,.0f} |")
    lines += ["", "Refresh tokens are rotated by `examples/loadgen.rs` (each request replays the token the previous "
              "answer returned, which a fixed-URL tool cannot do); every other scenario is driven by oha.",
              "", "| scenario | database | ok req/s | p99 ms | server CPU µs/req | peak RSS MiB | errors |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "ok_rps" not in r:
            continue
        p99 = f"{r['p99_ms']:.1f}" if r.get("p99_ms") is not None else "–"
        cpu_us = f"{r['cpu_us_per_ok']:.0f}" if r.get("cpu_us_per_ok") else "–"
        lines.append(f"| {r['scenario']} | {r['db']} | {r['ok_rps']:,.0f} | {p99} | {cpu_us} | "
                     f"{r['peak_rss_mib']:.0f} | {r['errors']} |")
    lines.append("")
    for r in rows:
        if r["scenario"] == "idle":
            lines += [f"Idle RSS after start on an existing {r['db']} database: {r['idle_rss_mib']:.1f} MiB; "
                          f"ready {r['ready_ms']:.0f} ms after spawn."]
    rs = [r for r in rows if r["scenario"] == "client_credentials RS256" and r.get("cpu_us_per_ok")]
    if rs and "rsa2048_sign" in ref:
        floor = 1e6 / ref["rsa2048_sign"]
        for r in rs:
            lines.append(f"client_credentials RS256 on {r['db']}: {r['cpu_us_per_ok']:.0f} µs of server CPU per token "
                         f"= {r['cpu_us_per_ok'] / floor:.2f} × one openssl RSA-2048 signature ({floor:.0f} µs).")
    lines += ["", "## Targets (issue 7)", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in targets(rows, ref):
        lines.append("| " + " | ".join(t) + " |")
    return "\n".join(lines) + "\n"


def targets(rows, ref):
    """Each target of the benchmark issue with this run's figure."""
    def find(scenario, db="sqlite"):
        return next((r for r in rows if r["scenario"].startswith(scenario) and r.get("db") == db), None)

    out = []

    def add(name, goal, value, ok, fmt):
        out.append((name, goal, fmt.format(value) if value is not None else "not run",
                    "–" if value is None else ("yes" if ok else "**no**")))

    r = find("client_credentials RS256")
    if r and r.get("cpu_us_per_ok") and "rsa2048_sign" in ref:
        ratio = r["cpu_us_per_ok"] / (1e6 / ref["rsa2048_sign"])
        add("client_credentials RS256: server CPU per token / one openssl RSA-2048 signature", "≤ 1.15",
            ratio, ratio <= 1.15, "{:.2f}")
    r = find("client_credentials EdDSA")
    add("client_credentials EdDSA", "≥ 25,000/s", r and r["ok_rps"], bool(r) and r["ok_rps"] >= 25000, "{:,.0f}/s")
    for db, goal in (("sqlite", 4000), ("postgres", 3000)):
        r = find("refresh_token grant", db)
        add(f"refresh_token grant, {db}", f"≥ {goal:,}/s", r and r["ok_rps"], bool(r) and r["ok_rps"] >= goal, "{:,.0f}/s")
        add(f"refresh_token grant p99, {db}", "≤ 20 ms", r and r["p99_ms"], bool(r) and r["p99_ms"] <= 20, "{:.1f} ms")
    r = find("POST /v1/signin")
    cores = os.cpu_count() or 1
    add("/v1/signin (Argon2id m=19 MiB t=2)", f"close to ≈ 70/s per core ({70 * cores}/s)", r and r["ok_rps"],
        bool(r) and r["ok_rps"] >= 0.8 * 70 * cores, "{:,.0f}/s")
    add("/v1/signin peak RSS at concurrency 64", "bounded (≤ 64 MiB)", r and r["peak_rss_mib"],
        bool(r) and r["peak_rss_mib"] <= 64, "{:.0f} MiB")
    r = find("introspection")
    add("introspection of access tokens", "≥ 20,000/s", r and r["ok_rps"], bool(r) and r["ok_rps"] >= 20000, "{:,.0f}/s")
    r = find("GET /me")
    add("GET /me on protected_api", "≥ 25,000/s", r and r["ok_rps"], bool(r) and r["ok_rps"] >= 25000, "{:,.0f}/s")
    r = find("idle")
    add("idle RSS", "≤ 20 MiB", r and r["idle_rss_mib"], bool(r) and r["idle_rss_mib"] <= 20, "{:.1f} MiB")
    add("ready after start, existing database", "≤ 100 ms", r and r["ready_ms"], bool(r) and r["ready_ms"] <= 100, "{:.0f} ms")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--only", action="append", help="run only these scenarios")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"))
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)

    if not shutil.which("oha"):
        run(["cargo", "install", "oha", "--locked"])
    if not args.no_build:
        run(["cargo", "build", "--release", "-p", "latchkey", "--bin", "latchkey", "--example", "loadgen"], cwd=ROOT)
        run(["cargo", "build", "--release", "-p", "latchkey-verify", "--example", "protected_api"], cwd=ROOT)

    ref = openssl_speed()
    log("openssl:", ref)
    rows = []
    dbs = [("sqlite", None)]
    pg = os.environ.get("LATCHKEY_TEST_POSTGRES_URL")
    if pg:
        dbs.append(("postgres", pg))
    want = lambda name: not args.only or name in args.only
    with tempfile.TemporaryDirectory() as tmp:
        for db, base in dbs:
            def fresh(tag):
                if db == "sqlite":
                    return f"sqlite://{tmp}/{tag}.db"
                schema = f"lk_bench_{tag.lower()}_{os.getpid()}"
                subprocess.run(["psql", base, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"],
                               check=True, capture_output=True)
                sep = "&" if "?" in base else "?"
                return f"{base}{sep}options=-csearch_path%3D{schema}"
            n0 = len(rows)
            if want("client_credentials"):
                for alg in ("RS256", "ES256", "EdDSA"):
                    scenario_client_credentials(fresh(f"cc_{alg}"), alg, args, rows)
            if want("refresh"):
                scenario_refresh(fresh("refresh"), args, rows)
            if want("signin"):
                scenario_signin(fresh("signin"), args, rows)
            if want("introspection") and db == "sqlite":
                scenario_introspection(fresh("introspect"), args, rows)
            if want("protected_api") and db == "sqlite":
                scenario_protected_api(fresh("me"), args, rows)
            if want("jwks"):
                scenario_jwks(fresh("jwks"), args, rows)
            if want("idle"):
                scenario_idle_and_ready(fresh("idle"), rows)
            for r in rows[n0:]:
                r["db"] = db
    doc = markdown(rows, ref, args, started)
    print(doc)
    if not args.only:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        # The hand-written analysis below the marker survives a new run.
        tail = ""
        if os.path.exists(args.out):
            with open(args.out) as f:
                old = f.read()
            if ANALYSIS_MARKER in old:
                tail = "\n" + old[old.index(ANALYSIS_MARKER):]
        with open(args.out, "w") as f:
            f.write(doc + tail)
        log("wrote", args.out)


if __name__ == "__main__":
    main()

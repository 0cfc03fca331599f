//! A small load generator for the flows a fixed-URL tool (oha, wrk) cannot
//! drive: each refresh consumes its token, so every worker replays the token
//! its previous request returned.
//!
//! ```sh
//! cargo run --release -p latchkey --example loadgen -- refresh \
//!     --url http://127.0.0.1:8080 --client-id ID --client-secret SECRET \
//!     --users 32 --concurrency 32 --duration 20
//! ```
//!
//! `refresh`: every worker signs in once as `bench<N>@example.com` (password
//! `bench-password`), then refreshes in a loop for `--duration` seconds.
//! `signin`: every worker signs in in a loop. `client-credentials`: the
//! baseline without database writes, through the same client and HTTP stack
//! as `refresh`, so that their ratio compares like with like.
//! `introspect`: introspects `--token` in a loop (the client is the
//! resource server). `argon2`: no server; hashes with latchkey's own
//! `PasswordHasher` (default parameters) on `--hashers` threads at once for
//! `--duration` seconds: the reference a sign-in's CPU is compared to. One
//! hasher is a hash alone; as many as the server's hashing threads (one per
//! core by default) is a hash as the server runs it, beside another that
//! shares the caches and the memory bus.
//! Prints requests/s and latency percentiles of the measured requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Refresh,
    Signin,
    /// `client_credentials`, for a baseline without database writes.
    ClientCredentials,
    /// RFC 7662 introspection of `--token`.
    Introspect,
    /// Argon2id hashes on `--hashers` threads, no server.
    Argon2,
}

#[derive(Debug, Parser)]
struct Args {
    mode: Mode,
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, default_value = "")]
    client_id: String,
    #[arg(long, default_value = "")]
    client_secret: String,
    /// The access token `introspect` asks about.
    #[arg(long, default_value = "")]
    token: String,
    /// Users bench0@example.com … bench<users-1>@example.com must exist.
    #[arg(long, default_value_t = 32)]
    users: usize,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// `argon2`: hashes running at once, each on its own thread.
    #[arg(long, default_value_t = 1)]
    hashers: usize,
}

pub const PASSWORD: &str = "bench-password";

struct Ctx {
    http: reqwest::Client,
    args: Args,
}

impl Ctx {
    async fn signin(&self, user: usize) -> Result<String, String> {
        let resp = self
            .http
            .post(format!("{}/v1/signin", self.args.url))
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .json(&serde_json::json!({
                "username": format!("bench{user}@example.com"),
                "password": PASSWORD,
                "scope": "read",
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        token_of(resp).await
    }

    async fn client_credentials(&self) -> Result<String, String> {
        let resp = self
            .http
            .post(format!("{}/v1/oauth/token", self.args.url))
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        token_of(resp).await
    }

    async fn introspect(&self) -> Result<String, String> {
        let resp = self
            .http
            .post(format!("{}/v1/oauth/introspect", self.args.url))
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .form(&[("token", self.args.token.as_str())])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        if status != 200 || body["active"] != true {
            return Err(format!("{status}: {body}"));
        }
        Ok(String::new())
    }

    async fn refresh(&self, token: &str) -> Result<String, String> {
        let resp = self
            .http
            .post(format!("{}/v1/oauth/token", self.args.url))
            .basic_auth(&self.args.client_id, Some(&self.args.client_secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        token_of(resp).await
    }
}

async fn token_of(resp: reqwest::Response) -> Result<String, String> {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    Ok(body["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Hashes for `duration` seconds on `hashers` threads at once; prints
/// hashes/s and CPU per hash.
async fn argon2(duration: u64, hashers: usize) {
    let s = latchkey::config::Settings::default();
    let hasher = latchkey::core::password::PasswordHasher::new(
        s.password_hash_memory_kib,
        s.password_hash_iterations,
        s.password_hash_parallelism,
        hashers,
    )
    .unwrap();
    let password = latchkey::core::secret::Secret::new(PASSWORD);
    let stored: Arc<str> = hasher.hash(&password).await.unwrap().into();
    let deadline = Instant::now() + Duration::from_secs(duration);
    let started = Instant::now();
    let cpu0 = process_cpu_seconds();
    let mut loops = Vec::new();
    for _ in 0..hashers.max(1) {
        let (hasher, password, stored) = (hasher.clone(), password.clone(), stored.clone());
        loops.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                hasher.verify(&password, Some(&stored)).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut n = 0u64;
    for l in loops {
        n += l.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu0;
    // CPU time, not wall time: on a machine shared with other work a hash
    // takes longer to finish but not more CPU, and the server's CPU per
    // sign-in is what it is compared with.
    println!(
        "mode=Argon2 m={}KiB t={} p={} hashers={hashers} duration={elapsed:.1}s ok={n} errors=0 rps={:.1} us_per_hash={:.0} p99=0ms",
        s.password_hash_memory_kib,
        s.password_hash_iterations,
        s.password_hash_parallelism,
        n as f64 / elapsed,
        cpu * 1e6 / n as f64,
    );
}

/// utime + stime of this process (proc(5)), seconds; clock ticks of 10 ms.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if matches!(args.mode, Mode::Argon2) {
        argon2(args.duration, args.hashers).await;
        return;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let ctx = Arc::new(Ctx { http, args });
    // Step 1 (refresh): one family per worker, before the clock starts.
    let mut tokens = Vec::new();
    for w in 0..ctx.args.concurrency {
        tokens.push(match ctx.args.mode {
            Mode::Refresh => ctx
                .signin(w % ctx.args.users)
                .await
                .expect("initial sign-in"),
            Mode::Signin | Mode::ClientCredentials | Mode::Introspect | Mode::Argon2 => {
                String::new()
            }
        });
    }
    // Step 2: the measured run. The line on stderr tells a driver sampling
    // the server's CPU (bench/bench.py) that the set-up sign-ins are over.
    eprintln!("measuring");
    let deadline = Instant::now() + Duration::from_secs(ctx.args.duration);
    let mut workers = Vec::new();
    for (w, token) in tokens.into_iter().enumerate() {
        let ctx = ctx.clone();
        workers.push(tokio::spawn(async move {
            let user = w % ctx.args.users;
            let mut latencies: Vec<u32> = Vec::with_capacity(200_000);
            let mut errors = 0u64;
            let mut token = token;
            while Instant::now() < deadline {
                let start = Instant::now();
                let result = match ctx.args.mode {
                    Mode::Refresh => ctx.refresh(&token).await,
                    Mode::Signin => ctx.signin(user).await,
                    Mode::ClientCredentials => ctx.client_credentials().await,
                    Mode::Introspect => ctx.introspect().await,
                    Mode::Argon2 => Ok(String::new()),
                };
                let micros = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                match result {
                    Ok(next) => {
                        latencies.push(micros);
                        if matches!(ctx.args.mode, Mode::Refresh) {
                            token = next;
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("worker {w}: {e}");
                        }
                        if matches!(ctx.args.mode, Mode::Refresh) {
                            token = ctx.signin(user).await.unwrap_or_default();
                        }
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
            f64::from(all[i]) / 1000.0
        }
    };
    println!(
        "mode={:?} concurrency={} duration={:.1}s ok={} errors={} rps={:.0} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        ctx.args.mode,
        ctx.args.concurrency,
        elapsed,
        all.len(),
        errors,
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
    );
}

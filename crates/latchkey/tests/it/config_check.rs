//! `latchkey config check` as a binary: the file, the environment and the
//! flags as `serve` reads them, secrets masked, every bad setting named.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `latchkey config check` with exactly `env` (no `LATCHKEY_*` from the
/// test's own environment) and `args`.
fn check(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCHKEY_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["config", "check"])
        .args(args)
        .envs(env.iter().copied());
    cmd.output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("latchkey.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_good_configuration_is_printed_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        r#"
issuer = "https://id.example.com/"
database_url = "postgres://latchkey:hunter2@db.example.com:5432/latchkey?sslmode=require"
access_token_ttl_seconds = 300
"#,
    );
    let env = [
        ("LATCHKEY_ACCESS_TOKEN_TTL_SECONDS", "600"),
        ("LATCHKEY_SIGNIN_MAX_FAILURES_PER_USERNAME", "5"),
    ];
    let out = check(
        &env,
        &["--config", &file, "--bind", "0.0.0.0:9443", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["valid"], true);
    assert_eq!(report["errors"], serde_json::json!([]));
    let s = &report["settings"];
    // The file, overridden by the environment, overridden by the flags; the
    // issuer normalised as serve would.
    assert_eq!(s["issuer"], "https://id.example.com");
    assert_eq!(s["access_token_ttl_seconds"], 600);
    assert_eq!(s["signin_max_failures_per_username"], 5);
    assert_eq!(s["bind"], "0.0.0.0:9443");
    assert_eq!(
        s["database_url"],
        "postgres://latchkey:****@db.example.com:5432/latchkey?sslmode=require"
    );
    assert_eq!(s["tls_cert_file"], Value::Null);
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!all.contains("hunter2"), "{all}");

    // The same as text: a setting per line.
    let out = check(&env, &["--config", &file]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("issuer = \"https://id.example.com\""),
        "{text}"
    );
    assert!(text.contains("access_token_ttl_seconds = 600"), "{text}");
    assert!(text.contains("# tls_cert_file is unset"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn password_parameters_of_urls_are_masked_too() {
    let out = check(
        &[(
            "LATCHKEY_DATABASE_URL",
            "postgres://db.example.com/latchkey?user=lk&password=s3cret&sslmode=require",
        )],
        &["--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = json(&out)["settings"]["database_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!url.contains("s3cret"), "{url}");
    assert!(
        url.contains("password=****") || url.contains("password=%2A%2A%2A%2A"),
        "{url}"
    );
    assert!(url.contains("user=lk"), "{url}");
}

#[test]
fn every_bad_setting_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        r#"
access_token_ttl_seconds = -1
log_format = "xml"
acess_token_ttl_seconds = 60
signing_alg = "HS256"
tls_cert_file = "/etc/latchkey/cert.pem"
issuer = "ftp://id.example.com"
"#,
    );
    let env = [
        ("LATCHKEY_REFRESH_REUSE_GRACE_SECONDS", "soon"),
        ("LATCHKEY_TRUSTED_PROXIES", "10.0.0.1, proxy.example.com"),
        (
            "LATCHKEY_DATABASE_URL",
            "postgres://lk:hunter2@db.example.com/latchkey",
        ),
    ];
    let out = check(&env, &["--config", &file, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["valid"], false);
    assert!(report.get("settings").is_none());
    let mut named: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["setting"].as_str().unwrap())
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            "access_token_ttl_seconds",
            "acess_token_ttl_seconds",
            "issuer",
            "log_format",
            "refresh_reuse_grace_seconds",
            "signing_alg",
            "tls_key_file",
            "trusted_proxies",
        ]
    );

    // As text: on stderr, one line per bad setting, nothing secret.
    let out = check(&env, &["--config", &file]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for setting in named {
        assert!(
            stderr.contains(&format!("  {setting}: ")),
            "{setting}: {stderr}"
        );
    }
    assert!(stderr.contains("8 bad settings"), "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !String::from_utf8_lossy(&out.stdout).contains("hunter2")
    );

    // serve refuses the same configuration, naming every bad setting too.
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["--config", &file, "serve"])
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log_format") && stderr.contains("signing_alg"),
        "{stderr}"
    );
}

#[test]
fn tls_files_are_checked_as_serve_would_load_them() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let env = |cert: &Path, key: &Path| {
        [
            ("LATCHKEY_TLS_CERT_FILE", cert.to_str().unwrap().to_owned()),
            ("LATCHKEY_TLS_KEY_FILE", key.to_str().unwrap().to_owned()),
        ]
    };
    let good = env(&cert, &key);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = check(&good, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    // A path is not a secret; the key itself is never read into the output.
    assert_eq!(report["settings"]["tls_key_file"], key.to_str().unwrap());
    let key_line = issued
        .signing_key
        .serialize_pem()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key_line));

    let missing = dir.path().join("missing.pem");
    let bad = env(&cert, &missing);
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = check(&bad, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["errors"][0]["setting"], "tls_key_file");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("missing.pem")
    );
}

//! The CLI, run as a binary against each backend (docs/operations.md).

use serde_json::Value;

both_backends! {
    async fn client_create_list_show_delete(db) {
        let created = db.cli_json(&[
            "client", "create", "--name", "billing",
            "--grant-type", "client_credentials", "--scope", "read", "--scope", "write",
            "--audience", "https://api.example.com", "--json",
        ]);
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap();
        assert!(secret.len() >= 43, "at least 256 bits");

        let public = db.cli_json(&[
            "client", "create", "--name", "spa", "--public",
            "--redirect-uri", "http://127.0.0.1:3000/callback", "--json",
        ]);
        assert!(public.get("client_secret").is_none(), "a public client has no secret");
        let public_id = public["client_id"].as_str().unwrap().to_owned();

        let list = db.cli_json(&["client", "list", "--json"]);
        let mut ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
        ids.sort();
        let mut expected = [id.as_str(), public_id.as_str()];
        expected.sort();
        assert_eq!(ids, expected);

        let shown = db.cli_json(&["client", "show", &id, "--json"]);
        assert_eq!(shown["name"], "billing");
        assert_eq!(shown["scope"], "read write");
        assert_eq!(shown["grant_types"], serde_json::json!(["client_credentials"]));
        assert_eq!(shown["audiences"], serde_json::json!(["https://api.example.com"]));
        assert_eq!(shown["public"], false);
        let text = serde_json::to_string(&shown).unwrap();
        assert!(!text.contains(secret), "the secret is shown once, at creation");
        assert!(!text.contains("secret_hash"));

        let shown = db.cli_json(&["client", "show", &public_id, "--json"]);
        assert_eq!(shown["public"], true);
        assert_eq!(shown["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));

        let deleted = db.cli_json(&["client", "delete", &id, "--json"]);
        assert_eq!(deleted["deleted"], true);
        let out = db.cli(&["client", "show", &id, "--json"]);
        assert!(!out.status.success());
        let out = db.cli(&["client", "delete", &id]);
        assert!(!out.status.success());
        let list = db.cli_json(&["client", "list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 1);
    }
}

both_backends! {
    async fn bad_arguments_fail_cleanly(db) {
        let out = db.cli(&["client", "create", "--name", "x", "--grant-type", "implicit"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("grant"));
        let out = db.cli(&["client", "create", "--name", "x", "--redirect-uri", "not a url"]);
        assert!(!out.status.success());
        let out = db.cli(&["client", "create", "--name", "x", "--public", "--grant-type", "client_credentials"]);
        assert!(!out.status.success());
        // Nothing was created by the failures.
        let list: Value = db.cli_json(&["client", "list", "--json"]);
        assert!(list.as_array().unwrap().is_empty());
    }
}

both_backends! {
    async fn migrate_and_keys(db) {
        let out = db.cli(&["migrate"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let keys = db.cli_json(&["keys", "list", "--json"]);
        let states: Vec<&str> = keys.as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
        assert_eq!(states.len(), 2);
        assert!(states.contains(&"current") && states.contains(&"next"));
        let rotated = db.cli_json(&["keys", "rotate", "--json"]);
        let keys = db.cli_json(&["keys", "list", "--json"]);
        let state_of = |kid: &Value| {
            keys.as_array().unwrap().iter().find(|k| &k["kid"] == kid).unwrap()["state"].as_str().unwrap().to_owned()
        };
        assert_eq!(state_of(&rotated["retired"]), "retired");
        assert_eq!(state_of(&rotated["current"]), "current");
        assert_eq!(state_of(&rotated["next"]), "next");
        for k in keys.as_array().unwrap() {
            assert!(k.get("private_key").is_none());
        }
    }
}

both_backends! {
    /// `user create --password-stdin` strips exactly the line ending.
    async fn user_create_reads_password_from_stdin(db) {
        use latchkey::core::users::UserStore as _;
        let out = db.cli_with_stdin(
            &["user", "create", "--email", "alice@example.com", "--name", "Alice", "--role", "admin", "--password-stdin", "--json"],
            Some("  correct horse battery  \r\n"),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let created: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(created["email"], "alice@example.com");
        let id = created["id"].as_str().unwrap();

        let store = db.store().await;
        let user = store.get_user(&id.into()).await.unwrap().unwrap();
        assert_eq!(user.roles, ["admin"]);
        assert!(user.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let hasher = latchkey::core::password::PasswordHasher::new(19456, 2, 1, 1).unwrap();
        let ok = hasher
            .verify(&latchkey::core::secret::Secret::new("  correct horse battery  "), Some(&user.password_hash))
            .await
            .unwrap();
        assert_eq!(ok, latchkey::core::password::Verified::Yes);

        // The same email in another case is refused; a short password too.
        let dup = db.cli_with_stdin(&["user", "create", "--email", "ALICE@example.com", "--password-stdin"], Some("another password\n"));
        assert!(!dup.status.success());
        let short = db.cli_with_stdin(&["user", "create", "--email", "bob@example.com", "--password-stdin"], Some("short\n"));
        assert!(!short.status.success());
        let list = db.cli_json(&["user", "list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(!serde_json::to_string(&list).unwrap().contains("argon2"));
    }
}

/// `log_format`: TOML < `LATCHKEY_LOG_FORMAT` < `--log-format`, checked.
#[test]
fn log_format_flag_wins_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let run = |env_format: &str, flag: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"));
        if let Some(f) = flag {
            cmd.args(["--log-format", f]);
        }
        cmd.args(["client", "list", "--json"])
            .env("LATCHKEY_DATABASE_URL", &url)
            .env("LATCHKEY_LOG_LEVEL", "debug")
            .env("LATCHKEY_LOG_FORMAT", env_format)
            .output()
            .unwrap()
    };
    let json = run("text", Some("json"));
    assert!(json.status.success());
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert!(stderr.lines().count() > 0, "debug logs something");
    for line in stderr.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let text = run("json", Some("text"));
    assert!(text.status.success());
    assert!(!String::from_utf8_lossy(&text.stderr).starts_with('{'));
    let env_only = run("json", None);
    assert!(String::from_utf8_lossy(&env_only.stderr).starts_with('{'));
    let bad = run("text", Some("yaml"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("log_format"));
}

both_backends! {
    /// A database that applied migration 0003 before its comments were
    /// reworded is accepted (its recorded checksum is updated), while any
    /// other change to an applied migration is still refused.
    async fn migrate_accepts_a_reworded_migration_only(db) {
        const EARLIER_0003: &str = "0a016abb5a71aaf769c809d8f1cf51068859656e6ffa946420b9c50ae3237fbb908c1ca9a98d342a544ad29cd28e52ca";
        let out = db.cli(&["migrate"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        set_checksum_of_0003(&db, EARLIER_0003).await;
        let out = db.cli(&["migrate"]);
        assert!(out.status.success(), "the earlier text of 0003 is accepted: {}", String::from_utf8_lossy(&out.stderr));
        let out = db.cli(&["migrate"]);
        assert!(out.status.success(), "and stays accepted: {}", String::from_utf8_lossy(&out.stderr));
        set_checksum_of_0003(&db, "00").await;
        let out = db.cli(&["migrate"]);
        assert!(!out.status.success(), "any other text of an applied migration is refused");
    }
}

/// Records `hex` as the checksum of applied migration 0003, as a database
/// migrated by another text of it would have.
async fn set_checksum_of_0003(db: &crate::common::TestDb, hex: &str) {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let sql = "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 3";
    match db.backend {
        crate::common::Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            sqlx::query(sql).bind(bytes).execute(&mut c).await.unwrap();
        }
        crate::common::Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            sqlx::query(sql).bind(bytes).execute(&mut c).await.unwrap();
        }
    }
}

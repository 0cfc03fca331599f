//! `latchkey user …`.

use std::io::BufRead as _;
use std::process::ExitCode;

use super::{open_store, output};
use crate::config::Settings;
use crate::core::accounts;
use crate::core::admin::{Actor, Admin, UserPatch, UserView};
use crate::core::audit::Kind;
use crate::core::clock::{Clock as _, SystemClock};
use crate::core::password::PasswordHasher;
use crate::core::secret::Secret;
use crate::core::users::{NewUser, User, UserStore as _};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin.
    Create(CreateArgs),
    /// List users.
    List(JsonFlag),
    /// Disable a user: sign-ins are refused and every refresh token of the
    /// user is revoked at once.
    Disable(IdArgs),
    /// Revoke every refresh token of a user, who may sign in again.
    RevokeSessions(IdArgs),
    /// Show one user.
    Show(IdArgs),
    /// Set a user's password (read from stdin); every session and refresh
    /// token of the user ends.
    SetPassword(PasswordArgs),
    /// Enable a disabled user.
    Enable(IdArgs),
    /// Mark a user's e-mail address verified.
    VerifyEmail(IdArgs),
    /// Delete a user and every row that names them (docs/accounts.md).
    Delete(IdArgs),
    /// Replace a user's roles (`--role admin` makes an administrator, who
    /// may use the console and the admin API; no `--role` removes all).
    SetRoles(RolesArgs),
}

#[derive(Debug, Args)]
pub struct RolesArgs {
    /// The user's id (or email address).
    id: String,
    /// A role (repeatable); the user's roles become exactly these.
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The user's id (or email address).
    id: String,
    /// Read the password from the first line of stdin (its newline stripped).
    #[arg(long, required = true)]
    password_stdin: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The user's id (or email address).
    id: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: Option<String>,
    /// A role, carried in the user's access tokens (repeatable).
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    /// Read the password from the first line of stdin (its newline stripped).
    #[arg(long, required = true)]
    password_stdin: bool,
    #[arg(long)]
    json: bool,
}

/// Reads one line from stdin and strips its line ending (`\n` or `\r\n`), and
/// nothing else: spaces are part of a password.
fn read_password_line() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(Secret::new(line))
}

/// Creates a user with a hashed password.
pub async fn create(
    store: &crate::store::Store,
    settings: &Settings,
    new: NewUser,
    password: &Secret,
) -> anyhow::Result<User> {
    let hasher = PasswordHasher::new(
        settings.password_hash_memory_kib,
        settings.password_hash_iterations,
        settings.password_hash_parallelism,
        1,
    )?;
    let hash = hasher.hash(password).await?;
    let user = new.build(hash, SystemClock.now())?;
    store.insert_user(&user).await?;
    Ok(user)
}

pub async fn run(settings: Settings, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(&settings).await?;
    match cmd {
        UserCommand::Create(a) => {
            let password = read_password_line()?;
            let new = NewUser {
                email: a.email,
                name: a.name,
                roles: a.roles,
                unverified: false,
            };
            let user = create(&store, &settings, new, &password).await?;
            super::audit_cli(&store, Kind::UserCreate, |e| e.user(user.id.as_str())).await?;
            if a.json {
                output::json(&serde_json::json!({"id": user.id, "email": user.email}))?;
            } else {
                output::fields(&[("id", user.id.to_string()), ("email", user.email.clone())]);
            }
        }
        UserCommand::List(f) => {
            let users = accounts::list_users(&store).await?;
            let views: Vec<UserView> = users.iter().map(UserView::from).collect();
            if f.json {
                output::json(&views)?;
            } else {
                for v in &views {
                    println!(
                        "{}  {}{}",
                        v.id,
                        v.email,
                        if v.disabled { "  (disabled)" } else { "" }
                    );
                }
            }
        }
        UserCommand::Disable(a) => {
            let user = find(&store, &a.id).await?;
            let revoked = accounts::disable(&store, &user.id, SystemClock.now())
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user {:?}", a.id))?;
            super::audit_cli(&store, Kind::UserDisable, |e| {
                e.user(user.id.as_str()).detail(format!(
                    "{} refresh-token families revoked",
                    revoked.refresh_families
                ))
            })
            .await?;
            let view = serde_json::json!({
                "id": user.id,
                "email": user.email,
                "disabled": true,
                "revoked_refresh_token_families": revoked.refresh_families,
                "ended_browser_sessions": revoked.browser_sessions,
            });
            if a.json {
                output::json(&view)?;
            } else {
                output::fields(&[
                    ("id", user.id.to_string()),
                    ("disabled", "true".into()),
                    (
                        "revoked refresh-token families",
                        revoked.refresh_families.to_string(),
                    ),
                    (
                        "ended browser sessions",
                        revoked.browser_sessions.to_string(),
                    ),
                ]);
            }
        }
        UserCommand::RevokeSessions(a) => {
            let user = find(&store, &a.id).await?;
            let revoked = accounts::revoke_sessions(&store, &user.id, SystemClock.now()).await?;
            super::audit_cli(&store, Kind::UserRevokeSessions, |e| {
                e.user(user.id.as_str()).detail(format!(
                    "{} refresh-token families revoked",
                    revoked.refresh_families
                ))
            })
            .await?;
            let view = serde_json::json!({
                "id": user.id,
                "email": user.email,
                "revoked_refresh_token_families": revoked.refresh_families,
                "ended_browser_sessions": revoked.browser_sessions,
            });
            if a.json {
                output::json(&view)?;
            } else {
                output::fields(&[
                    ("id", user.id.to_string()),
                    (
                        "revoked refresh-token families",
                        revoked.refresh_families.to_string(),
                    ),
                    (
                        "ended browser sessions",
                        revoked.browser_sessions.to_string(),
                    ),
                ]);
            }
        }
        UserCommand::Show(a) => {
            let user = find(&store, &a.id).await?;
            print_user(&UserView::from(&user), a.json)?;
        }
        UserCommand::SetPassword(a) => {
            let password = read_password_line()?;
            let user = find(&store, &a.id).await?;
            let hasher = PasswordHasher::new(
                settings.password_hash_memory_kib,
                settings.password_hash_iterations,
                settings.password_hash_parallelism,
                1,
            )?;
            let revoked = accounts::set_password(
                &store,
                &settings,
                &hasher,
                &user.id,
                &password,
                SystemClock.now(),
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user {:?}", a.id))?;
            super::audit_cli(&store, Kind::UserSetPassword, |e| e.user(user.id.as_str())).await?;
            let view = serde_json::json!({
                "id": user.id,
                "email": user.email,
                "revoked_refresh_token_families": revoked.refresh_families,
                "ended_browser_sessions": revoked.browser_sessions,
            });
            if a.json {
                output::json(&view)?;
            } else {
                output::fields(&[
                    ("id", user.id.to_string()),
                    ("password", "set".into()),
                    (
                        "revoked refresh-token families",
                        revoked.refresh_families.to_string(),
                    ),
                    (
                        "ended browser sessions",
                        revoked.browser_sessions.to_string(),
                    ),
                ]);
            }
        }
        UserCommand::Enable(a) => {
            let user = find(&store, &a.id).await?;
            accounts::enable(&store, &user.id, SystemClock.now()).await?;
            super::audit_cli(&store, Kind::UserEnable, |e| e.user(user.id.as_str())).await?;
            let user = find(&store, user.id.as_str()).await?;
            print_user(&UserView::from(&user), a.json)?;
        }
        UserCommand::VerifyEmail(a) => {
            let user = find(&store, &a.id).await?;
            accounts::mark_verified(&store, &user.id, SystemClock.now()).await?;
            super::audit_cli(&store, Kind::UserVerifyEmail, |e| e.user(user.id.as_str())).await?;
            let user = find(&store, user.id.as_str()).await?;
            print_user(&UserView::from(&user), a.json)?;
        }
        UserCommand::SetRoles(a) => {
            let user = find(&store, &a.id).await?;
            let admin = Admin::new(&store, &settings, SystemClock.now(), Actor::Cli);
            let view = admin
                .update_user(
                    user.id.as_str(),
                    UserPatch {
                        roles: Some(a.roles),
                        ..UserPatch::default()
                    },
                )
                .await?;
            print_user(&view, a.json)?;
        }
        UserCommand::Delete(a) => {
            let user = find(&store, &a.id).await?;
            if !accounts::delete(&store, &user.id).await? {
                anyhow::bail!("no user {:?}", a.id);
            }
            super::audit_cli(&store, Kind::UserDelete, |e| e.user(user.id.as_str())).await?;
            if a.json {
                output::json(&serde_json::json!({"id": user.id, "deleted": true}))?;
            } else {
                output::fields(&[("id", user.id.to_string()), ("deleted", "true".into())]);
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn print_user(v: &UserView, json: bool) -> anyhow::Result<()> {
    if json {
        output::json(v)?;
    } else {
        output::fields(&[
            ("id", v.id.clone()),
            ("email", v.email.clone()),
            ("name", v.name.clone().unwrap_or_default()),
            ("roles", v.roles.join(" ")),
            ("disabled", v.disabled.to_string()),
            ("email verified", v.email_verified.to_string()),
            ("created at", v.created_at.to_string()),
        ]);
    }
    Ok(())
}

/// A user by id, or by email when the argument has an `@`.
async fn find(store: &crate::store::Store, id_or_email: &str) -> anyhow::Result<User> {
    accounts::find_user(store, id_or_email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user {id_or_email:?}"))
}

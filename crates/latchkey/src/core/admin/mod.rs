//! Administration: the one service layer under the CLI's admin commands,
//! the admin API (`/admin/v1`) and the console, so that the three cannot
//! disagree (docs/admin.md). Each operation is a method of [`Admin`] with
//! typed input and output; the output types are the JSON shapes of the
//! CLI's `--json` and of the API alike. Every change is an audit event
//! naming who made it ([`Actor`]).
//!
//! Lists are pages ordered by `(created_at, id)` (audit: `(at, id)`) with an
//! opaque cursor naming the last item: a walk from cursor to cursor never
//! sees an item twice, whatever is inserted meanwhile.

mod clients;
pub mod console;
mod keys;
mod log;
mod users;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use clients::{
    ClientCreated, ClientDeleted, ClientInput, ClientPatch, ClientView, Delivery, GrantTypeName,
    MAX_GRACE_SECONDS, SecretRotated,
};
pub use keys::{KeyView, KeysRotated, rotate_keys_here};
pub use log::AuditFilters;
pub use users::{RevokedSessions, UserDeleted, UserInput, UserPatch, UserView};

use super::Authority;
use super::audit::{AuditEvent, AuditStore, Kind, Outcome, write_now};
use super::clients::ClientId;
use super::clock::UnixTime;
use super::deny_list::DenyListStore;
use super::dpop::DpopReplayStore;
use super::error::{Error, Result};
use super::revocation::{self, PresentedToken};
use super::scope;
use super::settings::Settings;
use super::users::{ADMIN_ROLE, UserId, UserStore};
use latchkey_proto::AccessTokenClaims;

/// Who makes a change: recorded as the audit event's actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The command line (`latchkey client …`, `latchkey user …`).
    Cli,
    /// A user with the role `admin`, through the API or the console.
    User(UserId),
    /// A client holding an admin token of its own (`client_credentials`).
    Client(ClientId),
}

impl Actor {
    /// The audit trail's spelling: `cli`, `user:<id>`, `client:<id>`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Cli => "cli".to_owned(),
            Actor::User(id) => format!("user:{id}"),
            Actor::Client(id) => format!("client:{id}"),
        }
    }
}

/// The audience an admin token must carry: `<issuer>/admin`.
pub fn admin_audience(settings: &Settings) -> String {
    format!("{}/admin", settings.issuer.trim_end_matches('/'))
}

/// Checks the access token of an admin API request: a JWT this latchkey
/// issued (signature, expiry, deny list), presented as its binding says
/// (a DPoP-bound token only as `Authorization: DPoP` with a proof for this
/// request, RFC 9449 §7.1; see `revocation::verify_presented_token`), for
/// the audience `<issuer>/admin` (else `invalid_token`, 401), with the
/// scope `latchkey:admin` (else `insufficient_scope`, 403). A user's token
/// also needs its user to exist, be enabled and still hold the role
/// `admin` now, not only when the token was minted.
pub async fn authenticate_request<S: DenyListStore + UserStore + DpopReplayStore>(
    auth: &Authority<S>,
    presented: Option<PresentedToken<'_>>,
    method: &str,
    url: &str,
) -> Result<Actor> {
    let presented = presented.ok_or_else(|| Error::InvalidToken("no access token".into()))?;
    let claims = revocation::verify_presented_token(auth, presented, method, url).await?;
    admit(auth, &claims).await
}

/// [`authenticate_request`] for a Bearer token minted in this process (the
/// console redeems its code in-process: there is no request to bind to).
pub async fn authenticate<S: DenyListStore + UserStore>(
    auth: &Authority<S>,
    bearer: Option<&str>,
) -> Result<Actor> {
    let token = bearer.ok_or_else(|| Error::InvalidToken("no access token".into()))?;
    let claims = revocation::verify_access_token(auth, token).await?;
    admit(auth, &claims).await
}

/// The audience, scope and role checks of an admin token.
async fn admit<S: UserStore>(auth: &Authority<S>, claims: &AccessTokenClaims) -> Result<Actor> {
    if !claims.aud.contains(&admin_audience(&auth.settings)) {
        return Err(Error::InvalidToken(
            "the access token is not for the admin API".into(),
        ));
    }
    if !claims.has_scope(scope::ADMIN) {
        return Err(Error::InsufficientScope(
            "the access token lacks the scope latchkey:admin".into(),
        ));
    }
    // A client_credentials token names the client as its subject and has
    // no roles; every user token carries roles.
    if claims.roles.is_none() && claims.sub == claims.client_id {
        return Ok(Actor::Client(ClientId::new(claims.sub.clone())));
    }
    let user = auth
        .store
        .get_user(&UserId::new(claims.sub.as_str()))
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| Error::InvalidToken("the token's user no longer exists".into()))?;
    if !user.roles.iter().any(|r| r == ADMIN_ROLE) {
        return Err(Error::InsufficientScope(
            "the user does not have the role admin".into(),
        ));
    }
    Ok(Actor::User(user.id))
}

/// The admin operations, for one actor at one moment.
pub struct Admin<'a, S> {
    store: &'a S,
    settings: &'a Settings,
    now: UnixTime,
    actor: Actor,
}

impl<'a, S> Admin<'a, S> {
    /// For the CLI and tests: a store, the settings, the time, who acts.
    pub fn new(store: &'a S, settings: &'a Settings, now: UnixTime, actor: Actor) -> Self {
        Admin {
            store,
            settings,
            now,
            actor,
        }
    }

    /// For the server: `actor` as [`authenticate`] found it.
    pub fn of(auth: &'a Authority<S>, actor: Actor) -> Self {
        Admin::new(&auth.store, &auth.settings, auth.clock.now(), actor)
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl<S: AuditStore> Admin<'_, S> {
    /// Records a change by this actor, stored before the answer (admin
    /// changes are rare; the trail must have them when the caller looks).
    async fn audit(&self, kind: Kind, fill: impl FnOnce(AuditEvent) -> AuditEvent) -> Result<()> {
        let event = fill(AuditEvent::new(
            self.now,
            kind,
            self.actor.audit_name(),
            Outcome::Success,
        ));
        write_now(self.store, event).await
    }
}

/// The most items a page may hold, and how many without `limit`.
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 50;

/// What a list request asks for: where to start and how many.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl PageRequest {
    fn limit(&self) -> Result<i64> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(Error::invalid_request(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            ))),
        }
    }

    fn after(&self) -> Result<Option<(UnixTime, String)>> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

/// One page of a list: `{"items": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass it as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched rows: the extra row only says that
    /// there is more. `key` gives an item's `(time, id)`.
    fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> (UnixTime, String)) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|last| {
                let (at, id) = key(last);
                encode_cursor(at, &id)
            })
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// A cursor is opaque to callers: base64url of `<time>.<id>`.
fn encode_cursor(at: UnixTime, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}.{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(UnixTime, String)> {
    let bad = || Error::invalid_request("cursor: not a cursor this server gave");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// An RFC 3339 time of a query (`since`, `until`), the error naming it.
pub fn parse_time(field: &str, value: &str) -> Result<UnixTime> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Error::invalid_request(format!("{field}: not an RFC 3339 time")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_bad_request() {
        let c = encode_cursor(1_700_000_000, "a.b-c");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (1_700_000_000, "a.b-c".to_owned())
        );
        for bad in ["", "!!", "bm9kb3Q", &URL_SAFE_NO_PAD.encode("x.y")] {
            assert_eq!(decode_cursor(bad).unwrap_err().code(), "invalid_request");
        }
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        let rows = vec![(1, "a"), (2, "b"), (3, "c")];
        let p = Page::from_rows(rows.clone(), 2, |r| (r.0, r.1.to_owned()));
        assert_eq!(p.items.len(), 2);
        assert_eq!(
            decode_cursor(&p.next_cursor.unwrap()).unwrap(),
            (2, "b".into())
        );
        let p = Page::from_rows(rows, 3, |r| (r.0, r.1.to_owned()));
        assert!(p.next_cursor.is_none());
    }
}

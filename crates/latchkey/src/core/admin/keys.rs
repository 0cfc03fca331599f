//! Signing keys: list and rotate (see `core::keys` for the life cycle).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Page};
use crate::core::Authority;
use crate::core::audit::{AuditStore, Kind};
use crate::core::error::Result;
use crate::core::keys::{self, KeyStore, StoredKey};

/// A signing key as `keys list --json` and the admin API show it: never
/// the private key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub remove_after: Option<i64>,
}

impl From<&StoredKey> for KeyView {
    fn from(k: &StoredKey) -> Self {
        KeyView {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_owned(),
            state: k.state.as_str().to_owned(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            remove_after: k.remove_after,
        }
    }
}

/// What a rotation did, as `keys rotate --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeysRotated {
    pub retired: Option<String>,
    pub current: String,
    pub next: String,
}

impl<S: KeyStore + AuditStore> Admin<'_, S> {
    /// Every stored key (all on one page: there are at most a handful).
    pub async fn list_keys(&self) -> Result<Page<KeyView>> {
        keys::ensure_keys(self.store, self.settings.signing_alg, self.now).await?;
        let items = self
            .store
            .list_keys()
            .await?
            .iter()
            .map(KeyView::from)
            .collect();
        Ok(Page {
            items,
            next_cursor: None,
        })
    }

    /// Next → current, current → retired, a new next key. Servers switch
    /// within `key_refresh_seconds` (the one answering at once).
    pub async fn rotate_keys(&self) -> Result<KeysRotated> {
        let r = keys::rotate(
            self.store,
            self.settings.signing_alg,
            self.now,
            self.settings.retired_key_lifetime(),
        )
        .await?;
        self.audit(Kind::KeysRotate, |e| {
            e.detail(format!("current key {}", r.current))
        })
        .await?;
        Ok(KeysRotated {
            retired: r.retired,
            current: r.current,
            next: r.next,
        })
    }
}

/// [`Admin::rotate_keys`] in a server: this process's key ring reloads at
/// once, so the answer's `current` key is the one it signs with next.
pub async fn rotate_keys_here<S: KeyStore + AuditStore>(
    auth: &Authority<S>,
    admin: &Admin<'_, S>,
) -> Result<KeysRotated> {
    let rotated = admin.rotate_keys().await?;
    let stored = auth.store.list_keys().await?;
    auth.keys.load(&stored, auth.clock.now())?;
    Ok(rotated)
}

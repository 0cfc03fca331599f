//! The audit trail, filtered and paged.

use super::{Admin, Page, PageRequest, parse_time};
use crate::core::audit::{AuditEvent, AuditQuery, AuditStore};
use crate::core::error::{Error, Result};

/// The filters of `GET /admin/v1/audit`, as given.
#[derive(Debug, Clone, Default)]
pub struct AuditFilters {
    /// The event's kind, as `latchkey audit list` prints it.
    pub kind: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    /// The event's actor or subject is this user id.
    pub user: Option<String>,
    /// The event's actor or subject is this client id.
    pub client: Option<String>,
    /// Newest first (the console); the API and the CLI list oldest first.
    pub newest_first: bool,
}

fn nonempty(v: Option<String>, field: &str) -> Result<Option<String>> {
    match v {
        Some(s) if s.len() > 200 => Err(Error::invalid_request(format!(
            "{field}: at most 200 characters"
        ))),
        Some(s) if s.is_empty() => Ok(None),
        v => Ok(v),
    }
}

impl<S: AuditStore> Admin<'_, S> {
    pub async fn list_audit(
        &self,
        filters: AuditFilters,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let limit = page.limit()?;
        let since = filters
            .since
            .as_deref()
            .map(|s| parse_time("since", s))
            .transpose()?;
        let until = filters
            .until
            .as_deref()
            .map(|s| parse_time("until", s))
            .transpose()?;
        let rows = self
            .store
            .search_audit_events(&AuditQuery {
                kind: nonempty(filters.kind, "type")?,
                since,
                until,
                user: nonempty(filters.user, "user")?,
                client: nonempty(filters.client, "client")?,
                after: page.after()?,
                limit: limit + 1,
                newest_first: filters.newest_first,
            })
            .await?;
        Ok(Page::from_rows(rows, limit, |e| (e.at, e.id.clone())))
    }
}

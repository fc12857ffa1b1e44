//! Paging for every listing (`/transactions`, `/entities`, `/admin/transfers`): what a page
//! request asks for, the page answered, and its cursors: opaque, HMAC-signed, bound to the user
//! and the listing (its filters) they were issued for. Any other cursor is refused
//! ([`InvalidCursor`], 400 `INVALID_CURSOR`) and never reaches the store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::UserId;

/// The page a listing is asked for: at most `limit` items, after the position `cursor` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// One page, in the listing's order, and the cursor of the next one when more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A cursor not issued by this deployment to this user for this listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The cursor is not valid for this listing")]
pub struct InvalidCursor;

/// One user's listing with its filters: opens the cursors it issued and seals the next one.
pub struct Listing<'a> {
    key: &'a CursorKey,
    user: String,
    scope: String,
}

impl<'a> Listing<'a> {
    /// `scope` names the listing and its filters, canonically.
    pub fn new(key: &'a CursorKey, user: UserId, scope: impl Into<String>) -> Self {
        Self {
            key,
            user: user.to_string(),
            scope: scope.into(),
        }
    }

    /// Where the requested page starts: `None` for the first page.
    pub fn start<P>(
        &self,
        request: &PageRequest,
        parse: impl FnOnce(&str) -> Option<P>,
    ) -> Result<Option<P>, InvalidCursor> {
        match &request.cursor {
            None => Ok(None),
            Some(c) => self
                .key
                .open(c, &self.user, &self.scope)
                .and_then(|p| parse(&p))
                .map(Some)
                .ok_or(InvalidCursor),
        }
    }

    /// The page of `rows`, read as `limit + 1` so that a last row says more follow; the next
    /// cursor continues after the page's last item, at `position(item)`.
    pub fn page<T>(
        &self,
        mut rows: Vec<T>,
        limit: usize,
        position: impl Fn(&T) -> String,
    ) -> Page<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match (more, rows.last()) {
            (true, Some(last)) => Some(self.key.seal(&self.user, &self.scope, &position(last))),
            _ => None,
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[derive(Clone)]
pub struct CursorKey([u8; 32]);

#[derive(Serialize, Deserialize)]
struct Payload {
    /// The user the cursor was issued to.
    u: String,
    /// The filters of the listing, canonical.
    f: String,
    /// Where the next page starts.
    p: String,
}

impl CursorKey {
    /// `DOMPET_CURSOR_SECRET`.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// A cursor for `user` listing with `filters`, continuing at `position`.
    pub fn seal(&self, user: &str, filters: &str, position: &str) -> String {
        let payload = serde_json::to_vec(&Payload {
            u: user.into(),
            f: filters.into(),
            p: position.into(),
        })
        .unwrap_or_default();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.mac(&payload))
        )
    }

    /// The position of a cursor issued by this key to `user` for `filters`.
    pub fn open(&self, cursor: &str, user: &str, filters: &str) -> Option<String> {
        let (payload, tag) = cursor.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).ok()?;
        mac.update(&payload);
        mac.verify_slice(&tag).ok()?;
        let p: Payload = serde_json::from_slice(&payload).ok()?;
        (p.u == user && p.f == filters).then_some(p.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_open_only_for_their_user_filters_and_key() {
        let key = CursorKey::from_secret(b"secret");
        let c = key.seal("alice", "type=a", "42");
        assert_eq!(key.open(&c, "alice", "type=a").as_deref(), Some("42"));
        assert_eq!(key.open(&c, "bob", "type=a"), None);
        assert_eq!(key.open(&c, "alice", "type=b"), None);
        assert_eq!(
            CursorKey::from_secret(b"other").open(&c, "alice", "type=a"),
            None
        );
        let (payload, tag) = c.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"u":"alice","f":"type=a","p":"0"}"#);
        assert_eq!(
            key.open(&format!("{forged}.{tag}"), "alice", "type=a"),
            None
        );
        assert_eq!(key.open(payload, "alice", "type=a"), None);
        assert_eq!(key.open("", "alice", "type=a"), None);
    }
}

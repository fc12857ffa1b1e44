//! Pagination cursors: opaque, HMAC-signed, bound to the user and the filters they were
//! issued for. Anything else is 400 `INVALID_CURSOR` and never reaches the store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

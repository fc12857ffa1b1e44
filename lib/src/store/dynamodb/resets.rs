//! Reset codes: one item per account, `USER#id` / `RESET` (TTL `expires_at`), so closing the
//! account removes it with the rest of its partition.

use anyhow::Context;
use async_trait::async_trait;

use super::items::{item, n, s, ttl_seconds, user_pk, Attrs, Item};
use super::DynamoStore;
use crate::domain::{Millis, UserId};
use crate::store::{ResetCode, ResetStore, StoreResult, Versioned};

const RESET: &str = "RESET";

fn reset_item(user: UserId, state: &ResetCode, version: u64, expires_at: Millis) -> Item {
    let mut it = item([
        ("pk", s(user_pk(user))),
        ("sk", s(RESET)),
        ("code_expires_at", n(state.code_expires_at)),
        ("failures", n(state.failures)),
        ("window_start", n(state.window_start)),
        ("deliveries", n(state.deliveries)),
        ("version", n(version)),
        ("expires_at", n(ttl_seconds(expires_at))),
    ]);
    if let Some(hash) = &state.code_hash {
        it.insert("code_hash".into(), s(hash));
    }
    it
}

fn parse_reset(it: &Item, now: Millis) -> anyhow::Result<Option<Versioned<ResetCode>>> {
    let a = Attrs(it);
    // DynamoDB deletes expired items only eventually.
    if a.num::<i64>("expires_at")? * 1000 <= now {
        return Ok(None);
    }
    Ok(Some(Versioned {
        value: ResetCode {
            code_hash: a.opt_s("code_hash"),
            code_expires_at: a.num("code_expires_at")?,
            failures: a.num("failures")?,
            window_start: a.num("window_start")?,
            deliveries: a.num("deliveries")?,
        },
        version: a.num("version")?,
    }))
}

#[async_trait]
impl ResetStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_reset(
        &self,
        user: UserId,
        now: Millis,
    ) -> StoreResult<Option<Versioned<ResetCode>>> {
        match self.get(user_pk(user), RESET).await? {
            Some(it) => parse_reset(&it, now).context("bad reset item"),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_reset(
        &self,
        user: UserId,
        expected: Option<u64>,
        state: &ResetCode,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        let version = expected.map_or(1, |v| v + 1);
        let item = reset_item(user, state, version, expires_at);
        self.put_versioned(item, expected, now, "reset code").await
    }
}

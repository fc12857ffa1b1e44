//! Login throttle records.

use async_trait::async_trait;

use super::items::{
    parse_throttle, throttle_item, throttle_pk, throttle_put, throttle_release, Action,
    Transaction, THROTTLE,
};
use super::DynamoStore;
use crate::auth::Throttle;
use crate::domain::Millis;
use crate::store::{
    first_version, StoreResult, ThrottleRelease, ThrottleStore, ThrottleWrite, Versioned,
};

#[async_trait]
impl ThrottleStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_throttle(
        &self,
        key: &str,
        now: Millis,
    ) -> StoreResult<Option<Versioned<Throttle>>> {
        match self.get(throttle_pk(key), THROTTLE).await? {
            Some(item) => parse_throttle(&item, now),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool> {
        let version = expected.map_or_else(|| first_version(expires_at), |v| v + 1);
        let item = throttle_item(key, state, version, expires_at);
        self.put_versioned(item, expected, now, "throttle").await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_throttles(&self, writes: &[ThrottleWrite], now: Millis) -> StoreResult<bool> {
        if let [one] = writes {
            return self
                .put_throttle(
                    &one.key,
                    one.expected,
                    &one.state,
                    Some(one.expires_at),
                    now,
                )
                .await;
        }
        let mut tx = Transaction::default();
        for w in writes {
            tx.push(Action::Throttle, throttle_put(&self.table, w, now)?);
        }
        // A record that moved, or a concurrent transaction on one: the caller reads again.
        Ok(self.transact(&tx, "throttle").await?.is_ok())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn release_throttle(&self, release: &ThrottleRelease, now: Millis) -> StoreResult<bool> {
        let mut tx = Transaction::default();
        tx.push(
            Action::Throttle,
            throttle_release(&self.table, release, now)?,
        );
        Ok(self.transact(&tx, "throttle reset").await?.is_ok())
    }
}

//! Login throttle records.

use async_trait::async_trait;

use super::items::{condition_failed, n, parse_throttle, s, throttle_item, throttle_pk, THROTTLE};
use super::DynamoStore;
use crate::auth::Throttle;
use crate::domain::Millis;
use crate::store::{StoreResult, ThrottleStore, Versioned};

#[async_trait]
impl ThrottleStore for DynamoStore {
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

    async fn put_throttle(
        &self,
        key: &str,
        expected: Option<u64>,
        state: &Throttle,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> StoreResult<bool> {
        let version = expected.map_or(1, |v| v + 1);
        let item = throttle_item(key, state, version, expires_at);
        self.put_versioned(item, expected, now, "throttle").await
    }

    async fn release_throttle(&self, key: &str, reserved: u64, now: Millis) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(throttle_pk(key)))
            .key("sk", s(THROTTLE))
            .condition_expression(
                "attribute_not_exists(pk) OR version = :v OR locked_until <= :now",
            )
            .expression_attribute_values(":v", n(reserved))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB DeleteItem (throttle) failed")),
        }
    }
}

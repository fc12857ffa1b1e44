//! Second factors: the pending authenticator's write (the rest is written with the logins,
//! money and account changes that use a code up).

use anyhow::Context;
use async_trait::async_trait;

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{condition_failed, pending_factor_item};
use super::DynamoStore;
use crate::domain::{Millis, UserId};
use crate::store::{FactorStore, StoreResult};

#[async_trait]
impl FactorStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn put_pending_factor(
        &self,
        user: UserId,
        sealed_secret: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(pending_factor_item(user, sealed_secret, now)))
            .condition_expression("attribute_not_exists(pk) OR active = :false")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(e).context("DynamoDB PutItem (factor) failed"),
        }
    }
}

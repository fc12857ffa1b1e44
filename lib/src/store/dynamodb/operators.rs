//! Operators' reads without a Scan: transfers by status from the `transfers_by_status` index
//! (its shards merged), the oldest pending transfer from the `pending` index, and the money
//! check as the latest verdict the scheduled audit stored (`AUDIT` / `LATEST`).

use anyhow::Context;
use async_trait::async_trait;

use super::items::{
    condition_failed, n, parse_guard, parse_transfer, pending_shard_key, s, status_keys,
    transfer_order, user_pk, Attrs, GUARD, PROFILE, TRANSFER_SHARDS,
};
use super::DynamoStore;
use crate::domain::{LoginIdentifier, Millis};
use crate::store::{
    MoneyCheck, OperatorStore, Role, StoreResult, Transfer, TransferPosition, TxStatus,
};

/// Key of the audit's latest verdict.
pub(super) const AUDIT_PK: &str = "AUDIT";
pub(super) const AUDIT_LATEST: &str = "LATEST";

#[async_trait]
impl OperatorStore for DynamoStore {
    fn as_dynamodb(&self) -> Option<&DynamoStore> {
        Some(self)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_transfers(
        &self,
        status: TxStatus,
        before: Option<&TransferPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Transfer>> {
        // Every shard shares the sort key, so one position pages them all: each shard's
        // newest `limit` before it, concurrently, merged; the newest `limit` of those are the
        // page, exactly.
        let limit = limit.clamp(1, 1000);
        let queries = status_keys(status).into_iter().map(|key| {
            let req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("transfers_by_status")
                .expression_attribute_values(":status", s(key))
                .scan_index_forward(false)
                .limit(limit as i32);
            match before {
                Some(b) => req
                    .key_condition_expression(
                        "transfer_status = :status AND transfer_order < :before",
                    )
                    .expression_attribute_values(
                        ":before",
                        s(transfer_order(b.created_at, &b.transfer_id)),
                    ),
                None => req.key_condition_expression("transfer_status = :status"),
            }
            .send()
        });
        let mut transfers = Vec::new();
        for out in futures::future::join_all(queries).await {
            let out = out.context("DynamoDB Query (transfers by status) failed")?;
            for item in out.items() {
                transfers.push(parse_transfer(item)?.0);
            }
        }
        transfers
            .sort_by(|a, b| (b.created_at, &b.transfer_id).cmp(&(a.created_at, &a.transfer_id)));
        transfers.truncate(limit);
        Ok(transfers)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn oldest_pending(&self) -> StoreResult<Option<Millis>> {
        // The oldest of each shard's oldest: one Query per shard, concurrently.
        let queries = (0..TRANSFER_SHARDS).map(|shard| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name("pending")
                .key_condition_expression("pending_shard = :shard")
                .expression_attribute_values(":shard", s(pending_shard_key(shard)))
                .scan_index_forward(true)
                .limit(1)
                .send()
        });
        let mut oldest: Option<Millis> = None;
        for out in futures::future::join_all(queries).await {
            let out = out.context("DynamoDB Query (oldest pending) failed")?;
            for item in out.items() {
                let since: Millis = Attrs(item).num("pending_since")?;
                oldest = Some(oldest.map_or(since, |o| o.min(since)));
            }
        }
        Ok(oldest)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn money_check(&self, _now: Millis) -> StoreResult<Option<MoneyCheck>> {
        match self.get(AUDIT_PK.to_string(), AUDIT_LATEST).await? {
            Some(item) => Ok(Some(
                serde_json::from_str(&Attrs(&item).req_s("verdict")?)
                    .context("the stored audit verdict is not valid")?,
            )),
            None => Ok(None),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn set_role(&self, identifier: &LoginIdentifier, role: Role) -> StoreResult<bool> {
        let Some(guard) = self.get(super::items::guard_pk(identifier), GUARD).await? else {
            return Ok(false);
        };
        let user = parse_guard(&guard)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user)))
            .key("sk", s(PROFILE))
            .update_expression("SET #role = :role")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":role", s(role.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (role) failed")),
        }
    }
}

impl DynamoStore {
    /// Stores `check` as the latest verdict of the audit.
    pub async fn store_verdict(&self, check: &MoneyCheck) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(AUDIT_PK))
            .item("sk", s(AUDIT_LATEST))
            .item("verdict", s(serde_json::to_string(check)?))
            .item("checked_at", n(check.checked_at))
            .send()
            .await
            .context("DynamoDB PutItem (audit verdict) failed")?;
        Ok(())
    }
}

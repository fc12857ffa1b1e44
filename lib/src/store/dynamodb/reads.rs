//! A request's reads as one `BatchGetItem` of strongly consistent reads.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::items::{
    entity_sk, guard_pk, idem_sk, parse_entity, parse_factor, parse_guard, parse_idempotency,
    parse_recovery_codes, parse_throttle, parse_transfer, parse_user, s, session_live, session_sk,
    throttle_pk, transfer_pk, user_pk, Item, FACTOR, GUARD, PROFILE, RECOVERY, THROTTLE, TRANSFER,
};
use super::{backoff, DynamoStore};
use crate::domain::Millis;
use crate::store::{ReadStore, Reads, Snapshot, StoreResult};

/// Rounds of `UnprocessedKeys` retried before giving up (DynamoDB returns them only when the
/// table or partition is being throttled).
const UNPROCESSED_ROUNDS: u32 = 8;

#[async_trait]
impl ReadStore for DynamoStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn read(&self, reads: &Reads, now: Millis) -> StoreResult<Snapshot> {
        let session = reads
            .session
            .as_ref()
            .map(|(user, sid)| (user_pk(user), session_sk(sid)));
        let account = reads.account.map(|u| (user_pk(u), PROFILE.to_string()));
        // A family is live only while its account is at the family's auth epoch: the
        // account's item is read with it (the batch reads a key once).
        let session_account = reads
            .session
            .as_ref()
            .map(|(user, _)| (user_pk(user), PROFILE.to_string()));
        let other_account = reads
            .other_account
            .map(|u| (user_pk(u), PROFILE.to_string()));
        let idempotency = reads
            .idempotency
            .as_ref()
            .map(|(user, scope, key)| (user_pk(user), idem_sk(scope, key)));
        let identifier = reads
            .identifier
            .as_ref()
            .map(|id| (guard_pk(id), GUARD.to_string()));
        let entity = reads
            .entity
            .as_ref()
            .map(|(user, id)| (user_pk(user), entity_sk(*id)));
        let transfer = reads
            .transfer
            .as_ref()
            .map(|id| (transfer_pk(id), TRANSFER.to_string()));
        let factor = reads.factor.map(|u| (user_pk(u), FACTOR.to_string()));
        let recovery = reads
            .recovery_codes
            .map(|u| (user_pk(u), RECOVERY.to_string()));
        let throttles: Vec<Option<(String, String)>> = reads
            .throttles
            .iter()
            .map(|key| Some((throttle_pk(key), THROTTLE.to_string())))
            .collect();
        let keys: Vec<&(String, String)> = [
            &session,
            &session_account,
            &account,
            &other_account,
            &idempotency,
            &identifier,
            &entity,
            &transfer,
            &factor,
            &recovery,
        ]
        .into_iter()
        .chain(&throttles)
        .flatten()
        .collect();
        let found = self.batch_get(&keys).await?;
        let item = |key: &Option<(String, String)>| key.as_ref().and_then(|k| found.get(k));

        let now_secs = now.div_euclid(1000);
        Ok(Snapshot {
            session_active: match item(&session) {
                Some(i) => session_live(i, item(&session_account), now_secs)?,
                None => false,
            },
            account: item(&account).map(parse_user).transpose()?,
            other_account: item(&other_account).map(parse_user).transpose()?,
            idempotency: match item(&idempotency) {
                Some(i) => parse_idempotency(i, now)?,
                None => None,
            },
            identifier_owner: item(&identifier).map(parse_guard).transpose()?,
            entity: item(&entity).map(parse_entity).transpose()?,
            transfer: item(&transfer)
                .map(|i| parse_transfer(i).map(|(t, _)| t))
                .transpose()?,
            throttles: {
                let mut found = HashMap::new();
                for (key, at) in reads.throttles.iter().zip(&throttles) {
                    if let Some(t) = item(at)
                        .map(|i| parse_throttle(i, now))
                        .transpose()?
                        .flatten()
                    {
                        found.insert(key.clone(), t);
                    }
                }
                found
            },
            factor: item(&factor).map(parse_factor).transpose()?,
            recovery_codes: item(&recovery)
                .map(parse_recovery_codes)
                .unwrap_or_default(),
        })
    }
}

impl DynamoStore {
    /// The items of `keys` (distinct `(pk, sk)` pairs, at most 100) that exist, by key.
    pub(super) async fn batch_get(
        &self,
        keys: &[&(String, String)],
    ) -> StoreResult<HashMap<(String, String), Item>> {
        let mut found = HashMap::new();
        if keys.is_empty() {
            return Ok(found);
        }
        let mut unique: Vec<&(String, String)> = keys.to_vec();
        unique.sort();
        unique.dedup();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(
                unique
                    .iter()
                    .map(|(pk, sk)| {
                        HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
                    })
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .context("Failed to build a batch read")?;
        for round in 0..=UNPROCESSED_ROUNDS {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .context("DynamoDB BatchGetItem failed")?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(pk), Some(sk)) = (key("pk"), key("sk")) {
                    found.insert((pk, sk), item);
                }
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    pending = rest;
                    backoff(round + 1).await;
                }
                _ => return Ok(found),
            }
        }
        anyhow::bail!("DynamoDB BatchGetItem left keys unprocessed {UNPROCESSED_ROUNDS} times")
    }
}

//! A request's reads on one reader connection, in one read transaction.

use anyhow::Context;
use async_trait::async_trait;

use super::entities::select as select_entity;
use super::factors::{select_factor, select_recovery_codes};
use super::identity::{find_by_identifier, select_user, select_user_with_session};
use super::sessions::session_is_active;
use super::throttle::select_throttle;
use super::transfers::select_transfer;
use super::wallet::read_idempotency;
use super::SqliteStore;
use crate::domain::Millis;
use crate::store::{ReadStore, Reads, Snapshot, StoreResult};

#[async_trait]
impl ReadStore for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn read(&self, reads: &Reads, now: Millis) -> StoreResult<Snapshot> {
        let reads = reads.clone();
        self.read(move |c| {
            if let Reads {
                session: Some((session_user, sid)),
                account: Some(user),
                other_account: None,
                idempotency: None,
                identifier: None,
                entity: None,
                transfer: None,
                throttles,
                factor,
                recovery_codes: None,
            } = &reads
            {
                if session_user == user && throttles.is_empty() && factor.is_none_or(|f| f == *user)
                {
                    // An authenticated read of the caller's account (`GET /account`, a replay):
                    // one statement, a snapshot by itself.
                    if let Some((account, active)) =
                        select_user_with_session(c, *user, sid, now.div_euclid(1000))
                            .context("Failed to read a user")?
                    {
                        let factor = match factor {
                            Some(user) => {
                                select_factor(c, *user).context("Failed to read a factor")?
                            }
                            None => None,
                        };
                        return Ok(Snapshot {
                            session_active: active,
                            account: Some(account),
                            factor,
                            ..Snapshot::default()
                        });
                    }
                }
            }
            let tx = c.unchecked_transaction()?;
            let mut snap = Snapshot::default();
            if let Some((user, sid)) = &reads.session {
                snap.session_active = session_is_active(&tx, *user, sid, now.div_euclid(1000))
                    .context("Failed to read a session")?;
            }
            if let Some(user) = reads.account {
                snap.account = select_user(&tx, user).context("Failed to read a user")?;
            }
            if let Some(user) = reads.other_account {
                snap.other_account = select_user(&tx, user).context("Failed to read a user")?;
            }
            if let Some((user, scope, key)) = &reads.idempotency {
                snap.idempotency = read_idempotency(&tx, *user, scope, key, now)?;
            }
            if let Some(id) = &reads.identifier {
                snap.identifier_owner = find_by_identifier(&tx, id)
                    .context("Failed to look up an identifier")?
                    .map(|u| u.user_id);
            }
            if let Some((user, id)) = &reads.entity {
                snap.entity = select_entity(&tx, *user, *id).context("Failed to read an entity")?;
            }
            if let Some(id) = &reads.transfer {
                snap.transfer = select_transfer(&tx, id).context("Failed to read a transfer")?;
            }
            for key in &reads.throttles {
                if let Some(found) =
                    select_throttle(&tx, key, now).context("Failed to read login throttle")?
                {
                    snap.throttles.insert(key.clone(), found);
                }
            }
            if let Some(user) = reads.factor {
                snap.factor = select_factor(&tx, user).context("Failed to read a factor")?;
            }
            if let Some(user) = reads.recovery_codes {
                snap.recovery_codes =
                    select_recovery_codes(&tx, user).context("Failed to read recovery codes")?;
            }
            Ok(snap)
        })
        .await
    }
}

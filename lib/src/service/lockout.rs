//! Who may have a secret verified (api.md, "POST /login"): every verification of an account's
//! secret — a login, or a secret presented again to change an identifier or the secret, or to
//! close the account — is reserved before it runs, on two records:
//!
//! - the account's record for the client address, which locks that address (see
//!   [`crate::auth::lockout`]) and, once the owner has logged in from it, exempts it from
//! - the account's ceiling, shared by every other address.
//!
//! An identifier that names no account has the same two records under its own name, kept as
//! long, so neither a 429 nor its timing tells whether it exists.

use std::collections::HashMap;

use rand::Rng;
use sha2::{Digest, Sha256};

use super::accounts::LoginError;
use crate::auth::{lockout::seconds_until, Throttle};
use crate::domain::{now_millis, ClientAddress, LoginIdentifier, Millis, UserId};
use crate::state::AppState;
use crate::store::{ThrottleRelease, ThrottleWrite, UserRecord, Versioned};

/// Bounded retries when concurrent attempts race on the same records: each lost race is
/// another attempt's win, and a full ceiling or a lock ends the race, so a burst needs at most
/// about `ceiling` rounds; DynamoDB may cancel both of two transactions on one item, hence a
/// short random pause after the first rounds.
const WRITE_ATTEMPTS: u64 = 64;

/// The records one verification is reserved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The subject at the client address.
    pub record: String,
    /// The subject's ceiling.
    pub ceiling: String,
}

impl Keys {
    /// An account's records, across all its identifiers.
    pub fn account(user: UserId, from: &ClientAddress) -> Self {
        Self::of(&format!("user:{user}"), from)
    }

    /// The records of an identifier that names no account.
    pub fn unknown(identifier: &LoginIdentifier, from: &ClientAddress) -> Self {
        Self::of(
            &format!("{}:{}", identifier.kind.field(), identifier.key),
            from,
        )
    }

    fn of(subject: &str, from: &ClientAddress) -> Self {
        Self {
            record: format!("{subject}#{from}"),
            ceiling: format!("ceiling:{subject}"),
        }
    }

    /// Both keys, to read with the request's other reads.
    pub fn to_vec(&self) -> Vec<String> {
        vec![self.record.clone(), self.ceiling.clone()]
    }
}

/// The generation of an account's secret that its records count against: a secret change or
/// a reset stores a new hash (a new salt, even for the same secret), and with it every count
/// of the account starts again. An identifier that names no account counts at generation 0.
pub(crate) fn secret_gen(user: &UserRecord) -> u64 {
    let digest = Sha256::digest(user.secret_hash.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // Stores keep it as a signed 64-bit number.
    u64::from_be_bytes(first) >> 1
}

/// A verification reserved: counted as a failure on the address's record (and on the ceiling
/// when the address is not the owner's) before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reserved {
    pub key: String,
    pub version: u64,
    pub state: Throttle,
}

impl Reserved {
    /// The reset of the address's record after the secret verified. `trust`: a login that
    /// issues tokens also marks the address as the owner's.
    pub fn release(&self, state: &AppState, trust: bool) -> ThrottleRelease {
        let now = now_millis();
        let policy = state.lockout();
        let trusted_until = trust.then(|| now + policy.trust.as_millis() as i64);
        let next = self.state.released(trusted_until);
        ThrottleRelease {
            key: self.key.clone(),
            reserved: self.version,
            state: next,
            expires_at: next.keep_until(now, policy),
        }
    }
}

/// Reserves one verification of a secret of generation `gen` on `keys`, given the records as
/// the request read them; `Locked` (nothing counted) when the address is locked, or when it is
/// not the owner's and the ceiling is full.
pub(crate) async fn reserve(
    state: &AppState,
    keys: &Keys,
    gen: u64,
    read: &HashMap<String, Versioned<Throttle>>,
) -> Result<Reserved, LoginError> {
    let policy = state.lockout();
    let reserved = reserve_pair(state, keys, gen, read, |record, ceiling, now| {
        if let Some(retry_after) = record.retry_after(now) {
            return Err(retry_after);
        }
        let after = record.after_failure(now, policy);
        let ceiling = match record.trusted(now) {
            true => None,
            false => Some(ceiling.ceiling_after(now, policy)?),
        };
        Ok((after, after.keep_until(now, policy), ceiling))
    })
    .await?;
    reserved.map_err(|retry_after| LoginError::Locked { retry_after })
}

/// The next states of one reservation: the address's record with when it may be forgotten,
/// and the ceiling's when the address counts toward it; or the seconds to wait.
type Next = Result<(Throttle, Millis, Option<Throttle>), u64>;

/// Reserves on the address's record and the subject's ceiling at once, as `next` decides from
/// both (each read as of generation `gen`), conditional on both as read, however many
/// attempts race from however many processes; a lost race reads both again, after a short
/// random pause past the first rounds (DynamoDB may cancel both of two transactions on one
/// item). The address's record as written, or the seconds to wait.
pub(crate) async fn reserve_pair(
    state: &AppState,
    keys: &Keys,
    gen: u64,
    read: &HashMap<String, Versioned<Throttle>>,
    next: impl Fn(Throttle, Throttle, Millis) -> Next,
) -> anyhow::Result<Result<Reserved, u64>> {
    let store = state.store();
    let (mut record, mut ceiling) = (
        read.get(&keys.record).copied(),
        read.get(&keys.ceiling).copied(),
    );
    for attempt in 0..WRITE_ATTEMPTS {
        if attempt > 0 {
            if attempt > 2 {
                let pause = rand::thread_rng().gen_range(0..=attempt.min(20));
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            let now = now_millis();
            (record, ceiling) = tokio::try_join!(
                store.get_throttle(&keys.record, now),
                store.get_throttle(&keys.ceiling, now)
            )?;
        }
        let now = now_millis();
        let fresh = Throttle {
            gen,
            ..Throttle::default()
        };
        let as_of_gen = |r: Option<Versioned<Throttle>>| r.map_or(fresh, |r| r.value.of_gen(gen));
        let (after, expires_at, ceiling_after) =
            match next(as_of_gen(record), as_of_gen(ceiling), now) {
                Ok(next) => next,
                Err(retry_after) => return Ok(Err(retry_after)),
            };
        let mut writes = vec![ThrottleWrite {
            key: keys.record.clone(),
            expected: record.map(|r| r.version),
            state: after,
            expires_at,
        }];
        if let Some(counted) = ceiling_after {
            writes.push(ThrottleWrite {
                key: keys.ceiling.clone(),
                expected: ceiling.map(|c| c.version),
                state: counted,
                expires_at: counted.locked_until,
            });
        }
        if store.put_throttles(&writes, now).await? {
            return Ok(Ok(Reserved {
                key: keys.record.clone(),
                version: writes[0].version(),
                state: after,
            }));
        }
    }
    anyhow::bail!("the throttle records {keys:?} kept changing under concurrent attempts")
}

/// Counts one more on `key` (read as `seen`) as a count of at most `limit` per window of
/// `window_ms` from its first count (the record lives as long as its window): the count this
/// one is, or `Err` with the seconds until the window ends when it is full. Every write is conditional; a lost race
/// reads again. (Recipient lookups per user, reset codes per client address.)
pub(crate) async fn count_in_window(
    state: &AppState,
    key: &str,
    seen: Option<Versioned<Throttle>>,
    limit: u32,
    window_ms: Millis,
) -> anyhow::Result<Result<u32, u64>> {
    let mut seen = Some(seen);
    for _ in 0..WRITE_ATTEMPTS {
        let now = now_millis();
        let current = match seen.take() {
            Some(current) => current,
            None => state.store().get_throttle(key, now).await?,
        };
        let next = match current
            .map(|c| c.value)
            .unwrap_or_default()
            .counted(now, limit, window_ms, false)
        {
            Ok(next) => next,
            Err(retry_after) => return Ok(Err(retry_after)),
        };
        let write = ThrottleWrite {
            key: key.to_string(),
            expected: current.map(|c| c.version),
            state: next,
            expires_at: next.locked_until,
        };
        if state.store().put_throttles(&[write], now).await? {
            return Ok(Ok(next.failures));
        }
    }
    anyhow::bail!("the count {key} kept changing under concurrent requests")
}

/// The refusal for a verified secret whose address another attempt locked meanwhile.
pub(crate) async fn locked_now(state: &AppState, key: &str) -> LoginError {
    let now = now_millis();
    match state.store().get_throttle(key, now).await {
        Ok(current) => LoginError::Locked {
            retry_after: current
                .map(|c| c.value.locked_until)
                .filter(|until| *until > now)
                .map_or(1, |until| seconds_until(until, now)),
        },
        Err(e) => e.into(),
    }
}

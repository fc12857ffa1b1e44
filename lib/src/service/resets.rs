//! Getting back in after forgetting the secret: a one-time code delivered to the account's
//! email or phone (`POST /password/forgot`), then a new secret for the code
//! (`POST /password/reset`).
//!
//! Codes are 6 digits from the OS's CSPRNG, stored only as an argon2id hash, valid
//! [`CODE_TTL_MS`], single-use, void after [`MAX_CODE_FAILURES`] wrong tries; at most
//! [`DELIVERIES_PER_WINDOW`] codes are delivered per account per hour, and at most
//! [`CODES_PER_ADDRESS`] per client address per hour across accounts (SMS costs money per
//! message). A request for an identifier that names no account does the same reads and the
//! same hashing as one that does, and every answer takes at least [`FORGOT_MIN_DURATION`], so
//! neither the answer nor its time tells whether the account exists.
//!
//! Tries are also counted across codes, so asking for new codes buys no more guesses: per
//! account and client address at most [`WRONG_CODES_PER_ADDRESS`] in [`GUESS_WINDOW_MS`] (then
//! every code is refused from that address for a whole window), and at most
//! [`WRONG_CODES_PER_DAY`] per account from every address that is not the owner's (one the
//! owner logged in from lately, as the login lockout tells them apart), so nobody's guesses
//! block the owner's own reset. The counts belong to the secret they guessed at: a successful
//! reset starts them again.

use std::time::Duration;

use rand::Rng;

use std::collections::HashMap;

use crate::auth::Throttle;
use crate::delivery::Message;
use crate::domain::{
    format_timestamp, now_millis, ClientAddress, LoginIdentifier, Millis, Secret, UserId,
};
use crate::service::lockout;
use crate::state::AppState;
use crate::store::{ChangeSecretError, Reads, ResetCode, SecretChange, UserRecord, Versioned};

/// How long a code works.
pub const CODE_TTL_MS: Millis = 15 * 60_000;
/// Wrong codes that void the live one.
pub const MAX_CODE_FAILURES: u32 = 5;
/// Codes delivered per account per [`DELIVERY_WINDOW_MS`].
pub const DELIVERIES_PER_WINDOW: u32 = 3;
pub const DELIVERY_WINDOW_MS: Millis = 3_600_000;
/// Tries of codes counted per account and client address per [`GUESS_WINDOW_MS`].
pub const WRONG_CODES_PER_ADDRESS: u32 = 5;
/// Tries of codes counted per account per [`GUESS_WINDOW_MS`] from addresses not the owner's.
pub const WRONG_CODES_PER_DAY: u32 = 20;
pub const GUESS_WINDOW_MS: Millis = 24 * 3_600_000;
/// Codes delivered per client address per [`DELIVERY_WINDOW_MS`], across accounts.
pub const CODES_PER_ADDRESS: u32 = 10;
/// The shortest answer to `POST /password/forgot`: longer than the work either way (reads,
/// one argon2id hash, a write and the delivery), so its time is the same for every identifier.
pub const FORGOT_MIN_DURATION: Duration = Duration::from_millis(300);

/// Bounded retries when concurrent requests race on one reset record.
const WRITE_ATTEMPTS: usize = 8;

/// A code of 6 digits, uniformly from the OS's CSPRNG.
fn new_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// The records that count an account's code tries and deliveries at a client address.
struct Counts {
    /// Tries from the address.
    tries: String,
    /// Tries from every address not the owner's.
    tries_ceiling: String,
    /// The login record of the address: whether it is the owner's.
    login: String,
    /// Codes delivered to anyone at the address's request.
    codes: String,
}

impl Counts {
    fn of(user: UserId, from: &ClientAddress) -> Self {
        Self {
            tries: format!("reset:user:{user}#{from}"),
            tries_ceiling: format!("reset-ceiling:user:{user}"),
            login: lockout::Keys::account(user, from).record,
            codes: format!("codes:{from}"),
        }
    }

    fn keys(&self) -> Vec<String> {
        [&self.tries, &self.tries_ceiling, &self.login, &self.codes]
            .map(String::clone)
            .to_vec()
    }
}

/// What a reset request reads about the account `identifier` names.
struct Found {
    user: Option<UserRecord>,
    code: Option<Versioned<ResetCode>>,
    counts: Counts,
    throttles: HashMap<String, Versioned<Throttle>>,
}

/// The account `identifier` names, its reset record and the counts at `from`: the identifier's
/// guard, then the rest together. An identifier that names no account reads an account that
/// doesn't exist the same way, so both cost the same.
async fn read_account_and_code(
    state: &AppState,
    identifier: &LoginIdentifier,
    from: &ClientAddress,
    now: Millis,
) -> anyhow::Result<Found> {
    let store = state.store();
    let reads = Reads {
        identifier: Some(identifier.clone()),
        ..Reads::default()
    };
    let named = store.read(&reads, now).await?.identifier_owner;
    let owner = named.unwrap_or_else(UserId::new);
    let counts = Counts::of(owner, from);
    let reads = Reads {
        account: Some(owner),
        throttles: counts.keys(),
        ..Reads::default()
    };
    let (snap, record) = tokio::try_join!(store.read(&reads, now), store.get_reset(owner, now))?;
    let user = snap.account.filter(|_| named.is_some());
    Ok(Found {
        code: record.filter(|_| user.is_some()),
        user,
        counts,
        throttles: snap.throttles,
    })
}

/// Counts one try of a code of `user` from the address `found.counts` names, before the code
/// is checked: on the address's count and, unless the owner logged in from there lately, on
/// the account's. False (nothing counted) when either is full.
async fn count_try(state: &AppState, user: &UserRecord, found: &Found) -> anyhow::Result<bool> {
    let gen = lockout::secret_gen(user);
    let counts = &found.counts;
    let owners = found
        .throttles
        .get(&counts.login)
        .is_some_and(|t| t.value.of_gen(gen).trusted(now_millis()));
    let keys = lockout::Keys {
        record: counts.tries.clone(),
        ceiling: counts.tries_ceiling.clone(),
    };
    let reserved = lockout::reserve_pair(state, &keys, gen, &found.throttles, |tries, day, now| {
        let next = tries.counted(now, WRONG_CODES_PER_ADDRESS, GUESS_WINDOW_MS, true)?;
        let day = match owners {
            true => None,
            false => Some(day.counted(now, WRONG_CODES_PER_DAY, GUESS_WINDOW_MS, false)?),
        };
        Ok((next, next.locked_until, day))
    })
    .await?;
    Ok(reserved.is_ok())
}

/// `POST /password/forgot`: delivers a new code when `identifier` names an account that has
/// an email or phone and has had fewer than 3 codes this hour; answers the same either way,
/// after at least [`FORGOT_MIN_DURATION`]. A failed delivery is logged, not answered.
#[tracing::instrument(skip_all)]
pub async fn forgot(
    state: &AppState,
    identifier: &LoginIdentifier,
    from: &ClientAddress,
) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let result = request_code(state, identifier, from).await;
    let elapsed = started.elapsed();
    if elapsed > FORGOT_MIN_DURATION {
        tracing::warn!(
            ?elapsed,
            "a reset code request took longer than its fixed answer time"
        );
    }
    tokio::time::sleep_until(started + FORGOT_MIN_DURATION).await;
    result
}

async fn request_code(
    state: &AppState,
    identifier: &LoginIdentifier,
    from: &ClientAddress,
) -> anyhow::Result<()> {
    let now = now_millis();
    let store = state.store();
    let found = read_account_and_code(state, identifier, from, now).await?;
    let (user, record) = (found.user.clone(), found.code.clone());
    let code = new_code();
    let code_hash = state.hasher().hash(&code).await?;
    let Some(user) = user else {
        return Ok(());
    };
    let Some((channel, to)) = super::notices::destination(&user, identifier.kind) else {
        tracing::info!(user = %user.user_id, "reset code asked for an account with neither email nor phone");
        return Ok(());
    };
    let (mut current, expected) = match record {
        Some(Versioned { value, version }) => (value, Some(version)),
        None => (ResetCode::default(), None),
    };
    if now - current.window_start >= DELIVERY_WINDOW_MS {
        (current.window_start, current.deliveries) = (now, 0);
    }
    if current.deliveries >= DELIVERIES_PER_WINDOW {
        tracing::info!(user = %user.user_id, "reset codes: this hour's deliveries are used up");
        return Ok(());
    }
    let codes = &found.counts.codes;
    let seen = found.throttles.get(codes).copied();
    let counted =
        lockout::count_in_window(state, codes, seen, CODES_PER_ADDRESS, DELIVERY_WINDOW_MS).await?;
    if counted.is_err() {
        tracing::warn!(from = %from, "reset codes: this address's deliveries are used up");
        return Ok(());
    }
    let next = ResetCode {
        code_hash: Some(code_hash),
        code_expires_at: now + CODE_TTL_MS,
        failures: 0,
        window_start: current.window_start,
        deliveries: current.deliveries + 1,
    };
    let expires_at = next.expires_at(DELIVERY_WINDOW_MS);
    if !store
        .put_reset(user.user_id, expected, &next, expires_at, now)
        .await?
    {
        // Another request for this account wrote first: its code is the one delivered.
        return Ok(());
    }
    let message = Message {
        kind: "password_reset",
        user_id: user.user_id.to_string(),
        channel,
        to,
        code: Some(code),
        field: None,
        created_date: format_timestamp(now),
    };
    if let Err(e) = state.delivery().deliver(&message).await {
        tracing::error!(user = %user.user_id, error = ?e, "reset code not delivered");
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Wrong, expired, used or voided code, or no such account (the same answer).
    #[error("The code is wrong or has expired")]
    InvalidCode,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// `POST /password/reset`: sets `new` as the account's secret if `code` is its live code, and
/// ends every login of the account. Each try is counted before the code is checked (a
/// conditional write), so however many arrive at once, at most [`MAX_CODE_FAILURES`] are
/// checked against one code; the right one is used up by a second conditional write before
/// the secret changes.
#[tracing::instrument(skip_all)]
pub async fn reset(
    state: &AppState,
    identifier: &LoginIdentifier,
    code: &str,
    new: &Secret,
    from: &ClientAddress,
) -> Result<(), ResetError> {
    let started = tokio::time::Instant::now();
    let result = try_code(state, identifier, code, new, from).await;
    // A refused code is answered after the same time whoever it was for: an account counts
    // the try (writes) where an unknown identifier has nothing to count.
    if matches!(result, Err(ResetError::InvalidCode)) {
        tokio::time::sleep_until(started + FORGOT_MIN_DURATION).await;
    }
    result
}

async fn try_code(
    state: &AppState,
    identifier: &LoginIdentifier,
    code: &str,
    new: &Secret,
    from: &ClientAddress,
) -> Result<(), ResetError> {
    let store = state.store();
    let found = read_account_and_code(state, identifier, from, now_millis()).await?;
    let mut user = found.user.clone();
    let owner = user.as_ref().map(|u| u.user_id).unwrap_or_default();
    let reserved = match &user {
        Some(u) if count_try(state, u, &found).await? => {
            reserve_try(state, owner, found.code.clone()).await?
        }
        // Too many tries from here, or for the account: refused as a wrong code, unchecked.
        _ => None,
    };
    // No live code still costs one verification.
    let stored = reserved.as_ref().map(|(hash, _)| hash.as_str());
    let verified = state.hasher().verify(code, stored).await?;
    let (Some((hash, version)), true) = (reserved, verified) else {
        return Err(ResetError::InvalidCode);
    };
    if !use_up(state, owner, &hash, version).await? {
        return Err(ResetError::InvalidCode);
    }
    let new_hash = state.hasher().hash(new.expose()).await?;
    for _ in 0..WRITE_ATTEMPTS {
        let Some(seen) = user.take() else {
            return Err(ResetError::InvalidCode);
        };
        let change = SecretChange {
            kind: new.kind(),
            hash: &new_hash,
            keep_session: None,
            release: None,
            factor: None,
        };
        match store.change_secret(&seen, &change, now_millis()).await {
            Ok(user) => {
                super::notices::secret_changed(state, &user).await;
                return Ok(());
            }
            // The secret changed since the read: the reset still wins.
            Err(ChangeSecretError::Changed) => user = store.get_user(owner).await?,
            Err(ChangeSecretError::Locked) => unreachable!("no throttle to release"),
            Err(ChangeSecretError::CodeUsed) => unreachable!("no second-factor change"),
            Err(ChangeSecretError::Unexpected(e)) => return Err(e.into()),
        }
    }
    Err(anyhow::anyhow!("the secret of {owner} kept changing during a reset").into())
}

/// Counts one try against the live code; its hash and the record as the count left it, or
/// `None` when no code is live (none, used, expired, or voided by [`MAX_CODE_FAILURES`] wrong
/// tries).
async fn reserve_try(
    state: &AppState,
    user: UserId,
    mut read: Option<Versioned<ResetCode>>,
) -> anyhow::Result<Option<(String, Versioned<ResetCode>)>> {
    for attempt in 0..WRITE_ATTEMPTS {
        let now = now_millis();
        if attempt > 0 {
            read = state.store().get_reset(user, now).await?;
        }
        let Some(Versioned { value, version }) = read.take() else {
            return Ok(None);
        };
        let live = value.code_expires_at > now && value.failures < MAX_CODE_FAILURES;
        let Some(hash) = value.code_hash.clone().filter(|_| live) else {
            return Ok(None);
        };
        let next = ResetCode {
            failures: value.failures + 1,
            ..value.clone()
        };
        let expires_at = next.expires_at(DELIVERY_WINDOW_MS);
        if state
            .store()
            .put_reset(user, Some(version), &next, expires_at, now)
            .await?
        {
            let written = Versioned {
                value: next,
                version: version + 1,
            };
            return Ok(Some((hash, written)));
        }
    }
    anyhow::bail!("the reset code of {user} kept changing under concurrent tries")
}

/// Uses up the code whose hash is `hash`, if it is still the live one (the record as this try
/// left it is `seen`; another try's count makes it read again); false when another try used it
/// first, or a new code replaced it.
async fn use_up(
    state: &AppState,
    user: UserId,
    hash: &str,
    seen: Versioned<ResetCode>,
) -> anyhow::Result<bool> {
    let mut read = Some(seen);
    for _ in 0..WRITE_ATTEMPTS {
        let now = now_millis();
        let current = match read.take() {
            Some(seen) => Some(seen),
            None => state.store().get_reset(user, now).await?,
        };
        let Some(Versioned { value, version }) = current else {
            return Ok(false);
        };
        if value.code_hash.as_deref() != Some(hash) || value.code_expires_at <= now {
            return Ok(false);
        }
        let next = ResetCode {
            code_hash: None,
            failures: 0,
            ..value
        };
        let expires_at = next.expires_at(DELIVERY_WINDOW_MS);
        if state
            .store()
            .put_reset(user, Some(version), &next, expires_at, now)
            .await?
        {
            return Ok(true);
        }
    }
    anyhow::bail!("the reset code of {user} kept changing while being used")
}

//! Registration, login with throttling, and reading one's own account.

use crate::auth::TokenPair;
use crate::domain::{
    now_millis, ClientAddress, Email, IdentifierKind, LoginIdentifier, Millis, Phone, Secret,
    SecretKind, UserId, Username,
};
use crate::metrics::{self, LoginOutcome};
use crate::service::lockout;
use crate::service::mfa::Presented;
use crate::service::sessions::{self, Caller, SessionError};
use crate::state::AppState;
use crate::store::{
    ChangeSecretError, CloseAccountError, CreateUserError, LoginWrite, Reads, Role, SecretChange,
    UserRecord,
};

/// A validated registration request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub phone_number: Option<Phone>,
    pub secret: Secret,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{} already registered", .0.label())]
    AlreadyRegistered(IdentifierKind),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[tracing::instrument(skip_all)]
pub async fn register(state: &AppState, reg: Registration) -> Result<UserRecord, RegisterError> {
    let hash = state.hasher().hash(reg.secret.expose()).await?;
    let now = now_millis();
    let user = UserRecord {
        user_id: UserId::new(),
        username: reg.username.map(|u| u.as_str().to_string()),
        email: reg.email.map(|e| e.as_str().to_string()),
        phone_number: reg.phone_number.map(|p| p.as_str().to_string()),
        first_name: reg.first_name,
        last_name: reg.last_name,
        address: reg.address,
        secret_kind: reg.secret.kind(),
        secret_hash: hash,
        role: Role::User,
        balance: 0,
        version: 0,
        auth_epoch: 0,
        created_at: now,
        updated_at: now,
    };
    match state.store().create_user(&user).await {
        Ok(()) => Ok(user),
        Err(CreateUserError::Taken(kind)) => Err(RegisterError::AlreadyRegistered(kind)),
        Err(CreateUserError::Unexpected(e)) => Err(e.context("Failed to store a new user").into()),
    }
}

/// What a login presents.
pub struct Credentials {
    pub identifier: LoginIdentifier,
    pub secret_kind: SecretKind,
    pub secret: String,
    /// The client's `User-Agent`, kept with the login it starts (see `sessions::user_agent`).
    pub user_agent: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("Invalid credentials")]
    InvalidCredentials,
    #[error("Too many failed attempts")]
    Locked { retry_after: u64 },
    /// The secret was right; the account's second factor is needed too. A login answers with
    /// an `mfa_token` for `POST /login/mfa`; a step-up asks for `otp` or `recovery_code`.
    #[error("A code from your authenticator app is required")]
    MfaRequired { mfa_token: Option<String> },
    /// A wrong, used or expired second-factor code (counted toward the lockout).
    #[error("The code is wrong or was already used")]
    InvalidCode,
    /// An `mfa_token` that is not (or no longer) good for a login.
    #[error("Unauthenticated")]
    MfaTokenInvalid,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Logs in. Every verification is paid for by a reserved attempt (see [`lockout`]): before the
/// argon2id verification runs, the attempt is counted as a failure with a conditional write on
/// the address's record (and the account's ceiling, unless the owner logged in from that
/// address lately), so however many attempts arrive at once, from however many processes, at
/// most `threshold` of them are verified per address and lock window, and at most `ceiling`
/// per hour from other addresses; the rest are refused with 429. A verified secret gets tokens
/// only if the address is not locked by another attempt when its verification ends; the reset
/// then clears the address's count and marks it as the owner's.
///
/// DynamoDB calls: the identifier's owner; the account with its two throttle records; the
/// reservation; on success the new family together with the address's reset.
#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    creds: Credentials,
    from: &ClientAddress,
) -> Result<TokenPair, LoginError> {
    let outcome = attempt_login(state, creds, from).await;
    match &outcome {
        Ok(_) => metrics::login(LoginOutcome::Succeeded),
        Err(LoginError::InvalidCredentials) => metrics::login(LoginOutcome::Failed),
        Err(LoginError::Locked { .. }) => metrics::login(LoginOutcome::Locked),
        Err(
            LoginError::Unexpected(_)
            | LoginError::MfaRequired { .. }
            | LoginError::InvalidCode
            | LoginError::MfaTokenInvalid,
        ) => {}
    }
    outcome
}

async fn attempt_login(
    state: &AppState,
    creds: Credentials,
    from: &ClientAddress,
) -> Result<TokenPair, LoginError> {
    let first = state
        .store()
        .read(
            &Reads {
                identifier: Some(creds.identifier.clone()),
                ..Reads::default()
            },
            now_millis(),
        )
        .await
        .map_err(|e| e.context("Failed to look up the login identifier"))?;
    // Failures are counted per account across all its identifiers; identifiers that name no
    // account are counted on their own, read the same way.
    let keys = match first.identifier_owner {
        Some(owner) => lockout::Keys::account(owner, from),
        None => lockout::Keys::unknown(&creds.identifier, from),
    };
    let second = state
        .store()
        .read(
            &Reads {
                account: first.identifier_owner,
                factor: first.identifier_owner,
                throttles: keys.to_vec(),
                ..Reads::default()
            },
            now_millis(),
        )
        .await
        .map_err(|e| e.context("Failed to read the account"))?;
    let second_factor = super::mfa::active(&second).is_some();
    let user = second.account;
    let gen = user.as_ref().map_or(0, lockout::secret_gen);
    let reserved = lockout::reserve(state, &keys, gen, &second.throttles).await?;
    // Unknown accounts and the wrong kind of secret still cost one verification.
    let stored = user
        .as_ref()
        .filter(|u| u.secret_kind == creds.secret_kind)
        .map(|u| u.secret_hash.as_str());
    let verified = state.hasher().verify(&creds.secret, stored).await?;
    match user {
        // The secret alone logs in no account with a second factor: the attempt stays counted
        // until a code finishes it (`POST /login/mfa`, bound to this address and epoch).
        Some(user) if verified && second_factor => {
            let sid = uuid::Uuid::new_v4().to_string();
            let token = state.issuer()?.issue_mfa(
                user.user_id,
                &sid,
                user.auth_epoch,
                &from.to_string(),
                chrono::Utc::now().timestamp(),
            )?;
            Err(LoginError::MfaRequired {
                mfa_token: Some(token),
            })
        }
        Some(user) if verified => {
            let agent = creds.user_agent.clone();
            let release = reserved.release(state, true);
            match sessions::start_after_login(state, &user, agent, &release, None).await? {
                (LoginWrite::Started, pair) => Ok(pair),
                (LoginWrite::Locked, _) => Err(lockout::locked_now(state, &reserved.key).await),
                // The secret verified is no longer the account's, or its logins were ended
                // after it was read: this login ends with them.
                (LoginWrite::EpochMoved, _) => Err(LoginError::InvalidCredentials),
                (LoginWrite::CodeUsed | LoginWrite::Duplicate, _) => {
                    Err(anyhow::anyhow!("a login without a second factor used a code").into())
                }
            }
        }
        // The failure was counted when the attempt was reserved.
        _ => Err(LoginError::InvalidCredentials),
    }
}

/// A secret an authenticated user presented again, accepted: who asked, their account as
/// read, the attempt reserved for it (for the write that resets it), the account's second
/// factor, and the code the request passed it with (to use up in its write).
pub(crate) struct Rechecked {
    pub principal: sessions::Principal,
    pub user: UserRecord,
    pub reserved: lockout::Reserved,
    pub factor: Option<crate::store::Factor>,
    pub stepped: Option<crate::store::CodeUse>,
}

/// Why a secret presented again was not accepted.
pub(crate) enum RecheckError {
    /// The login is no longer live, or its account no longer exists.
    Gone,
    /// The secret is wrong (counted toward the lockout), or the account is locked.
    Refused(LoginError),
}

/// Checks a secret an authenticated user presents again (to change an identifier or the
/// secret, or to close the account) as a login checks it, from the caller's address. One read
/// (the session, the account and its throttle records), then the attempt is reserved (a
/// locked address is refused unverified); a wrong secret, or one of the other kind, is a
/// counted failure. With `step_up` and an active second factor, `presented` is then checked on
/// the same reservation (api.md's order: the secret, then the second factor).
pub(crate) async fn recheck_secret(
    state: &AppState,
    caller: &Caller,
    kind: SecretKind,
    secret: &str,
    from: &ClientAddress,
    step_up: Option<Option<&Presented>>,
) -> Result<Rechecked, RecheckError> {
    let presented = step_up.flatten();
    let keys = lockout::Keys::account(caller.user_id(), from);
    let mut reads = Reads {
        account: Some(caller.user_id()),
        throttles: keys.to_vec(),
        ..Reads::default()
    };
    super::mfa::add_reads(&mut reads, caller.user_id(), from, presented);
    let (principal, snap) = caller.load(state, reads).await.map_err(|e| match e {
        SessionError::Unauthenticated => RecheckError::Gone,
        SessionError::Unexpected(e) => RecheckError::Refused(e.into()),
    })?;
    let user = snap.account.clone().ok_or(RecheckError::Gone)?;
    let reserved = lockout::reserve(state, &keys, lockout::secret_gen(&user), &snap.throttles)
        .await
        .map_err(RecheckError::Refused)?;
    let stored = (user.secret_kind == kind).then_some(user.secret_hash.as_str());
    match state.hasher().verify(secret, stored).await {
        Ok(true) => {
            let stepped = match step_up {
                Some(presented) => super::mfa::step_up(
                    state,
                    &user,
                    &snap,
                    presented,
                    from,
                    Some(reserved.clone()),
                )
                .await
                .map_err(RecheckError::Refused)?,
                None => None,
            };
            Ok(Rechecked {
                principal,
                user,
                reserved,
                factor: snap.factor.clone(),
                stepped: stepped.map(|s| s.code),
            })
        }
        Ok(false) => Err(RecheckError::Refused(LoginError::InvalidCredentials)),
        Err(e) => Err(RecheckError::Refused(e.into())),
    }
}

/// `PUT /account/secret`: the current secret and the new one (of either kind).
pub struct SecretUpdate {
    pub current_kind: SecretKind,
    pub current: String,
    pub new: Secret,
    /// The second factor, when the account has one.
    pub second: Option<Presented>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The current secret is wrong (counted toward the lockout), or the account is locked.
    #[error(transparent)]
    Refused(LoginError),
    /// The login is no longer live, or its account no longer exists.
    #[error("Unauthenticated")]
    Gone,
    /// The secret was changed by another request meanwhile.
    #[error("the account changed meanwhile")]
    Changed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Changes the caller's secret after checking the current one (as a login does, counted
/// toward the lockout); every other login of the account is revoked, the caller's stays.
/// One read (the session, the account, its throttle), the attempt's reservation, then one
/// atomic write: the secret, the throttle's reset and the revocations.
#[tracing::instrument(skip_all)]
pub async fn change_secret(
    state: &AppState,
    caller: &Caller,
    update: SecretUpdate,
    from: &ClientAddress,
) -> Result<UserRecord, SecretError> {
    let Rechecked {
        principal,
        user,
        reserved,
        stepped,
        ..
    } = recheck_secret(
        state,
        caller,
        update.current_kind,
        &update.current,
        from,
        Some(update.second.as_ref()),
    )
    .await
    .map_err(|e| match e {
        RecheckError::Gone => SecretError::Gone,
        RecheckError::Refused(e) => SecretError::Refused(e),
    })?;
    let hash = state.hasher().hash(update.new.expose()).await?;
    let release = reserved.release(state, false);
    let factor = stepped.map(crate::store::FactorChange::Use);
    let change = SecretChange {
        kind: update.new.kind(),
        hash: &hash,
        keep_session: Some(&principal.session_id),
        release: Some(&release),
        factor: factor.as_ref(),
    };
    match state
        .store()
        .change_secret(&user, &change, now_millis())
        .await
    {
        Ok(user) => {
            super::notices::secret_changed(state, &user).await;
            Ok(user)
        }
        Err(ChangeSecretError::Locked) => Err(SecretError::Refused(
            lockout::locked_now(state, &reserved.key).await,
        )),
        Err(ChangeSecretError::Changed) => {
            // The secret (and the code) were right: the reservation is reset as theirs is.
            state
                .store()
                .release_throttle(&release, now_millis())
                .await?;
            Err(SecretError::Changed)
        }
        Err(ChangeSecretError::CodeUsed) => Err(SecretError::Refused(LoginError::InvalidCode)),
        Err(ChangeSecretError::Unexpected(e)) => Err(e.into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// The secret is wrong (counted toward the lockout), or the account is locked.
    #[error(transparent)]
    Refused(LoginError),
    #[error("Unauthenticated")]
    Gone,
    #[error("the balance is not zero")]
    BalanceNotZero,
    #[error("a transfer is pending")]
    TransferPending,
    #[error("the account changed meanwhile")]
    Changed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// `DELETE /account`: after the secret is checked as a login checks it, the account closes
/// if its balance is 0 and no transfer from or to it is pending (see
/// `IdentityStore::close_account`). A refusal after a right secret resets the throttle as a
/// successful login does.
#[tracing::instrument(skip_all)]
pub async fn close_account(
    state: &AppState,
    caller: &Caller,
    kind: SecretKind,
    secret: &str,
    second: Option<&Presented>,
    from: &ClientAddress,
) -> Result<(), CloseError> {
    let Rechecked {
        user,
        reserved,
        stepped,
        ..
    } = recheck_secret(state, caller, kind, secret, from, Some(second))
        .await
        .map_err(|e| match e {
            RecheckError::Gone => CloseError::Gone,
            RecheckError::Refused(e) => CloseError::Refused(e),
        })?;
    let refused = if user.balance != 0 {
        CloseError::BalanceNotZero
    } else {
        let keys = [
            reserved.key.clone(),
            lockout::Keys::account(user.user_id, from).ceiling,
            lookup_throttle_key(user.user_id),
        ];
        match state
            .store()
            .close_account(&user, &keys, stepped.as_ref())
            .await
        {
            Ok(()) => {
                // The account is gone: its picture goes after it.
                if let Err(e) = state.pictures().delete(user.user_id).await {
                    tracing::error!(user = %user.user_id, error = ?e, "a closed account's picture was not removed");
                }
                return Ok(());
            }
            Err(CloseAccountError::BalanceNotZero) => CloseError::BalanceNotZero,
            Err(CloseAccountError::TransferPending) => CloseError::TransferPending,
            Err(CloseAccountError::Changed) => CloseError::Changed,
            Err(CloseAccountError::CodeUsed) => {
                return Err(CloseError::Refused(LoginError::InvalidCode))
            }
            Err(CloseAccountError::Unexpected(e)) => return Err(e.into()),
        }
    };
    state
        .store()
        .release_throttle(&reserved.release(state, false), now_millis())
        .await?;
    Err(refused)
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The login is no longer live, or its account no longer exists.
    #[error("account no longer exists")]
    Gone,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The caller's account, and whether its second factor is active: one read with the session
/// check.
#[tracing::instrument(skip_all)]
pub async fn account(
    state: &AppState,
    caller: &Caller,
) -> Result<(UserRecord, bool), AccountError> {
    let reads = Reads {
        account: Some(caller.user_id()),
        factor: Some(caller.user_id()),
        ..Reads::default()
    };
    match caller.load(state, reads).await {
        Ok((_, snap)) => {
            let mfa = super::mfa::active(&snap).is_some();
            snap.account.map(|a| (a, mfa)).ok_or(AccountError::Gone)
        }
        Err(SessionError::Unauthenticated) => Err(AccountError::Gone),
        Err(SessionError::Unexpected(e)) => Err(AccountError::Unexpected(e)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentifierError {
    /// The current secret is wrong (counted toward the lockout), or the account is locked.
    #[error(transparent)]
    Refused(LoginError),
    #[error("{} already registered", .0.label())]
    Taken(IdentifierKind),
    /// Removing it would leave the account without an identifier to log in with.
    #[error("one of username, email, phone_number must remain")]
    LastIdentifier(IdentifierKind),
    /// The login is no longer live, or its account no longer exists.
    #[error("Unauthenticated")]
    Gone,
    /// Another change to the account's identifiers came first.
    #[error("the account changed meanwhile")]
    Changed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// `PUT /account/{username,email,phone_number}`: what to set, and the current secret.
pub struct IdentifierUpdate {
    pub kind: IdentifierKind,
    /// The new identifier; `None` removes it.
    pub value: Option<String>,
    pub current_kind: SecretKind,
    pub current: String,
    /// The second factor, when the account has one.
    pub second: Option<Presented>,
}

/// `PUT /account/{username,email,phone_number}`: sets or (with `None`) removes one identifier
/// after checking the current secret as a login checks it (counted toward the lockout, and
/// before the new identifier's uniqueness, so a 409 needs the secret: a stolen access token
/// alone can't redirect the account's reset codes). One read with the session check, the
/// attempt's reservation, then one atomic write moving the identifier's claim with the
/// throttle's reset. A changed or removed email or phone number is told at its old address.
#[tracing::instrument(skip_all)]
pub async fn change_identifier(
    state: &AppState,
    caller: &Caller,
    update: IdentifierUpdate,
    from: &ClientAddress,
) -> Result<(UserRecord, bool), IdentifierError> {
    let IdentifierUpdate {
        kind,
        value,
        current_kind,
        current,
        second,
    } = update;
    let Rechecked {
        user,
        reserved,
        stepped,
        factor,
        ..
    } = recheck_secret(
        state,
        caller,
        current_kind,
        &current,
        from,
        Some(second.as_ref()),
    )
    .await
    .map_err(|e| match e {
        RecheckError::Gone => IdentifierError::Gone,
        RecheckError::Refused(e) => IdentifierError::Refused(e),
    })?;
    let mfa = factor.is_some_and(|f| f.active);
    let refused = if *user.identifier(kind) == value {
        None
    } else if value.is_none() && user.identifiers().len() == 1 {
        Some(IdentifierError::LastIdentifier(kind))
    } else {
        use crate::store::ChangeIdentifierError as E;
        let release = reserved.release(state, false);
        match state
            .store()
            .change_identifier(
                &user,
                kind,
                value.as_deref(),
                Some(&release),
                stepped.as_ref(),
                now_millis(),
            )
            .await
        {
            Ok(changed) => {
                super::notices::identifier_changed(state, &user, &changed, kind).await;
                return Ok((changed, mfa));
            }
            Err(E::Taken(kind)) => Some(IdentifierError::Taken(kind)),
            Err(E::Changed) => Some(IdentifierError::Changed),
            Err(E::CodeUsed) => {
                return Err(IdentifierError::Refused(LoginError::InvalidCode));
            }
            Err(E::Locked) => {
                return Err(IdentifierError::Refused(
                    lockout::locked_now(state, &reserved.key).await,
                ))
            }
            Err(E::Unexpected(e)) => return Err(IdentifierError::Unexpected(e)),
        }
    };
    // The secret was right: its reservation is released as a successful login's is.
    state
        .store()
        .release_throttle(&reserved.release(state, false), now_millis())
        .await?;
    match refused {
        Some(e) => Err(e),
        None => Ok((user, mfa)),
    }
}

/// At most this many recipient lookups per user per window.
pub const LOOKUPS_PER_WINDOW: u32 = 30;
/// The lookup window.
pub const LOOKUP_WINDOW_MS: Millis = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("Recipient not found")]
    NotFound,
    #[error("Too many lookups")]
    Throttled { retry_after: u64 },
    #[error("Unauthenticated")]
    Gone,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Whom a transfer to `target` would reach (`GET /users/lookup`). Every lookup counts toward
/// the caller's limit, found or not. One read (the caller's session, the limit's record and
/// the target: by id its account; by username or phone its identifier's owner, whose account
/// is then a second read), then one write (the count).
#[tracing::instrument(skip_all)]
pub async fn lookup(
    state: &AppState,
    caller: &Caller,
    target: &crate::service::wallet::Recipient,
) -> Result<UserRecord, LookupError> {
    let key = lookup_throttle_key(caller.user_id());
    let (other_account, identifier) = target.reads();
    let reads = Reads {
        other_account,
        identifier,
        throttles: vec![key.clone()],
        ..Reads::default()
    };
    let (_, snap) = caller.load(state, reads).await.map_err(|e| match e {
        SessionError::Unauthenticated => LookupError::Gone,
        SessionError::Unexpected(e) => LookupError::Unexpected(e),
    })?;
    let seen = snap.throttles.get(&key).copied();
    lockout::count_in_window(state, &key, seen, LOOKUPS_PER_WINDOW, LOOKUP_WINDOW_MS)
        .await?
        .map_err(|retry_after| LookupError::Throttled { retry_after })?;
    match (snap.other_account, snap.identifier_owner) {
        (Some(account), _) => Ok(account),
        (None, Some(owner)) => state
            .store()
            .get_user(owner)
            .await?
            .ok_or(LookupError::NotFound),
        (None, None) => Err(LookupError::NotFound),
    }
}

/// The record counting a user's recipient lookups.
fn lookup_throttle_key(user: UserId) -> String {
    format!("lookup:{user}")
}

//! The second factor (api.md, "Second factor and step-up"): enrolling a TOTP authenticator,
//! confirming it (which hands out the recovery codes and ends every other login), removing it,
//! the second step of a login, and the step-up that money and sensitive changes ask for.
//!
//! Every code checked is paid for like a secret: reserved on the account's lockout records for
//! the client address before it is checked (a request that also presents the secret checks both
//! on one reservation), so wrong codes lock an address as wrong secrets do. A code is used up
//! only by the write that acts on it, on the condition that it is still unused, so a code is
//! accepted once however many requests carry it at once.

use crate::auth::totp::{self, Authenticator};
use crate::auth::TokenKind;
use crate::domain::{now_millis, ClientAddress, SecretKind, UserId};
use crate::service::accounts::{recheck_secret, LoginError, RecheckError};
use crate::service::lockout::{self, Reserved};
use crate::service::sessions::{self, Caller, SessionError};
use crate::state::AppState;
use crate::store::{
    ChangeSecretError, CodeUse, Factor, FactorChange, LoginWrite, Reads, SecretChange, Snapshot,
    UserRecord,
};

/// A code presented as the second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// A code from the authenticator app.
    Otp(String),
    /// One of the recovery codes.
    Recovery(String),
}

/// How many codes one `mfa_token` may try.
pub const MFA_TOKEN_CODES: u32 = 5;
/// After this many wrong codes following a right secret within [`CODE_FAILURES_WINDOW_MS`],
/// across logins and step-ups, the owner is told (once per window).
pub const CODE_FAILURES_NOTICE: u32 = 3;
/// The window wrong codes after a right secret are counted in.
pub const CODE_FAILURES_WINDOW_MS: i64 = 3_600_000;

/// A wrong code presented after the right secret of `user` (someone has the secret): counted
/// per account; the [`CODE_FAILURES_NOTICE`]th of a window tells the owner. Never fails the
/// request it is counted for.
pub(crate) async fn wrong_code_after_secret(state: &AppState, user: &UserRecord) {
    let key = format!("mfa-failures:{}", user.user_id);
    match lockout::count_in_window(state, &key, None, u32::MAX, CODE_FAILURES_WINDOW_MS).await {
        Ok(Ok(CODE_FAILURES_NOTICE)) => {
            super::notices::second_factor(state, user, "mfa_code_failures").await
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(user = %user.user_id, error = ?e, "wrong codes not counted"),
    }
}

/// Adds what checking a second factor for `user` needs to a request's first read: the factor,
/// and when a code is presented, the lockout records of the address (and the recovery codes).
pub(crate) fn add_reads(
    reads: &mut Reads,
    user: UserId,
    from: &ClientAddress,
    presented: Option<&Presented>,
) {
    reads.factor = Some(user);
    if let Some(presented) = presented {
        if matches!(presented, Presented::Recovery(_)) {
            reads.recovery_codes = Some(user);
        }
        for key in lockout::Keys::account(user, from).to_vec() {
            if !reads.throttles.contains(&key) {
                reads.throttles.push(key);
            }
        }
    }
}

/// The account's factor, when it is active.
pub(crate) fn active(snap: &Snapshot) -> Option<&Factor> {
    snap.factor.as_ref().filter(|f| f.active)
}

/// The use of `presented` if it is a right, unused code of `factor` (active or pending);
/// `None` when it is wrong or used.
pub(crate) async fn check(
    state: &AppState,
    user: UserId,
    factor: &Factor,
    recovery: &[String],
    presented: &Presented,
) -> anyhow::Result<Option<CodeUse>> {
    let key = state.factor_key().await?;
    match presented {
        Presented::Otp(code) => {
            let secret = key.open(&user.to_string(), &factor.sealed_secret)?;
            let authenticator = Authenticator::new(secret, &user.to_string())?;
            let last = (factor.last_step > 0).then_some(factor.last_step);
            Ok(authenticator
                .accept(code, state.code_clock(), last)
                .map(|step| CodeUse::Totp { step }))
        }
        Presented::Recovery(code) => {
            let hash = key.recovery_hash(code);
            Ok((factor.active && recovery.contains(&hash)).then_some(CodeUse::Recovery { hash }))
        }
    }
}

/// A second factor a request passed: the code to use up with its write, and the reservation
/// it was checked on.
pub(crate) struct SteppedUp {
    pub code: CodeUse,
    pub reserved: Reserved,
}

/// The step-up of a request by `account` as `snap` read it (with [`add_reads`]): nothing when
/// the account has no active factor; `MfaRequired` without a code; the code checked on
/// `reserved` (the secret's reservation, when the request presented one) or on a new
/// reservation; `InvalidCode` when it is wrong (counted).
pub(crate) async fn step_up(
    state: &AppState,
    account: &UserRecord,
    snap: &Snapshot,
    presented: Option<&Presented>,
    from: &ClientAddress,
    reserved: Option<Reserved>,
) -> Result<Option<SteppedUp>, LoginError> {
    let Some(factor) = active(snap) else {
        return Ok(None);
    };
    let Some(presented) = presented else {
        return Err(LoginError::MfaRequired { mfa_token: None });
    };
    let after_secret = reserved.is_some();
    let reserved = match reserved {
        Some(reserved) => reserved,
        None => {
            let keys = lockout::Keys::account(account.user_id, from);
            lockout::reserve(state, &keys, lockout::secret_gen(account), &snap.throttles).await?
        }
    };
    match check(
        state,
        account.user_id,
        factor,
        &snap.recovery_codes,
        presented,
    )
    .await?
    {
        Some(code) => Ok(Some(SteppedUp { code, reserved })),
        None => {
            if after_secret {
                wrong_code_after_secret(state, account).await;
            }
            Err(LoginError::InvalidCode)
        }
    }
}

/// After the write that used a stepped-up code: the reservation is reset as a right secret's is.
pub(crate) async fn passed(state: &AppState, stepped: Option<&SteppedUp>) {
    if let Some(stepped) = stepped {
        let release = stepped.reserved.release(state, false);
        if let Err(e) = state.store().release_throttle(&release, now_millis()).await {
            tracing::warn!(error = ?e, "a passed second factor's reservation was not reset");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// A wrong secret or code (counted), a missing code, or a locked address.
    #[error(transparent)]
    Refused(LoginError),
    /// The login is no longer live, or its account no longer exists.
    #[error("Unauthenticated")]
    Gone,
    #[error("A second factor is already active")]
    AlreadyEnabled,
    /// Removing: no factor is active.
    #[error("No second factor is active")]
    NotEnabled,
    /// Confirming: no pending factor, or a wrong code for it.
    #[error("The code is wrong or has expired")]
    WrongConfirmation,
    /// The account or its factor changed meanwhile.
    #[error("the account changed meanwhile")]
    Changed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RecheckError> for MfaError {
    fn from(e: RecheckError) -> Self {
        match e {
            RecheckError::Gone => Self::Gone,
            RecheckError::Refused(e) => Self::Refused(e),
        }
    }
}

impl From<SessionError> for MfaError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unauthenticated => Self::Gone,
            SessionError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// A new authenticator, pending until confirmed.
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
    /// `otpauth_uri` as a QR code, an SVG document (for the web app, whose CSP allows no
    /// third-party script to draw one).
    pub qr_svg: String,
}

/// `uri` as a QR code in SVG: medium error correction, a quiet zone, at least 200 px.
fn qr_svg(uri: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M)
        .map_err(|e| anyhow::anyhow!("Failed to draw the enrolment's QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// `POST /mfa/totp`: after the current secret (checked as a login checks it), a new random
/// secret becomes the account's pending authenticator (replacing a pending one).
#[tracing::instrument(skip_all)]
pub async fn enrol(
    state: &AppState,
    caller: &Caller,
    kind: SecretKind,
    secret: &str,
    from: &ClientAddress,
) -> Result<Enrolment, MfaError> {
    let rechecked = recheck_secret(state, caller, kind, secret, from, None).await?;
    let user = &rechecked.user;
    // With a factor active the secret alone resets no count (as at login): the reservation
    // stays counted.
    if rechecked.factor.as_ref().is_some_and(|f| f.active) {
        return Err(MfaError::AlreadyEnabled);
    }
    let released = state
        .store()
        .release_throttle(&rechecked.reserved.release(state, false), now_millis())
        .await?;
    if !released {
        return Err(MfaError::Refused(
            lockout::locked_now(state, &rechecked.reserved.key).await,
        ));
    }
    let raw = Authenticator::new_secret();
    let sealed = state
        .factor_key()
        .await?
        .seal(&user.user_id.to_string(), &raw)?;
    let label = user
        .username
        .clone()
        .or_else(|| user.email.clone())
        .or_else(|| user.phone_number.clone())
        .unwrap_or_else(|| user.user_id.to_string());
    let authenticator = Authenticator::new(raw, &label).map_err(anyhow::Error::from)?;
    if !state
        .store()
        .put_pending_factor(user.user_id, &sealed, now_millis())
        .await?
    {
        return Err(MfaError::AlreadyEnabled);
    }
    let mut uri = authenticator.otpauth_uri().map_err(anyhow::Error::from)?;
    // Spelled out, defaults included: some apps assume other defaults.
    for (name, value) in [("algorithm", "SHA1"), ("digits", "6"), ("period", "30")] {
        if !uri.contains(&format!("{name}=")) {
            uri.push_str(&format!("&{name}={value}"));
        }
    }
    Ok(Enrolment {
        secret: authenticator.secret_base32(),
        qr_svg: qr_svg(&uri)?,
        otpauth_uri: uri,
    })
}

/// `POST /mfa/totp/confirm`: a right code of the pending authenticator makes it active, with
/// new recovery codes (returned this once), and ends every other login of the account in the
/// same write. Wrong codes count toward the lockout.
#[tracing::instrument(skip_all)]
pub async fn confirm(
    state: &AppState,
    caller: &Caller,
    code: &str,
    from: &ClientAddress,
) -> Result<Vec<String>, MfaError> {
    let keys = lockout::Keys::account(caller.user_id(), from);
    let reads = Reads {
        account: Some(caller.user_id()),
        factor: Some(caller.user_id()),
        throttles: keys.to_vec(),
        ..Reads::default()
    };
    let (principal, snap) = caller.load(state, reads).await?;
    let user = snap.account.clone().ok_or(MfaError::Gone)?;
    let factor = match &snap.factor {
        Some(f) if f.active => return Err(MfaError::AlreadyEnabled),
        Some(f) => f.clone(),
        None => return Err(MfaError::WrongConfirmation),
    };
    let reserved = lockout::reserve(state, &keys, lockout::secret_gen(&user), &snap.throttles)
        .await
        .map_err(MfaError::Refused)?;
    let presented = Presented::Otp(code.to_string());
    let Some(CodeUse::Totp { step }) = check(state, user.user_id, &factor, &[], &presented).await?
    else {
        return Err(MfaError::WrongConfirmation);
    };
    let codes = totp::new_recovery_codes();
    let key = state.factor_key().await?;
    let change = FactorChange::Activate {
        sealed_secret: factor.sealed_secret.clone(),
        step,
        recovery: codes.iter().map(|c| key.recovery_hash(c)).collect(),
    };
    let release = reserved.release(state, false);
    end_other_logins(
        state,
        &user,
        &principal.session_id,
        &release,
        &change,
        &reserved.key,
    )
    .await
    .map_err(|e| match e {
        MfaError::Refused(LoginError::InvalidCode) => MfaError::WrongConfirmation,
        e => e,
    })?;
    super::notices::second_factor(state, &user, "mfa_enabled").await;
    Ok(codes)
}

/// `DELETE /mfa/totp`: with the current secret and a code, the factor and its recovery codes
/// are removed, and every other login of the account ends.
#[tracing::instrument(skip_all)]
pub async fn disable(
    state: &AppState,
    caller: &Caller,
    kind: SecretKind,
    secret: &str,
    presented: Option<&Presented>,
    from: &ClientAddress,
) -> Result<(), MfaError> {
    let rechecked = recheck_secret(state, caller, kind, secret, from, Some(presented)).await?;
    let Some(code) = rechecked.stepped else {
        // No active factor: nothing to remove.
        state
            .store()
            .release_throttle(&rechecked.reserved.release(state, false), now_millis())
            .await?;
        return Err(MfaError::NotEnabled);
    };
    let change = FactorChange::Remove(Some(code));
    let release = rechecked.reserved.release(state, false);
    end_other_logins(
        state,
        &rechecked.user,
        &rechecked.principal.session_id,
        &release,
        &change,
        &rechecked.reserved.key,
    )
    .await?;
    super::notices::second_factor(state, &rechecked.user, "mfa_disabled").await;
    Ok(())
}

/// The write that changes the factor and ends every other login: a secret change to the same
/// secret (the account moves to its next auth epoch, this login with it).
async fn end_other_logins(
    state: &AppState,
    user: &UserRecord,
    keep_session: &str,
    release: &crate::store::ThrottleRelease,
    change: &FactorChange,
    reserved_key: &str,
) -> Result<(), MfaError> {
    let secret = SecretChange::keeping_secret(user, Some(keep_session), Some(release), change);
    match state
        .store()
        .change_secret(user, &secret, now_millis())
        .await
    {
        Ok(_) => Ok(()),
        Err(ChangeSecretError::Locked) => Err(MfaError::Refused(
            lockout::locked_now(state, reserved_key).await,
        )),
        Err(ChangeSecretError::CodeUsed) => Err(MfaError::Refused(LoginError::InvalidCode)),
        Err(ChangeSecretError::Changed) => {
            // The secret and the code were right: the reservation is reset as theirs is.
            state
                .store()
                .release_throttle(release, now_millis())
                .await?;
            Err(MfaError::Changed)
        }
        Err(ChangeSecretError::Unexpected(e)) => Err(e.into()),
    }
}

/// `POST /login/mfa`: the second step of a login. The `mfa_token` must be one this service
/// issued for the caller's address, unexpired, unused, with codes left, and its account still
/// at the auth epoch it was issued at. The code is checked on a reservation of the address's
/// lockout (429 wins once it is locked); a right code starts the login in one write with the
/// code's use, the reset of the address's count, and the token's use (the login's id is the
/// token's). Wrong codes are counted toward telling the owner (see [`wrong_code_after_secret`]).
///
/// DynamoDB calls: one `BatchGetItem` (the account, its factor, the address's two lockout
/// records and the token's count, and the recovery codes when one is presented), the
/// reservation, the token's count, and the login's `TransactWriteItems`.
#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    mfa_token: &str,
    presented: &Presented,
    user_agent: Option<String>,
    from: &ClientAddress,
) -> Result<crate::auth::TokenPair, LoginError> {
    let now = chrono::Utc::now().timestamp();
    let claims = state
        .verifier()
        .verify(mfa_token, TokenKind::Mfa, now)
        .map_err(|_| LoginError::MfaTokenInvalid)?;
    if claims.addr.as_deref() != Some(from.to_string().as_str()) {
        return Err(LoginError::MfaTokenInvalid);
    }
    let user_id = claims.user_id().map_err(|_| LoginError::MfaTokenInvalid)?;
    let keys = lockout::Keys::account(user_id, from);
    let token_key = format!("mfa:{}", claims.jti);
    let mut reads = Reads {
        account: Some(user_id),
        throttles: vec![token_key.clone()],
        ..Reads::default()
    };
    add_reads(&mut reads, user_id, from, Some(presented));
    let snap = state
        .store()
        .read(&reads, now_millis())
        .await
        .map_err(|e| e.context("Failed to read the account"))?;
    let user = snap
        .account
        .clone()
        .filter(|u| u.auth_epoch == claims.auth_epoch)
        .ok_or(LoginError::MfaTokenInvalid)?;
    let factor = active(&snap).cloned().ok_or(LoginError::MfaTokenInvalid)?;
    let reserved =
        lockout::reserve(state, &keys, lockout::secret_gen(&user), &snap.throttles).await?;
    let window = crate::auth::TokenIssuer::MFA_TOKEN_SECS * 1000;
    lockout::count_in_window(
        state,
        &token_key,
        snap.throttles.get(&token_key).copied(),
        MFA_TOKEN_CODES,
        window,
    )
    .await?
    .map_err(|_| LoginError::MfaTokenInvalid)?;
    let Some(code) = check(state, user_id, &factor, &snap.recovery_codes, presented).await? else {
        wrong_code_after_secret(state, &user).await;
        return Err(LoginError::InvalidCode);
    };
    let release = reserved.release(state, true);
    let second = sessions::SecondFactor {
        session_id: &claims.sid,
        code: &code,
    };
    match sessions::start_after_login(state, &user, user_agent, &release, Some(second)).await? {
        (LoginWrite::Started, pair) => Ok(pair),
        (LoginWrite::Locked, _) => Err(lockout::locked_now(state, &reserved.key).await),
        (LoginWrite::CodeUsed, _) => Err(LoginError::InvalidCode),
        (LoginWrite::EpochMoved | LoginWrite::Duplicate, _) => Err(LoginError::MfaTokenInvalid),
    }
}

/// The operator's removal of a factor, for an owner who lost both the authenticator and the
/// recovery codes: the factor and its codes go and every login of the account ends; the owner
/// is told. False when the account has no factor.
#[tracing::instrument(skip_all)]
pub async fn remove_by_operator(state: &AppState, user: UserId) -> anyhow::Result<bool> {
    let reads = Reads {
        account: Some(user),
        factor: Some(user),
        ..Reads::default()
    };
    let snap = state.store().read(&reads, now_millis()).await?;
    let (Some(account), Some(_)) = (snap.account, snap.factor) else {
        return Ok(false);
    };
    let change = FactorChange::Remove(None);
    let secret = SecretChange::keeping_secret(&account, None, None, &change);
    state
        .store()
        .change_secret(&account, &secret, now_millis())
        .await
        .map_err(|e| anyhow::anyhow!("removing the second factor failed: {e}"))?;
    super::notices::second_factor(state, &account, "mfa_disabled").await;
    Ok(true)
}

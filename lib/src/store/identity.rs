//! Accounts and the identifiers that name them.

use async_trait::async_trait;

use super::{CodeUse, FactorChange, StoreResult, ThrottleRelease};
use crate::domain::{IdentifierKind, LoginIdentifier, Millis, SecretKind, UserId};

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: UserId,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<String>,
    pub secret_kind: SecretKind,
    /// argon2id PHC string.
    pub secret_hash: String,
    pub role: Role,
    /// Minor units; never negative.
    pub balance: i64,
    /// Incremented by every change to the balance.
    pub version: u64,
    /// The account's auth epoch: a login is bound to the epoch it read with the secret's hash,
    /// and lives only while the account is still at it. A secret change, a reset and `POST
    /// /logout/all` move it in their one write (closing removes the account), so a login still
    /// being made when they commit gets nothing usable.
    pub auth_epoch: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl UserRecord {
    /// The identifier of `kind`, as given.
    pub fn identifier(&self, kind: IdentifierKind) -> &Option<String> {
        match kind {
            IdentifierKind::Username => &self.username,
            IdentifierKind::Email => &self.email,
            IdentifierKind::Phone => &self.phone_number,
        }
    }

    /// The account with its identifier of `kind` set to `value` (or removed), changed at `now`.
    pub fn with_identifier(&self, kind: IdentifierKind, value: Option<&str>, now: Millis) -> Self {
        let mut user = self.clone();
        *match kind {
            IdentifierKind::Username => &mut user.username,
            IdentifierKind::Email => &mut user.email,
            IdentifierKind::Phone => &mut user.phone_number,
        } = value.map(str::to_string);
        user.updated_at = now;
        user
    }

    /// The keys uniqueness is enforced on, in the order conflicts are reported.
    pub fn identifiers(&self) -> Vec<LoginIdentifier> {
        [
            (IdentifierKind::Username, &self.username),
            (IdentifierKind::Email, &self.email),
            (IdentifierKind::Phone, &self.phone_number),
        ]
        .into_iter()
        .filter_map(|(kind, v)| v.as_deref().map(|v| LoginIdentifier::new(kind, v)))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("{} already registered", .0.label())]
    Taken(IdentifierKind),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeIdentifierError {
    #[error("{} already registered", .0.label())]
    Taken(IdentifierKind),
    /// The account, or one of its identifiers, changed since it was read (or it is gone).
    #[error("the account changed meanwhile")]
    Changed,
    /// Another attempt locked the login throttle the change was to reset.
    #[error("the login is locked")]
    Locked,
    /// The second-factor code was used meanwhile.
    #[error("the code was already used")]
    CodeUsed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeSecretError {
    /// The secret changed since it was read, or the account is gone.
    #[error("the account changed meanwhile")]
    Changed,
    /// Another attempt locked the login throttle the change was to reset.
    #[error("the login is locked")]
    Locked,
    /// The second-factor code was used meanwhile, or the factor changed.
    #[error("the code was already used")]
    CodeUsed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CloseAccountError {
    #[error("the balance is not zero")]
    BalanceNotZero,
    #[error("a transfer of the account is pending")]
    TransferPending,
    /// The account moved on since it was read (money moved, or it is gone).
    #[error("the account changed meanwhile")]
    Changed,
    /// The second-factor code was used meanwhile.
    #[error("the code was already used")]
    CodeUsed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A new secret for an account (`PUT /account/secret`, `POST /password/reset`).
#[derive(Debug, Clone, Copy)]
pub struct SecretChange<'a> {
    pub kind: SecretKind,
    /// argon2id PHC string of the new secret.
    pub hash: &'a str,
    /// The login that stays (the caller's own); every other login of the account is revoked.
    /// `None` revokes them all.
    pub keep_session: Option<&'a str>,
    /// The reset of the login throttle that verifying the current secret reserved, unless
    /// another attempt locked it meanwhile.
    pub release: Option<&'a ThrottleRelease>,
    /// A change to the second factor in the same write: a code used up, the factor activated or
    /// removed (confirming and removing a factor end the other logins as a secret change does,
    /// with the secret unchanged).
    pub factor: Option<&'a FactorChange>,
}

impl<'a> SecretChange<'a> {
    /// A change to the second factor of `user` that ends its other logins as a secret change
    /// does, with the secret as it is (confirming, removing a factor).
    pub fn keeping_secret(
        user: &'a UserRecord,
        keep_session: Option<&'a str>,
        release: Option<&'a ThrottleRelease>,
        factor: &'a FactorChange,
    ) -> Self {
        Self {
            kind: user.secret_kind,
            hash: &user.secret_hash,
            keep_session,
            release,
            factor: Some(factor),
        }
    }
}

/// Fields of `PUT /profile`: `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub address: Option<Option<String>>,
}

/// Accounts: create (claiming identifiers), read, change the profile, delete.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Creates the account and claims its identifiers atomically; the first identifier
    /// (username, email, phone) already taken is reported.
    async fn create_user(&self, user: &UserRecord) -> Result<(), CreateUserError>;

    async fn get_user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;

    async fn find_user(&self, identifier: &LoginIdentifier) -> StoreResult<Option<UserRecord>>;

    /// Changes the non-unique profile fields; `None` when the user does not exist.
    async fn update_profile(
        &self,
        user: UserId,
        changes: &ProfileChanges,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>>;

    /// Sets (or, with `None`, removes) the identifier of `kind` of the account as `seen`:
    /// the new identifier is claimed and the old one freed in the same atomic write, so no
    /// moment has two accounts holding one identifier, or one account's identifier unclaimed.
    /// `Changed` when any identifier of the account differs from `seen` by then. The login
    /// throttle reserved when the current secret was checked is reset (`release`) in the same
    /// write, unless another attempt locked it meanwhile
    /// (`Locked`: nothing is written). `code`, the second factor the change was stepped up
    /// with, is used up in the same write (`CodeUsed` when it was used meanwhile).
    async fn change_identifier(
        &self,
        seen: &UserRecord,
        kind: IdentifierKind,
        value: Option<&str>,
        release: Option<&ThrottleRelease>,
        code: Option<&CodeUse>,
        now: Millis,
    ) -> Result<UserRecord, ChangeIdentifierError>;

    /// Replaces the secret of the account as `seen` (conditional on its secret and auth epoch
    /// being unchanged: else `Changed`), moves the account to the next auth epoch (ending every
    /// login bound to the one seen, including logins still being made), moves
    /// `change.keep_session` to the new epoch (`Changed` when that login has ended meanwhile),
    /// resets the throttle `change.release` and revokes every other login, in one atomic write
    /// (DynamoDB: the revocations past the first 96 follow, 100 to a `TransactWriteItems`).
    async fn change_secret(
        &self,
        seen: &UserRecord,
        change: &SecretChange<'_>,
        now: Millis,
    ) -> Result<UserRecord, ChangeSecretError>;

    /// Closes the account as `seen` (`DELETE /account`), refused while its balance is not zero
    /// or a transfer from or to it is `PENDING`, and conditional on its version as seen (no
    /// money moved since). Removes the account and frees its identifiers in one atomic write,
    /// with its logins and the throttle records `throttle_keys`; then deletes its entities and
    /// idempotency records. Its ledger entries and transfers stay (the other party's history
    /// and the money check depend on them) with the remarks it wrote removed: its own entries'
    /// and those of the transfers it sent. Its second factor goes in the atomic write, which
    /// uses `code` up.
    async fn close_account(
        &self,
        seen: &UserRecord,
        throttle_keys: &[String],
        code: Option<&CodeUse>,
    ) -> Result<(), CloseAccountError>;

    /// Operator action: removes an account and frees its identifiers. Its transfers still
    /// settle (an incoming one is refunded to its sender).
    async fn delete_user(&self, user: UserId) -> StoreResult<bool>;
}

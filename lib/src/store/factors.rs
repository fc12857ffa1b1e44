//! An account's second factor: its TOTP authenticator (pending until confirmed) and recovery
//! codes, and how a write uses a code up.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Millis, UserId};

/// An account's TOTP authenticator as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    /// The secret, sealed with the server's factor key (see `auth::totp::FactorKey`): only a
    /// host holding that key can read it.
    pub sealed_secret: String,
    /// Confirmed: asked for at login and before money moves. A pending one is not.
    pub active: bool,
    /// The last time step a code was accepted for (0: none): a code is accepted once, and no
    /// code of an earlier step is accepted after it.
    pub last_step: u64,
    pub updated_at: Millis,
}

/// A code presented as second factor, accepted: what the write that acts on it uses up, in
/// the same atomic write, on the condition that it is still unused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// A TOTP code of this step: the account's last accepted step moves to it, on the condition
    /// that the factor is active and its last step is earlier.
    Totp { step: u64 },
    /// A recovery code, by its hash: removed, on the condition that it is still there.
    Recovery { hash: String },
}

/// A change to the second factor made with the write that ends the account's other logins
/// (`IdentityStore::change_secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorChange {
    /// A code used up (a secret change under step-up).
    Use(CodeUse),
    /// The pending authenticator `sealed_secret` becomes active, its code of `step` used, with
    /// these recovery code hashes (replacing any).
    Activate {
        sealed_secret: String,
        step: u64,
        recovery: Vec<String>,
    },
    /// The authenticator and its recovery codes are removed, using this code up (none: an
    /// operator's removal).
    Remove(Option<CodeUse>),
}

/// A second-factor write refused because the code was used meanwhile (or the factor changed).
#[derive(Debug, thiserror::Error)]
#[error("the code was already used")]
pub struct CodeUsed;

#[async_trait]
pub trait FactorStore: Send + Sync + 'static {
    /// Stores `sealed_secret` as the account's pending authenticator, replacing a pending one;
    /// false (nothing written) when the account has an active one.
    async fn put_pending_factor(
        &self,
        user: UserId,
        sealed_secret: &str,
        now: Millis,
    ) -> StoreResult<bool>;
}

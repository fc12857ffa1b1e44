//! The storage port, shaped by the use cases, and its adapters.
//!
//! The port is one trait per aggregate ([`IdentityStore`], [`ThrottleStore`], [`SessionStore`],
//! [`WalletStore`], [`TransferStore`], [`EntityStore`], [`OperatorStore`], [`ResetStore`], [`FactorStore`]), plus [`ReadStore`]:
//! what one request reads, in one round trip. [`Store`] is all of them, what an adapter
//! implements and what the application holds. Each adapter is a folder with one file per aggregate.
//!
//! Every write that guards an invariant (identifier uniqueness, refresh rotation, throttle
//! state) checks its precondition in the same atomic write: an SQLite `BEGIN IMMEDIATE`
//! transaction, or a DynamoDB conditional write / `TransactWriteItems`.

mod entities;
mod factors;
mod identity;
mod operators;
mod reads;
mod resets;
mod sessions;
mod throttle;
mod transfers;
mod wallet;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "dynamodb")]
pub mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoStore;
pub use entities::*;
pub use factors::*;
pub use identity::*;
pub use operators::*;
pub use reads::*;
pub use resets::*;
pub use sessions::*;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use throttle::*;
pub use transfers::*;
pub use wallet::*;

pub type StoreResult<T> = anyhow::Result<T>;

/// Every part of the port: what an adapter implements.
pub trait Store:
    IdentityStore
    + ThrottleStore
    + SessionStore
    + WalletStore
    + TransferStore
    + EntityStore
    + OperatorStore
    + ResetStore
    + FactorStore
    + ReadStore
{
}

impl<T> Store for T where
    T: IdentityStore
        + ThrottleStore
        + SessionStore
        + WalletStore
        + TransferStore
        + EntityStore
        + OperatorStore
        + ResetStore
        + FactorStore
        + ReadStore
{
}

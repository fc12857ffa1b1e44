//! Types that can only exist when valid: parse once at the edge, use everywhere after.

mod address;
mod identity;
mod money;
mod time;

pub use address::ClientAddress;
pub use identity::{
    Email, EntityId, IdentifierKind, LoginIdentifier, OptionalText, Password, Phone, Pin, Secret,
    SecretKind, UserId, Username,
};
pub use money::{Amount, IdempotencyKey, MAX_AMOUNT};
pub use time::{format_timestamp, now_millis, Millis};

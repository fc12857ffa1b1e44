//! Secrets, tokens and login throttling.

mod jwt_crypto;
pub mod lockout;
pub mod password;
pub mod tokens;
pub mod totp;

pub use lockout::{LockoutPolicy, Throttle};
pub use password::PasswordHasher;
pub use tokens::{Claims, KeyPair, TokenError, TokenIssuer, TokenKind, TokenPair, TokenVerifier};

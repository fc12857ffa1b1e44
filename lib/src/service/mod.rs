//! Use cases: each takes the state it needs and returns one error type whose variants a client
//! can act on, plus `Unexpected` for everything else.

pub mod accounts;
pub mod entities;
pub(crate) mod lockout;
pub mod mfa;
pub mod notices;
pub mod operators;
pub mod pictures;
pub mod resets;
pub mod sessions;
pub mod transfers;
pub mod wallet;

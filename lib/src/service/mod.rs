//! Use cases: each takes the state it needs and returns one error type whose variants a client
//! can act on, plus `Unexpected` for everything else.

pub mod accounts;
pub mod entities;
pub(crate) mod lockout;
pub mod notices;
pub mod operators;
pub mod resets;
pub mod sessions;
pub mod transfers;
pub mod wallet;

/// A page read as `limit + 1` rows: the first `limit`, and whether more follow.
pub(crate) fn page_of<T>(mut rows: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

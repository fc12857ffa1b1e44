//! `Authorization: Bearer <access token>`: scheme case-insensitive, one space, then the token.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::service::sessions::{self, Caller, Principal};
use crate::state::AppState;

/// The authenticated caller; extracting it answers 401 for anything but a live access token
/// (one store read: the family).
pub struct Authenticated(pub Principal);

/// A caller with a valid access token whose family the handler checks with its first read
/// ([`Caller::load`]), so a request costs one round trip, not two. 401 for a bad token.
pub struct Verified(pub Caller);

impl FromRequestParts<AppState> for Verified {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(ApiError::unauthenticated)?;
        Ok(Self(Caller::from_token(state, token)?))
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(ApiError::unauthenticated)?;
        Ok(Self(sessions::authenticate(state, token).await?))
    }
}

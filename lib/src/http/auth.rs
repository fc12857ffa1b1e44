//! `Authorization: Bearer <access token>`: scheme case-insensitive, one space, then the token.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::service::sessions::{self, Principal, SessionError};
use crate::state::AppState;

/// The authenticated caller; extracting it answers 401 for anything but a live access token.
pub struct Authenticated(pub Principal);

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
        match sessions::authenticate(state, token).await {
            Ok(p) => Ok(Self(p)),
            Err(SessionError::Unauthenticated) => Err(ApiError::unauthenticated()),
            Err(SessionError::Unexpected(e)) => Err(ApiError::internal(&e)),
        }
    }
}

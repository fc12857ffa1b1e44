//! Profile pictures: `PUT /account/picture` (the bytes, `image/png`, `image/jpeg` or
//! `image/webp`, at most 1 MiB), `DELETE /account/picture`, `GET /users/{user_id}/picture`.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::Router;
use serde::Serialize;

use super::auth::Verified;
use super::error::ApiError;
use super::layers::{limited, limited_to};
use super::response::Success;
use super::web::{etag, not_modified};
use crate::pictures::MAX_PICTURE_BYTES;
use crate::service::pictures;
use crate::state::AppState;

#[derive(Serialize)]
struct PictureUrl {
    picture_url: String,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/account/picture",
            limited_to(put(put_picture), MAX_PICTURE_BYTES).merge(limited(delete(delete_picture))),
        )
        .route("/users/{user_id}/picture", limited(get(get_picture)))
}

/// Stores the body as the caller's picture, without its metadata: its `Content-Type` must name
/// one of the formats (else 415) and its bytes must be a well-formed file of that format (else
/// 415).
async fn put_picture(
    State(state): State<AppState>,
    Verified(caller): Verified,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let user = pictures::put(&state, &caller, content_type, &body).await?;
    Ok(Success::ok(PictureUrl {
        picture_url: pictures::picture_url(user),
    })
    .into_response())
}

async fn delete_picture(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    pictures::delete(&state, &caller).await?;
    Ok(Success::empty().into_response())
}

/// Any signed-in user may see any account's picture (it shows whom a transfer reaches).
async fn get_picture(
    State(state): State<AppState>,
    Verified(caller): Verified,
    user: Result<Path<String>, PathRejection>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let user = user.ok().map(|Path(id)| id);
    let (kind, bytes) = pictures::get(&state, &caller, user.as_deref()).await?;
    let tag = etag(&bytes);
    let mut response = if not_modified(&request, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(CONTENT_TYPE, HeaderValue::from_static(kind.content_type()))],
            bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, HeaderValue::from_str(&tag).expect("hex"));
    // Per user (the request carries a token), and revalidated: a new picture shows at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

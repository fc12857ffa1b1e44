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
use serde_json::json;

use super::error::ApiError;
use super::identity::success;
use super::web::{etag, not_modified};
use super::{limited, limited_to, Verified};
use crate::domain::UserId;
use crate::pictures::{ImageType, MAX_PICTURE_BYTES};
use crate::state::AppState;

pub(super) fn picture_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/account/picture",
            limited_to(put(put_picture), MAX_PICTURE_BYTES).merge(limited(delete(delete_picture))),
        )
        .route("/users/{user_id}/picture", limited(get(get_picture)))
}

fn picture_url(user: UserId) -> String {
    format!("/users/{user}/picture")
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
    let principal = caller.check(&state).await?;
    let expected = "image/png, image/jpeg or image/webp";
    let declared = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(ImageType::from_content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(expected))?;
    if body.is_empty() {
        return Err(ApiError::bad_request("The picture is empty"));
    }
    if ImageType::detect(&body) != Some(declared) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("The bytes are not a {} picture", declared.content_type()),
        ));
    }
    let clean = declared.without_metadata(&body).map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!(
                "The bytes are not a well-formed {} picture",
                declared.content_type()
            ),
        )
    })?;
    state
        .pictures()
        .put(principal.user_id, declared, clean)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(success(
        StatusCode::OK,
        json!({"picture_url": picture_url(principal.user_id)}),
    ))
}

async fn delete_picture(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    let principal = caller.check(&state).await?;
    match state.pictures().delete(principal.user_id).await {
        Ok(true) => Ok(success(StatusCode::OK, serde_json::Value::Null)),
        Ok(false) => Err(ApiError::not_found()),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// Any signed-in user may see any account's picture (it shows whom a transfer reaches).
async fn get_picture(
    State(state): State<AppState>,
    Verified(caller): Verified,
    user: Result<Path<String>, PathRejection>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    caller.check(&state).await?;
    let Some(user) = user.ok().and_then(|Path(id)| UserId::parse(&id).ok()) else {
        return Err(ApiError::not_found());
    };
    let bytes = state
        .pictures()
        .get(user)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::not_found)?;
    // Stored only after the same check: a file changed behind the API is not served as an image.
    let kind = ImageType::detect(&bytes).ok_or_else(ApiError::not_found)?;
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

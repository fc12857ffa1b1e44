//! The public documents: `GET /openapi.yaml` (the API's OpenAPI 3.1 description, built into
//! the binary) and `GET /.well-known/jwks.json` (the key tokens are verified with).

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::layers::limited;
use crate::state::AppState;

/// The repository's `openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.yaml", limited(get(openapi)))
        .route("/.well-known/jwks.json", limited(get(jwks)))
}

async fn openapi() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "application/yaml"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        OPENAPI_YAML,
    )
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.verifier().public_key().jwks()).into_response();
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

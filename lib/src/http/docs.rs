//! `GET /openapi.yaml`: the API's OpenAPI 3.1 description, built into the binary.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::limited;
use crate::state::AppState;

/// The repository's `openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

pub(super) fn openapi_routes() -> Router<AppState> {
    Router::new().route("/openapi.yaml", limited(get(openapi)))
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

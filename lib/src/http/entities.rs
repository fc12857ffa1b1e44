//! Entities: `POST /entities`, `GET /entities`, `GET|PUT|DELETE /entities/{entity_id}`.
//!
//! Every entity belongs to one user; another user's id, like an id that isn't a UUID, is 404.
//! Responses carry the version as an `ETag`; `PUT` and `DELETE` honour `If-Match`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::auth::{Authenticated, Verified};
use super::error::{ApiError, FieldErrors};
use super::input::{Fields, JsonObject};
use super::layers::limited;
use super::paging::parse_page;
use super::response::{List, Success};
use super::views::EntityView;
use crate::service::entities::{self, EntityFields};
use crate::state::AppState;
use crate::store::{Entity, EntityFilter};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/entities", limited(get(list).post(create)))
        .route(
            "/entities/{entity_id}",
            limited(get(read).put(replace).delete(remove)),
        )
}

/// Largest `quantity`.
const MAX_QUANTITY: i64 = 1_000_000_000;

/// The entity in the success envelope, with its version as `ETag`.
fn entity_response(result: Success<EntityView>, e: &Entity) -> Response {
    let mut response = result.into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", e.version)) {
        response.headers_mut().insert(ETAG, tag);
    }
    response
}

/// 1–`max` characters, no control characters.
fn label(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |s: &str| {
        let len = s.chars().count();
        if !(1..=max).contains(&len) {
            return Err(format!("must be 1 to {max} characters"));
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(s.to_string())
    }
}

/// The body of `POST` and `PUT`: `code`, `type`, `quantity` required; `name`, `description`
/// optional (absent or `null` is none).
fn parse_fields(body: serde_json::Map<String, Value>) -> Result<EntityFields, ApiError> {
    let mut f = Fields::new(body);
    f.forbid(
        &[
            "entity_id",
            "version",
            "created_date",
            "updated_date",
            "user_id",
        ],
        "cannot be set",
    );
    let code = f.required("code", label(64));
    let kind = f.required("type", label(64));
    let quantity = f.integer("quantity", 0, MAX_QUANTITY);
    let name = f.optional_text("name", 200);
    let description = f.optional_text("description", 2000);
    f.finish()?;
    match (code, kind, quantity) {
        (Some(code), Some(kind), Some(quantity)) => Ok(EntityFields {
            code,
            kind,
            quantity,
            name,
            description,
        }),
        _ => Err(ApiError::bad_request(
            "code, type and quantity are required",
        )),
    }
}

/// The path's entity id, as given (the use case tells an id from anything else).
fn path_id(id: Result<Path<String>, PathRejection>) -> Option<String> {
    id.ok().map(|Path(id)| id)
}

/// `If-Match: 3` or `"3"` (or `*`: any version); anything else is 400.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::validation(
            [(
                "If-Match".to_string(),
                vec!["must be the entity's version, e.g. 3 or \"3\"".to_string()],
            )]
            .into(),
        )
    };
    let value = raw.to_str().map_err(|_| bad())?.trim();
    if value == "*" {
        return Ok(None);
    }
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if unquoted.is_empty() || !unquoted.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    unquoted.parse().map(Some).map_err(|_| bad())
}

async fn create(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let fields = parse_fields(body)?;
    let entity = entities::create(&state, &who, fields).await?;
    Ok(entity_response(
        Success::created(EntityView::from(&entity)),
        &entity,
    ))
}

async fn read(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let entity = entities::get(&state, &caller, path_id(id).as_deref()).await?;
    Ok(entity_response(
        Success::ok(EntityView::from(&entity)),
        &entity,
    ))
}

async fn replace(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let fields = parse_fields(body)?;
    let expected = if_match(&headers)?;
    let entity =
        entities::replace(&state, &caller, path_id(id).as_deref(), fields, expected).await?;
    Ok(entity_response(
        Success::ok(EntityView::from(&entity)),
        &entity,
    ))
}

async fn remove(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let entity = entities::delete(&state, &caller, path_id(id).as_deref(), expected).await?;
    Ok(entity_response(
        Success::ok(EntityView::from(&entity)),
        &entity,
    ))
}

async fn list(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (page, rest) = parse_page(query.as_deref(), &["type", "code"])?;
    let mut filter = EntityFilter::default();
    let mut errors = FieldErrors::new();
    for (name, value) in rest {
        let parsed = label(64)(&value);
        match (name.as_str(), parsed) {
            ("type", Ok(v)) => filter.kind = Some(v),
            ("code", Ok(v)) => filter.code = Some(v),
            (_, Err(problem)) => errors.entry(name).or_default().push(problem),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let found = entities::list(&state, &caller, &filter, &page).await?;
    Ok(List::of(&found, EntityView::from).into_response())
}

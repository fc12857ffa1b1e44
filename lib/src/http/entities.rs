//! Entities: `POST /entities`, `GET /entities`, `GET|PUT|DELETE /entities/{entity_id}`.
//!
//! Every entity belongs to one user; another user's id, like an id that isn't a UUID, is 404.
//! Responses carry the version as an `ETag`; `PUT` and `DELETE` honour `If-Match`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::input::{Fields, JsonObject};
use super::wallet::{invalid_cursor, parse_page};
use super::{limited, Authenticated, Verified};
use crate::domain::{format_timestamp, UserId};
use crate::service::entities::{self, EntityFields};
use crate::service::sessions::Caller;
use crate::state::AppState;
use crate::store::{Entity, EntityFilter};

pub(super) fn entities_routes() -> Router<AppState> {
    Router::new()
        .route("/entities", limited(get(list).post(create)))
        .route(
            "/entities/{entity_id}",
            limited(get(read).put(replace).delete(remove)),
        )
}

/// Largest `quantity`.
const MAX_QUANTITY: i64 = 1_000_000_000;

fn entity_json(e: &Entity) -> Value {
    json!({
        "entity_id": e.entity_id,
        "code": e.code,
        "type": e.kind,
        "quantity": e.quantity,
        "name": e.name,
        "description": e.description,
        "version": e.version,
        "created_date": format_timestamp(e.created_at),
        "updated_date": format_timestamp(e.updated_at),
    })
}

/// `{"status":"SUCCESS","result":<entity>}` with the version as `ETag`.
fn entity_response(status: StatusCode, e: &Entity) -> Response {
    let mut response = (
        status,
        Json(json!({"status": "SUCCESS", "result": entity_json(e)})),
    )
        .into_response();
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

/// The entity id of the path; anything but a UUID names no entity.
/// The path's entity id; one that is not a UUID names no entity (404, once the caller's login
/// is known to be live).
async fn entity_id(
    state: &AppState,
    caller: &Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    match id
        .ok()
        .and_then(|Path(id)| UserId::parse(&id).ok().map(|_| id.to_ascii_lowercase()))
    {
        Some(id) => Ok(id),
        None => {
            caller.check(state).await?;
            Err(ApiError::not_found())
        }
    }
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
    let entity = entities::create(&state, who.user_id, fields).await?;
    Ok(entity_response(StatusCode::CREATED, &entity))
}

async fn read(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = entity_id(&state, &caller, id).await?;
    let entity = entities::get(&state, &caller, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(entity_response(StatusCode::OK, &entity))
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
    let id = entity_id(&state, &caller, id).await?;
    let entity = entities::replace(&state, &caller, &id, fields, expected).await?;
    Ok(entity_response(StatusCode::OK, &entity))
}

async fn remove(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let id = entity_id(&state, &caller, id).await?;
    let entity = entities::delete(&state, &caller, &id, expected).await?;
    Ok(entity_response(StatusCode::OK, &entity))
}

async fn list(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (page, rest) = parse_page(query.as_deref(), &["type", "code"])?;
    let mut filter = EntityFilter::default();
    let mut errors = super::error::FieldErrors::new();
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
    let user = caller.user_id().to_string();
    // The cursor is bound to the user and the filters: it can't be replayed on another listing.
    let scope = serde_json::to_string(&json!(["entities", filter.kind, filter.code]))
        .map_err(anyhow::Error::from)?;
    let after = match &page.cursor {
        None => None,
        Some(c) => Some(
            state
                .cursor_key()
                .open(c, &user, &scope)
                .ok_or_else(invalid_cursor)?,
        ),
    };
    // The session check and the page in parallel: one round trip of latency.
    let (_, (found, more)) = tokio::try_join!(
        async { Ok::<_, ApiError>(caller.check(&state).await?) },
        async {
            Ok::<_, ApiError>(
                entities::list(
                    &state,
                    caller.user_id(),
                    &filter,
                    after.as_deref(),
                    page.limit,
                )
                .await?,
            )
        }
    )?;
    let next_cursor = match (more, found.last()) {
        (true, Some(last)) => Some(state.cursor_key().seal(&user, &scope, &last.code)),
        _ => None,
    };
    let result: Vec<Value> = found.iter().map(entity_json).collect();
    Ok(
        Json(json!({"status": "SUCCESS", "next_cursor": next_cursor, "result": result}))
            .into_response(),
    )
}

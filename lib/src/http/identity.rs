//! Identity routes: register, log in, refresh, log out, the account, and the public keys.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use super::client::Client;
use super::error::ApiError;
use super::input::{Fields, JsonObject, JsonOrForm};
use super::{limited, Authenticated, Verified};
use crate::domain::{
    format_timestamp, Email, IdentifierKind, LoginIdentifier, Password, Phone, Pin, Secret,
    SecretKind, Username,
};
use crate::service::accounts::{
    self, AccountError, CloseError, Credentials, IdentifierError, IdentifierUpdate, LoginError,
    LookupError, RegisterError, Registration, SecretError, SecretUpdate,
};
use crate::service::resets::{self, ResetError};
use crate::service::sessions::{self, SessionError};
use crate::service::wallet::Recipient;
use crate::state::AppState;
use crate::store::UserRecord;

pub(super) fn register_routes() -> Router<AppState> {
    Router::new().route("/register", limited(post(register)))
}

pub(super) fn login_routes() -> Router<AppState> {
    Router::new()
        .route("/login", limited(post(login)))
        .route("/token", limited(post(login)))
        .route("/token/refresh", limited(post(refresh)))
        .route("/logout", limited(post(logout)))
        .route("/logout/all", limited(post(logout_all)))
        .route("/sessions", limited(get(list_sessions)))
        .route("/sessions/{session_id}", limited(delete(end_session)))
}

pub(super) fn account_routes() -> Router<AppState> {
    Router::new()
        .route("/account", limited(get(account).delete(close_account)))
        .route(
            "/account/username",
            limited(put(|s, c, from, b| {
                change_identifier(s, c, from, b, IdentifierKind::Username)
            })),
        )
        .route(
            "/account/email",
            limited(put(|s, c, from, b| {
                change_identifier(s, c, from, b, IdentifierKind::Email)
            })),
        )
        .route(
            "/account/phone_number",
            limited(put(|s, c, from, b| {
                change_identifier(s, c, from, b, IdentifierKind::Phone)
            })),
        )
        .route("/account/secret", limited(put(change_secret)))
        .route("/users/lookup", limited(get(lookup)))
}

pub(super) fn password_routes() -> Router<AppState> {
    Router::new()
        .route("/password/forgot", limited(post(forgot_password)))
        .route("/password/reset", limited(post(reset_password)))
}

pub(super) fn jwks_routes() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", limited(get(jwks)))
}

/// `{"status":"SUCCESS","result":…}` with `status_code`.
pub(super) fn success(status_code: StatusCode, result: impl Serialize) -> Response {
    (
        status_code,
        Json(json!({"status": "SUCCESS", "result": result})),
    )
        .into_response()
}

/// Exactly one of `password`, `pin` under registration's rules (a failure is recorded in `f`).
fn parse_new_secret(f: &mut Fields) -> Option<Secret> {
    let (password_given, pin_given) = (f.given("password"), f.given("pin"));
    let password = f.parse("password", Password::parse);
    let pin = f.parse("pin", Pin::parse);
    if password_given == pin_given {
        f.error("_", "exactly one of password, pin is required");
    }
    match (password, pin) {
        (Some(p), None) => Some(Secret::Password(p)),
        (None, Some(p)) => Some(Secret::Pin(p)),
        _ => None,
    }
}

/// Exactly one of the fields `names` (password, then PIN), a non-empty string of at most 1,024
/// characters: a secret presented to be checked, not set.
fn parse_presented_secret(
    f: &mut Fields,
    names: [&'static str; 2],
) -> Option<(SecretKind, String)> {
    let given = names.iter().filter(|&&n| f.given(n)).count();
    let found: Vec<(SecretKind, String)> = [SecretKind::Password, SecretKind::Pin]
        .into_iter()
        .zip(names)
        .filter_map(|(kind, name)| {
            f.parse(name, |s| match s.chars().count() {
                0 => Err("must not be empty".to_string()),
                n if n > 1024 => Err("must be at most 1024 characters".to_string()),
                _ => Ok(s.to_string()),
            })
            .map(|v| (kind, v))
        })
        .collect();
    if given != 1 {
        f.error(
            "_",
            format!("exactly one of {}, {} is required", names[0], names[1]),
        );
    }
    match <[_; 1]>::try_from(found) {
        Ok([one]) => Some(one),
        Err(_) => None,
    }
}

fn parse_registration(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<Registration, ApiError> {
    let mut f = Fields::new(body);
    let username = f.parse("username", Username::parse);
    let email = f.parse("email", Email::parse);
    let phone_number = f.parse("phone_number", Phone::parse);
    if !(f.given("username") || f.given("email") || f.given("phone_number")) {
        f.error(
            "_",
            "at least one of username, email, phone_number is required",
        );
    }
    let secret = parse_new_secret(&mut f);
    let first_name = f.optional_text("first_name", 100);
    let last_name = f.optional_text("last_name", 100);
    let address = f.optional_text("address", 300);
    f.finish()?;
    let secret =
        secret.ok_or_else(|| ApiError::bad_request("exactly one of password, pin is required"))?;
    Ok(Registration {
        username,
        email,
        phone_number,
        secret,
        first_name,
        last_name,
        address,
    })
}

#[derive(Serialize)]
struct RegisteredUser<'a> {
    user_id: String,
    username: &'a Option<String>,
    email: &'a Option<String>,
    phone_number: &'a Option<String>,
    first_name: &'a Option<String>,
    last_name: &'a Option<String>,
    address: &'a Option<String>,
    created_date: String,
}

impl<'a> From<&'a UserRecord> for RegisteredUser<'a> {
    fn from(u: &'a UserRecord) -> Self {
        Self {
            user_id: u.user_id.to_string(),
            username: &u.username,
            email: &u.email,
            phone_number: &u.phone_number,
            first_name: &u.first_name,
            last_name: &u.last_name,
            address: &u.address,
            created_date: format_timestamp(u.created_at),
        }
    }
}

async fn register(
    State(state): State<AppState>,
    JsonOrForm(body): JsonOrForm,
) -> Result<Response, ApiError> {
    let registration = parse_registration(body)?;
    match accounts::register(&state, registration).await {
        Ok(user) => Ok(success(StatusCode::CREATED, RegisteredUser::from(&user))),
        Err(RegisterError::AlreadyRegistered(kind)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_REGISTERED",
            format!("{} already registered", kind.label()),
        )),
        Err(RegisterError::Unexpected(e)) => Err(ApiError::internal(&e)),
    }
}

/// Exactly one of `username`, `email`, `phone_number`: a non-empty string no longer than the
/// identifier can be (checked before any store call: longer ones name no account). Its format
/// is not checked: an identifier that names no account is answered as such.
fn parse_one_identifier(f: &mut Fields) -> Option<LoginIdentifier> {
    let found: Vec<LoginIdentifier> = [
        IdentifierKind::Username,
        IdentifierKind::Email,
        IdentifierKind::Phone,
    ]
    .into_iter()
    .filter_map(|kind| {
        f.parse(kind.field(), |s| {
            let max = kind.max_chars();
            match s.chars().count() {
                0 => Err("must not be empty".to_string()),
                n if n > max => Err(format!("must be at most {max} characters")),
                _ => Ok(LoginIdentifier::new(kind, s)),
            }
        })
    })
    .collect();
    let given = ["username", "email", "phone_number"]
        .into_iter()
        .filter(|&n| f.given(n))
        .count();
    if given != 1 {
        f.error(
            "_",
            "exactly one of username, email, phone_number is required",
        );
    }
    match <[_; 1]>::try_from(found) {
        Ok([one]) => Some(one),
        Err(_) => None,
    }
}

/// Exactly one identifier and exactly one secret, each a non-empty string.
fn parse_credentials(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<Credentials, ApiError> {
    let mut f = Fields::new(body);
    let identifier = parse_one_identifier(&mut f);
    let secret = parse_presented_secret(&mut f, ["password", "pin"]);
    f.finish()?;
    match (identifier, secret) {
        (Some(identifier), Some((secret_kind, secret))) => Ok(Credentials {
            identifier,
            secret_kind,
            secret,
            user_agent: None,
        }),
        _ => Err(ApiError::bad_request(
            "exactly one identifier and one secret are required",
        )),
    }
}

async fn login(
    State(state): State<AppState>,
    Client(from): Client,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm,
) -> Result<Response, ApiError> {
    let mut credentials = parse_credentials(body)?;
    credentials.user_agent = sessions::user_agent(
        headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    accounts::login(&state, credentials, &from)
        .await
        .map(|pair| success(StatusCode::OK, pair))
        .map_err(login_error)
}

fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::Unauthenticated => ApiError::unauthenticated(),
        SessionError::Unexpected(e) => ApiError::internal(&e),
    }
}

async fn refresh(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let token = f.parse("refresh_token", |s| {
        if s.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(s.to_string())
        }
    });
    if !f.given("refresh_token") {
        f.error("refresh_token", "is required");
    }
    f.finish()?;
    let token = token.ok_or_else(|| ApiError::bad_request("refresh_token is required"))?;
    let pair = sessions::refresh(&state, &token)
        .await
        .map_err(session_error)?;
    Ok(success(StatusCode::OK, pair))
}

async fn logout(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<Response, ApiError> {
    sessions::logout(&state, &who)
        .await
        .map_err(session_error)?;
    Ok(success(StatusCode::OK, serde_json::Value::Null))
}

/// `GET /sessions`: the caller's active logins, newest first.
async fn list_sessions(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    let (principal, list) = sessions::list(&state, &caller)
        .await
        .map_err(session_error)?;
    let result: Vec<serde_json::Value> = list
        .iter()
        .map(|s| {
            json!({
                "session_id": s.session_id,
                "created_date": format_timestamp(s.created_at * 1000),
                "last_used_date": format_timestamp(s.last_used_at * 1000),
                "user_agent": s.user_agent,
                "current": s.session_id == principal.session_id,
            })
        })
        .collect();
    Ok(success(StatusCode::OK, result))
}

/// `DELETE /sessions/{session_id}`: ends one of the caller's logins; 404 for any other id.
async fn end_session(
    State(state): State<AppState>,
    Verified(caller): Verified,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id
        .ok()
        .and_then(|Path(id)| uuid::Uuid::parse_str(&id).ok())
        .map(|id| id.to_string());
    // The token is checked before the id, as for every route: 401 before 404.
    let Some(id) = id else {
        caller.check(&state).await.map_err(session_error)?;
        return Err(ApiError::not_found());
    };
    if sessions::end(&state, &caller, &id)
        .await
        .map_err(session_error)?
    {
        Ok(success(StatusCode::OK, serde_json::Value::Null))
    } else {
        Err(ApiError::not_found())
    }
}

/// `POST /logout/all`: ends every login of the caller, this one included.
async fn logout_all(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    sessions::logout_all(&state, &caller)
        .await
        .map_err(session_error)?;
    Ok(success(StatusCode::OK, serde_json::Value::Null))
}

async fn account(
    State(state): State<AppState>,
    Verified(caller): Verified,
) -> Result<Response, ApiError> {
    let user = match accounts::account(&state, &caller).await {
        Ok(u) => u,
        Err(AccountError::Gone) => return Err(ApiError::unauthenticated()),
        Err(AccountError::Unexpected(e)) => return Err(ApiError::internal(&e)),
    };
    Ok(account_response(&user))
}

/// `PUT /account/username`, `/account/email`, `/account/phone_number`: `{"<field>": "new",
/// "current_password"|"current_pin": …}` sets the identifier under registration's rules,
/// `{"<field>": null, …}` removes it (one must remain); a wrong current secret is 401 and
/// counts toward the lockout. Answers the account as `GET /account` does.
async fn change_identifier(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
    kind: IdentifierKind,
) -> Result<Response, ApiError> {
    let field = kind.field();
    let mut f = Fields::new(body);
    let present = f.map_has(field);
    let value = match kind {
        IdentifierKind::Username => f
            .parse(field, Username::parse)
            .map(|v| v.as_str().to_string()),
        IdentifierKind::Email => f.parse(field, Email::parse).map(|v| v.as_str().to_string()),
        IdentifierKind::Phone => f.parse(field, Phone::parse).map(|v| v.as_str().to_string()),
    };
    if !present {
        f.error(field, "is required (null removes it)");
    }
    let current = parse_presented_secret(&mut f, ["current_password", "current_pin"]);
    f.finish()?;
    let Some((current_kind, current)) = current else {
        return Err(ApiError::bad_request(
            "the current password or PIN is required",
        ));
    };
    let update = IdentifierUpdate {
        kind,
        value,
        current_kind,
        current,
    };
    match accounts::change_identifier(&state, &caller, update, &from).await {
        Ok(user) => Ok(account_response(&user)),
        Err(IdentifierError::Refused(e)) => Err(login_error(e)),
        Err(IdentifierError::Taken(kind)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_REGISTERED",
            format!("{} already registered", kind.label()),
        )),
        Err(IdentifierError::LastIdentifier) => {
            Err(ApiError::validation(crate::http::FieldErrors::from([(
                field.to_string(),
                vec![
                    "can't be removed: one of username, email, phone_number must remain"
                        .to_string(),
                ],
            )])))
        }
        Err(IdentifierError::Gone) => Err(ApiError::unauthenticated()),
        Err(IdentifierError::Changed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONCURRENT_UPDATE",
            "The account was changed by another request; try again",
        )),
        Err(IdentifierError::Unexpected(e)) => Err(ApiError::internal(&e)),
    }
}

/// The refusal of a login, or of a secret presented again.
fn login_error(e: LoginError) -> ApiError {
    match e {
        LoginError::InvalidCredentials => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid credentials",
        ),
        LoginError::Locked { retry_after } => ApiError::too_many_attempts(retry_after),
        LoginError::Unexpected(e) => ApiError::internal(&e),
    }
}

/// `PUT /account/secret` `{"current_password"|"current_pin": …, "password"|"pin": …}`: a wrong
/// current secret is 401 and counts toward the lockout; success revokes every other login.
async fn change_secret(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let current = parse_presented_secret(&mut f, ["current_password", "current_pin"]);
    let new = parse_new_secret(&mut f);
    f.finish()?;
    let (Some((current_kind, current)), Some(new)) = (current, new) else {
        return Err(ApiError::bad_request(
            "a current secret and a new one are required",
        ));
    };
    let update = SecretUpdate {
        current_kind,
        current,
        new,
    };
    match accounts::change_secret(&state, &caller, update, &from).await {
        Ok(_) => Ok(success(StatusCode::OK, serde_json::Value::Null)),
        Err(SecretError::Refused(e)) => Err(login_error(e)),
        Err(SecretError::Gone) => Err(ApiError::unauthenticated()),
        Err(SecretError::Changed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONCURRENT_UPDATE",
            "The secret was changed by another request; try again",
        )),
    }
}

/// `DELETE /account` `{"password"|"pin": …}`: closes the caller's account (balance 0, no
/// pending transfer); its identifiers are free at once and every login ends.
async fn close_account(
    State(state): State<AppState>,
    Verified(caller): Verified,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let secret = parse_presented_secret(&mut f, ["password", "pin"]);
    f.finish()?;
    let (kind, secret) =
        secret.ok_or_else(|| ApiError::bad_request("exactly one of password, pin is required"))?;
    match accounts::close_account(&state, &caller, kind, &secret, &from).await {
        Ok(()) => Ok(success(StatusCode::OK, serde_json::Value::Null)),
        Err(CloseError::Refused(e)) => Err(login_error(e)),
        Err(CloseError::Gone) => Err(ApiError::unauthenticated()),
        Err(CloseError::BalanceNotZero) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "BALANCE_NOT_ZERO",
            "Pay out or transfer the balance before closing the account",
        )),
        Err(CloseError::TransferPending) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "TRANSFER_PENDING",
            "A transfer of the account is still pending; try again once it settles",
        )),
        Err(CloseError::Changed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONCURRENT_UPDATE",
            "The account was changed by another request; try again",
        )),
    }
}

/// `POST /password/forgot` `{"username"|"email"|"phone_number": …}`: always 202, whether or
/// not an account has the identifier; when one does, a code is delivered to its email or phone.
async fn forgot_password(
    State(state): State<AppState>,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let identifier = parse_one_identifier(&mut f);
    f.finish()?;
    let identifier = identifier.ok_or_else(|| {
        ApiError::bad_request("exactly one of username, email, phone_number is required")
    })?;
    resets::forgot(&state, &identifier, &from)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(success(StatusCode::ACCEPTED, serde_json::Value::Null))
}

/// `POST /password/reset` `{identifier, "code": "123456", "password"|"pin": …}`: a new secret
/// for a live code; every login of the account ends. A wrong, expired or used code is 400
/// `INVALID_CODE`.
async fn reset_password(
    State(state): State<AppState>,
    Client(from): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(body);
    let identifier = parse_one_identifier(&mut f);
    let code = f.parse("code", |s| {
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s.to_string())
        } else {
            Err("must be the 6 digits that were sent".to_string())
        }
    });
    if !f.given("code") {
        f.error("code", "is required");
    }
    let secret = parse_new_secret(&mut f);
    f.finish()?;
    let (Some(identifier), Some(code), Some(secret)) = (identifier, code, secret) else {
        return Err(ApiError::bad_request(
            "an identifier, the code and a new secret are required",
        ));
    };
    match resets::reset(&state, &identifier, &code, &secret, &from).await {
        Ok(()) => Ok(success(StatusCode::OK, serde_json::Value::Null)),
        Err(ResetError::InvalidCode) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_CODE",
            "The code is wrong or has expired",
        )),
        Err(ResetError::Unexpected(e)) => Err(ApiError::internal(&e)),
    }
}

/// `GET /users/lookup?target=<user id, username or phone>`: whom a transfer would reach.
async fn lookup(
    State(state): State<AppState>,
    Verified(caller): Verified,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|_| ApiError::bad_request("The query string is malformed"))?;
    let mut errors = crate::http::FieldErrors::new();
    let mut target = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "target" if target.is_some() => errors
                .entry(name.clone())
                .or_default()
                .push("must be given once".into()),
            "target" => match Recipient::parse(value) {
                Ok(t) => target = Some(t),
                Err(message) => errors.entry(name.clone()).or_default().push(message),
            },
            _ => errors
                .entry(name.clone())
                .or_default()
                .push("is not a recognised parameter".into()),
        }
    }
    if target.is_none() && !errors.contains_key("target") {
        errors
            .entry("target".into())
            .or_default()
            .push("is required".into());
    }
    let Some(target) = target.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    match accounts::lookup(&state, &caller, &target).await {
        Ok(user) => {
            let name: Vec<&str> = [&user.first_name, &user.last_name]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            Ok(success(
                StatusCode::OK,
                json!({
                    "user_id": user.user_id.to_string(),
                    "username": user.username,
                    "display_name": (!name.is_empty()).then(|| name.join(" ")),
                }),
            ))
        }
        Err(LookupError::NotFound) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            "Recipient not found",
        )),
        Err(LookupError::Throttled { retry_after }) => Err(ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_ATTEMPTS",
                format!(
                    "At most {} lookups a minute; try again later",
                    accounts::LOOKUPS_PER_WINDOW
                ),
            )
        }),
        Err(LookupError::Gone) => Err(ApiError::unauthenticated()),
        Err(LookupError::Unexpected(e)) => Err(ApiError::internal(&e)),
    }
}

/// The account as `GET /account` answers it.
fn account_response(user: &UserRecord) -> Response {
    let result = json!({
        "user_id": user.user_id.to_string(),
        "username": user.username,
        "email": user.email,
        "phone_number": user.phone_number,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "address": user.address,
        "balance": user.balance,
        "created_date": format_timestamp(user.created_at),
        "updated_date": format_timestamp(user.updated_at),
    });
    Json(json!({"status": "SUCCESS", "message": "akses sukses", "result": result})).into_response()
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.verifier().public_key().jwks()).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    response
}

//! The one place errors become HTTP responses, in the contract's envelope.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Field name → what is wrong with it. Rules across fields go under `"_"`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Option<FieldErrors>,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            errors: None,
            retry_after: None,
        }
    }

    /// 400 with every failure listed per field.
    pub fn validation(errors: FieldErrors) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "The request is invalid",
            )
        }
    }

    /// 409 because a field's value is already taken, naming the field.
    pub fn validation_conflict(field: &str, problem: &str) -> Self {
        Self {
            errors: Some(FieldErrors::from([(
                field.to_string(),
                vec![problem.to_string()],
            )])),
            ..Self::new(
                StatusCode::CONFLICT,
                "ALREADY_EXISTS",
                format!("The {field} is already used"),
            )
        }
    }

    /// 400 about the request as a whole (unparseable body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Unauthenticated",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "This needs an operator (role admin)",
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "This method is not allowed on this path",
        )
    }

    /// 413 for a body over `max` bytes.
    pub fn payload_too_large(max: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("The request body is larger than {} KiB", max / 1024),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("The request body must be sent as {expected}"),
        )
    }

    pub fn too_many_attempts(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_ATTEMPTS",
                "Too many failed attempts; try again later",
            )
        }
    }

    /// 500: the cause goes to the log with its chain, never into the response.
    pub fn internal(cause: &anyhow::Error) -> Self {
        tracing::error!(error = ?cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Something went wrong on our side",
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            status: "FAILED",
            code: self.code,
            message: &self.message,
            errors: self.errors.as_ref(),
            request_id: super::request_id::current(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED && self.code == "UNAUTHENTICATED" {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<crate::store::EntityError> for ApiError {
    fn from(e: crate::store::EntityError) -> Self {
        use crate::store::EntityError;
        match e {
            EntityError::CodeTaken => {
                Self::validation_conflict("code", "is already used by another of your entities")
            }
            EntityError::NotFound => Self::not_found(),
            EntityError::Unauthenticated => Self::unauthenticated(),
            EntityError::VersionConflict => Self::new(
                StatusCode::CONFLICT,
                "VERSION_CONFLICT",
                "The entity was changed by another request; read it again and retry",
            ),
            EntityError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<crate::service::operators::OperatorError> for ApiError {
    fn from(e: crate::service::operators::OperatorError) -> Self {
        use crate::service::operators::OperatorError;
        match e {
            OperatorError::Unauthenticated => Self::unauthenticated(),
            OperatorError::Forbidden => Self::forbidden(),
            OperatorError::Unexpected(e) => Self::internal(&e),
        }
    }
}

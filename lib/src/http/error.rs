//! The one place errors become HTTP responses, in the contract's envelope: every code the API
//! answers is an [`ErrorCode`] with its status (`INVALID_CODE` is two of them: 400 for a reset
//! or confirmation code, 401 for a second factor that authenticates), and every use case's error becomes an
//! [`ApiError`] through a `From` below, so a handler ends in `?`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::IdentifierKind;
use crate::service::accounts::{
    AccountError, CloseError, IdentifierError, LoginError, LookupError, RegisterError, SecretError,
    LOOKUPS_PER_WINDOW,
};
use crate::service::entities::EntityError;
use crate::service::mfa::MfaError;
use crate::service::operators::OperatorError;
use crate::service::pictures::PictureError;
use crate::service::resets::ResetError;
use crate::service::sessions::SessionError;
use crate::service::wallet::WalletError;

/// Field name → what is wrong with it. Rules across fields go under `"_"`.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Every error code of the contract (`api.md`), with the one status it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationError,
    InvalidCursor,
    InvalidCode,
    InsufficientBalance,
    SelfTransfer,
    Unauthenticated,
    InvalidCredentials,
    Forbidden,
    NotFound,
    UserNotFound,
    MethodNotAllowed,
    AlreadyExists,
    AlreadyRegistered,
    IdempotencyKeyReused,
    ConcurrentUpdate,
    VersionConflict,
    BalanceNotZero,
    TransferPending,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyAttempts,
    /// The account's second factor is needed too (401).
    MfaRequired,
    /// A wrong or used second-factor code where one authenticates (401 `INVALID_CODE`).
    InvalidSecondFactor,
    MfaAlreadyEnabled,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            ValidationError | InvalidCursor | InvalidCode | InsufficientBalance | SelfTransfer => {
                StatusCode::BAD_REQUEST
            }
            Unauthenticated | InvalidCredentials | MfaRequired | InvalidSecondFactor => {
                StatusCode::UNAUTHORIZED
            }
            Forbidden => StatusCode::FORBIDDEN,
            NotFound | UserNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AlreadyExists | AlreadyRegistered | IdempotencyKeyReused | ConcurrentUpdate
            | VersionConflict | BalanceNotZero | TransferPending | MfaAlreadyEnabled => {
                StatusCode::CONFLICT
            }
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code as the envelope spells it.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ValidationError => "VALIDATION_ERROR",
            InvalidCursor => "INVALID_CURSOR",
            InvalidCode => "INVALID_CODE",
            InsufficientBalance => "INSUFFICIENT_BALANCE",
            SelfTransfer => "SELF_TRANSFER",
            Unauthenticated => "UNAUTHENTICATED",
            InvalidCredentials => "INVALID_CREDENTIALS",
            Forbidden => "FORBIDDEN",
            NotFound => "NOT_FOUND",
            UserNotFound => "USER_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            AlreadyExists => "ALREADY_EXISTS",
            AlreadyRegistered => "ALREADY_REGISTERED",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ConcurrentUpdate => "CONCURRENT_UPDATE",
            VersionConflict => "VERSION_CONFLICT",
            BalanceNotZero => "BALANCE_NOT_ZERO",
            TransferPending => "TRANSFER_PENDING",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            TooManyAttempts => "TOO_MANY_ATTEMPTS",
            MfaRequired => "MFA_REQUIRED",
            InvalidSecondFactor => "INVALID_CODE",
            MfaAlreadyEnabled => "MFA_ALREADY_ENABLED",
            Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub errors: Option<FieldErrors>,
    pub retry_after: Option<u64>,
    /// With `MFA_REQUIRED` at login: the token `POST /login/mfa` finishes the login with.
    pub mfa_token: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            errors: None,
            retry_after: None,
            mfa_token: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 400 with every failure listed per field.
    pub fn validation(errors: FieldErrors) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(ErrorCode::ValidationError, "The request is invalid")
        }
    }

    /// 400 with one failure of one field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        Self::validation(FieldErrors::from([(
            field.to_string(),
            vec![problem.into()],
        )]))
    }

    /// 409 because a field's value is already taken, naming the field.
    pub fn validation_conflict(field: &str, problem: &str) -> Self {
        Self {
            errors: Some(FieldErrors::from([(
                field.to_string(),
                vec![problem.to_string()],
            )])),
            ..Self::new(
                ErrorCode::AlreadyExists,
                format!("The {field} is already used"),
            )
        }
    }

    /// 400 about the request as a whole (unparseable body).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "Unauthenticated")
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "This needs an operator (role admin)")
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "The requested resource does not exist")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "This method is not allowed on this path",
        )
    }

    /// 413 for a body over `max` bytes.
    pub fn payload_too_large(max: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("The request body is larger than {} KiB", max / 1024),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            format!("The request body must be sent as {expected}"),
        )
    }

    pub fn too_many_attempts(retry_after: u64) -> Self {
        Self::throttled(retry_after, "Too many failed attempts; try again later")
    }

    fn throttled(retry_after: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorCode::TooManyAttempts, message)
        }
    }

    pub fn invalid_cursor() -> Self {
        Self::new(
            ErrorCode::InvalidCursor,
            "The cursor is not valid for this listing",
        )
    }

    fn already_registered(kind: IdentifierKind) -> Self {
        Self::new(
            ErrorCode::AlreadyRegistered,
            format!("{} already registered", kind.label()),
        )
    }

    fn concurrent_update(message: &str) -> Self {
        Self::new(ErrorCode::ConcurrentUpdate, message)
    }

    /// 500: the cause goes to the log with its chain, never into the response.
    pub fn internal(cause: &anyhow::Error) -> Self {
        tracing::error!(error = ?cause, "request failed");
        Self::new(ErrorCode::Internal, "Something went wrong on our side")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            status: "FAILED",
            code: self.code.as_str(),
            message: &self.message,
            errors: self.errors.as_ref(),
            mfa_token: self.mfa_token.as_deref(),
            request_id: super::request_id::current(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code == ErrorCode::Unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(&e)
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unauthenticated => Self::unauthenticated(),
            SessionError::Unexpected(e) => Self::internal(&e),
        }
    }
}

/// The refusal of a login, or of a secret presented again.
impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => {
                Self::new(ErrorCode::InvalidCredentials, "Invalid credentials")
            }
            LoginError::Locked { retry_after } => Self::too_many_attempts(retry_after),
            LoginError::MfaRequired { mfa_token } => {
                let message = match mfa_token {
                    Some(_) => "Enter a code from your authenticator app to finish logging in",
                    None => {
                        "A code from your authenticator app (otp) or a recovery code is required"
                    }
                };
                Self {
                    mfa_token,
                    ..Self::new(ErrorCode::MfaRequired, message)
                }
            }
            LoginError::InvalidCode => Self::new(
                ErrorCode::InvalidSecondFactor,
                "The code is wrong or was already used",
            ),
            LoginError::MfaTokenInvalid => Self::unauthenticated(),
            LoginError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<MfaError> for ApiError {
    fn from(e: MfaError) -> Self {
        let message = e.to_string();
        match e {
            MfaError::Refused(e) => e.into(),
            MfaError::Gone => Self::unauthenticated(),
            MfaError::AlreadyEnabled => Self::new(ErrorCode::MfaAlreadyEnabled, message),
            MfaError::NotEnabled => Self::new(ErrorCode::NotFound, message),
            MfaError::WrongConfirmation => Self::new(ErrorCode::InvalidCode, message),
            MfaError::Changed => {
                Self::concurrent_update("The account was changed by another request; try again")
            }
            MfaError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::AlreadyRegistered(kind) => Self::already_registered(kind),
            RegisterError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Gone => Self::unauthenticated(),
            AccountError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<IdentifierError> for ApiError {
    fn from(e: IdentifierError) -> Self {
        match e {
            IdentifierError::Refused(e) => e.into(),
            IdentifierError::Taken(kind) => Self::already_registered(kind),
            IdentifierError::LastIdentifier(kind) => Self::invalid_field(
                kind.field(),
                "can't be removed: one of username, email, phone_number must remain",
            ),
            IdentifierError::Gone => Self::unauthenticated(),
            IdentifierError::Changed => {
                Self::concurrent_update("The account was changed by another request; try again")
            }
            IdentifierError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Refused(e) => e.into(),
            SecretError::Gone => Self::unauthenticated(),
            SecretError::Changed => {
                Self::concurrent_update("The secret was changed by another request; try again")
            }
            SecretError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<CloseError> for ApiError {
    fn from(e: CloseError) -> Self {
        match e {
            CloseError::Refused(e) => e.into(),
            CloseError::Gone => Self::unauthenticated(),
            CloseError::BalanceNotZero => Self::new(
                ErrorCode::BalanceNotZero,
                "Pay out or transfer the balance before closing the account",
            ),
            CloseError::TransferPending => Self::new(
                ErrorCode::TransferPending,
                "A transfer of the account is still pending; try again once it settles",
            ),
            CloseError::Changed => {
                Self::concurrent_update("The account was changed by another request; try again")
            }
            CloseError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound => Self::new(ErrorCode::UserNotFound, "Recipient not found"),
            LookupError::Throttled { retry_after } => Self::throttled(
                retry_after,
                format!("At most {LOOKUPS_PER_WINDOW} lookups a minute; try again later"),
            ),
            LookupError::Gone => Self::unauthenticated(),
            LookupError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::InvalidCode => {
                Self::new(ErrorCode::InvalidCode, "The code is wrong or has expired")
            }
            ResetError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        let message = e.to_string();
        match e {
            WalletError::InsufficientBalance => Self::new(ErrorCode::InsufficientBalance, message),
            WalletError::RecipientNotFound => Self::new(ErrorCode::UserNotFound, message),
            WalletError::SelfTransfer => Self::new(ErrorCode::SelfTransfer, message),
            WalletError::KeyReused => Self::new(ErrorCode::IdempotencyKeyReused, message),
            WalletError::Contention => Self::concurrent_update(&message),
            WalletError::BalanceOverflow => Self::invalid_field("amount", message),
            WalletError::NotFound => Self::not_found(),
            WalletError::InvalidCursor(_) => Self::invalid_cursor(),
            WalletError::AccountUnavailable | WalletError::Unauthenticated => {
                Self::unauthenticated()
            }
            WalletError::Refused(e) => e.into(),
            WalletError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<EntityError> for ApiError {
    fn from(e: EntityError) -> Self {
        use crate::store::EntityError as Refused;
        match e {
            EntityError::Refused(Refused::CodeTaken) => {
                Self::validation_conflict("code", "is already used by another of your entities")
            }
            EntityError::Refused(Refused::NotFound) => Self::not_found(),
            EntityError::Refused(Refused::VersionConflict) => Self::new(
                ErrorCode::VersionConflict,
                "The entity was changed by another request; read it again and retry",
            ),
            EntityError::Refused(Refused::Unexpected(e)) => Self::internal(&e),
            EntityError::Unauthenticated => Self::unauthenticated(),
            EntityError::InvalidCursor(_) => Self::invalid_cursor(),
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::Unauthenticated => Self::unauthenticated(),
            OperatorError::Forbidden => Self::forbidden(),
            OperatorError::InvalidCursor(_) => Self::invalid_cursor(),
            OperatorError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<PictureError> for ApiError {
    fn from(e: PictureError) -> Self {
        let message = e.to_string();
        match e {
            PictureError::Unauthenticated => Self::unauthenticated(),
            PictureError::NotFound => Self::not_found(),
            PictureError::Empty => Self::bad_request(message),
            PictureError::UnsupportedType | PictureError::NotA(_) | PictureError::Malformed(_) => {
                Self::new(ErrorCode::UnsupportedMediaType, message)
            }
            PictureError::Unexpected(e) => Self::internal(&e),
        }
    }
}

impl From<crate::paging::InvalidCursor> for ApiError {
    fn from(_: crate::paging::InvalidCursor) -> Self {
        Self::invalid_cursor()
    }
}

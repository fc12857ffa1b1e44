//! The fields that name an account and present or set its secret, shared by registration,
//! login, the account's changes and the reset.

use super::error::ApiError;
use super::input::Fields;
use crate::domain::{IdentifierKind, LoginIdentifier, Password, Pin, Secret, SecretKind};
use crate::service::mfa::Presented;

/// At most one of `otp` (6 digits) and `recovery_code`: the second factor a request presents
/// (a failure is recorded in `f`). Step-up routes take it beside their own fields; the
/// account's factor decides whether it is needed.
pub(super) fn parse_second_factor(f: &mut Fields) -> Option<Presented> {
    let both = f.given("otp") && f.given("recovery_code");
    let otp = f.parse("otp", |s| six_digits(s).map(Presented::Otp));
    let recovery = f.parse("recovery_code", |s| match s.chars().count() {
        0 => Err("must not be empty".to_string()),
        n if n > 64 => Err("must be at most 64 characters".to_string()),
        _ => Ok(Presented::Recovery(s.to_string())),
    });
    if both {
        f.error("_", "at most one of otp, recovery_code is allowed");
        return None;
    }
    otp.or(recovery)
}

/// A code from an authenticator app: exactly 6 ASCII digits.
pub(super) fn six_digits(s: &str) -> Result<String, String> {
    if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err("must be the 6 digits your authenticator app shows".to_string())
    }
}

/// A body of exactly one of `password`, `pin` (the account's current secret) and, with a
/// second factor on, `otp` or `recovery_code`: closing the account, removing the factor.
pub(super) fn parse_secret_and_code(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<(SecretKind, String, Option<Presented>), ApiError> {
    let mut f = Fields::new(body);
    let secret = parse_presented_secret(&mut f, ["password", "pin"]);
    let second = parse_second_factor(&mut f);
    f.finish()?;
    let (kind, secret) =
        secret.ok_or_else(|| ApiError::bad_request("exactly one of password, pin is required"))?;
    Ok((kind, secret, second))
}

/// Exactly one of `password`, `pin` under registration's rules (a failure is recorded in `f`).
pub(super) fn parse_new_secret(f: &mut Fields) -> Option<Secret> {
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
pub(super) fn parse_presented_secret(
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

/// Exactly one of `username`, `email`, `phone_number`: a non-empty string no longer than the
/// identifier can be (checked before any store call: longer ones name no account). Its format
/// is not checked: an identifier that names no account is answered as such.
pub(super) fn parse_one_identifier(f: &mut Fields) -> Option<LoginIdentifier> {
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

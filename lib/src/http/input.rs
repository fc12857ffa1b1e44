//! Request bodies: the content type is checked (415), the body parsed into a JSON object
//! (JSON, or form-urlencoded where a route accepts it), then read field by field with every
//! failure collected (400), unknown fields included.

use std::collections::{BTreeMap, HashSet};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::error::{ApiError, FieldErrors};

fn content_type(req: &Request) -> Option<String> {
    let raw = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(raw.split(';').next()?.trim().to_ascii_lowercase())
}

async fn body_bytes(req: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &())
        .await
        .map_err(|_| ApiError::bad_request("The request body could not be read"))
}

fn parse_json(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON object is expected",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object",
        )),
        Err(_) => Err(ApiError::bad_request("The request body is not valid JSON")),
    }
}

/// Form fields become JSON strings; an empty value counts as absent; a repeated field is 400.
fn parse_form(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut map = Map::new();
    let mut errors = FieldErrors::new();
    for (k, v) in form_urlencoded_pairs(bytes) {
        if map.contains_key(&k) || errors.contains_key(&k) {
            map.remove(&k);
            errors.insert(k, vec!["must be given once".into()]);
        } else if !v.is_empty() {
            map.insert(k, Value::String(v));
        }
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(ApiError::validation(errors))
    }
}

fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default()
}

/// A JSON object body (`application/json`).
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        if content_type(&req).as_deref() != Some("application/json") {
            return Err(ApiError::unsupported_media_type("application/json"));
        }
        Ok(Self(parse_json(&body_bytes(req).await?)?))
    }
}

/// A JSON or form-urlencoded body, as a JSON object.
pub struct JsonOrForm(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonOrForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        match content_type(&req).as_deref() {
            Some("application/json") => Ok(Self(parse_json(&body_bytes(req).await?)?)),
            Some("application/x-www-form-urlencoded") => {
                Ok(Self(parse_form(&body_bytes(req).await?)?))
            }
            _ => Err(ApiError::unsupported_media_type(
                "application/json or application/x-www-form-urlencoded",
            )),
        }
    }
}

/// Reads a body's fields, collecting every failure.
pub struct Fields {
    map: Map<String, Value>,
    known: HashSet<&'static str>,
    errors: FieldErrors,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            known: HashSet::new(),
            errors: BTreeMap::new(),
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    /// True when the field is present and not `null`.
    pub fn given(&mut self, name: &'static str) -> bool {
        self.known.insert(name);
        !matches!(self.map.get(name), None | Some(Value::Null))
    }

    /// A string field; `None` when absent or `null` (a wrong type is recorded as an error).
    pub fn string(&mut self, name: &'static str) -> Option<String> {
        self.known.insert(name);
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A string field parsed into a domain type; parse failures are recorded under the field.
    pub fn parse<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.string(name)?;
        match parse(&raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.error(name, message);
                None
            }
        }
    }

    /// A required amount of money (a JSON integer in range).
    pub fn amount(&mut self, name: &'static str) -> Option<crate::domain::Amount> {
        self.known.insert(name);
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                None
            }
            Some(v) => match crate::domain::Amount::from_json(v) {
                Ok(a) => Some(a),
                Err(message) => {
                    self.error(name, message);
                    None
                }
            },
        }
    }

    /// Optional free text of at most `max` characters; empty, `null` or absent is `None`.
    pub fn optional_text(&mut self, name: &'static str, max: usize) -> Option<String> {
        self.parse(name, |s| crate::domain::OptionalText::parse(s, max))
            .and_then(|t| t.0)
    }

    /// A required whole number in `min..=max` (a JSON integer: no fraction, exponent or string).
    pub fn integer(&mut self, name: &'static str, min: i64, max: i64) -> Option<i64> {
        self.known.insert(name);
        let rule = format!("must be a whole number from {min} to {max}");
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                None
            }
            Some(Value::Number(n)) if !n.is_f64() => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Some(i),
                _ => {
                    self.error(name, rule);
                    None
                }
            },
            Some(Value::Number(_)) => {
                self.error(name, format!("{rule} (no fraction or exponent)"));
                None
            }
            Some(_) => {
                self.error(name, format!("{rule} (a JSON integer)"));
                None
            }
        }
    }

    /// A required string field.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if !self.given(name) {
            self.error(name, "is required");
            return None;
        }
        self.parse(name, parse)
    }

    /// Fields that may not be set through this route: each present one is an error.
    pub fn forbid(&mut self, names: &[&'static str], message: &str) {
        for name in names {
            if self.map.contains_key(*name) {
                self.known.insert(name);
                self.error(name, message);
            }
        }
    }

    /// Whether the field is in the body at all (even as `null`).
    pub fn map_has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Whether the body has no fields at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Unknown fields are errors under their own names; returns every failure, or nothing.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(k.as_str()))
            .cloned()
            .collect();
        for k in unknown {
            self.error(&k, "is not a recognised field");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Fields {
        Fields::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn every_failure_is_collected_with_unknown_fields() {
        let mut f = fields(json!({"a": 1, "b": "x", "balance": 5}));
        assert_eq!(f.string("a"), None);
        assert_eq!(f.parse("b", |_| Err::<(), _>("bad".to_string())), None);
        let err = f.finish().unwrap_err();
        let errors = err.errors.unwrap();
        assert_eq!(errors["a"], vec!["must be a string"]);
        assert_eq!(errors["b"], vec!["bad"]);
        assert_eq!(errors["balance"], vec!["is not a recognised field"]);
    }

    #[test]
    fn null_is_absent() {
        let mut f = fields(json!({"a": null}));
        assert!(!f.given("a"));
        assert_eq!(f.string("a"), None);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn forms_drop_empty_values_and_refuse_repeats() {
        let map = parse_form(b"username=abc&pin=&email=a%40b.co").unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["email"], "a@b.co");
        let err = parse_form(b"a=1&a=2").unwrap_err();
        assert!(err.errors.unwrap().contains_key("a"));
    }

    #[test]
    fn json_bodies_must_be_objects() {
        assert!(parse_json(b"[1]").is_err());
        assert!(parse_json(b"{").is_err());
        assert!(parse_json(b"  ").is_err());
        assert!(parse_json(b"{}").unwrap().is_empty());
    }
}

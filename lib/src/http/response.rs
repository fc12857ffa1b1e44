//! The success envelopes: `{"status":"SUCCESS","result":…}` for one thing (with a `message`
//! where the contract has one), and `{"status":"SUCCESS","next_cursor":…,"result":[…]}` for a
//! page of a listing.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::paging::Page;

/// One result, answered with `code` (200 unless said otherwise).
#[derive(Serialize)]
pub(crate) struct Success<T> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
    result: T,
    #[serde(skip)]
    code: StatusCode,
}

impl<T: Serialize> Success<T> {
    pub fn ok(result: T) -> Self {
        Self {
            status: "SUCCESS",
            message: None,
            result,
            code: StatusCode::OK,
        }
    }

    pub fn created(result: T) -> Self {
        Self {
            code: StatusCode::CREATED,
            ..Self::ok(result)
        }
    }

    pub fn accepted(result: T) -> Self {
        Self {
            code: StatusCode::ACCEPTED,
            ..Self::ok(result)
        }
    }

    pub fn with_message(self, message: &'static str) -> Self {
        Self {
            message: Some(message),
            ..self
        }
    }
}

impl Success<()> {
    /// `"result": null`.
    pub fn empty() -> Self {
        Self::ok(())
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        (self.code, Json(&self)).into_response()
    }
}

/// One page of a listing, each item shown as `V`.
#[derive(Serialize)]
pub(crate) struct List<V> {
    status: &'static str,
    next_cursor: Option<String>,
    result: Vec<V>,
}

impl<V: Serialize> List<V> {
    pub fn of<'a, T>(page: &'a Page<T>, view: impl Fn(&'a T) -> V) -> Self {
        Self {
            status: "SUCCESS",
            result: page.items.iter().map(view).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

impl<V: Serialize> IntoResponse for List<V> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

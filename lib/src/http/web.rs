//! The web app (`GET /`), the operators' dashboard (`GET /dashboard`) and their static files
//! (`GET /assets/{file}`), all built into the binary from `lib/web/`.
//!
//! Every page and file carries a strict Content-Security-Policy (only this origin's scripts,
//! styles, images and API; no inline script, no eval, no framing), `nosniff` and
//! `Referrer-Policy: no-referrer`. Each file has an `ETag` (a hash of its bytes) and
//! `Cache-Control: no-cache`, so a browser revalidates and gets `304 Not Modified` until a new
//! build changes the file.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::layers::limited;
use crate::state::AppState;

/// The policy of every page: scripts, styles, images and API calls from this origin only. Images
/// may also be `blob:` URLs: pictures need the bearer token, so the app fetches them and shows
/// the bytes it holds (and a chosen file's preview) through object URLs it made itself.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

struct File {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! file {
    ($name:literal, $type:literal) => {
        File {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

/// The pages (served at their routes) and the assets (at `/assets/<name>`).
static FILES: &[File] = &[
    file!("index.html", "text/html; charset=utf-8"),
    file!("dashboard.html", "text/html; charset=utf-8"),
    file!("app.js", "text/javascript; charset=utf-8"),
    file!("api.js", "text/javascript; charset=utf-8"),
    file!("dashboard.js", "text/javascript; charset=utf-8"),
    file!("i18n.js", "text/javascript; charset=utf-8"),
    file!("text.js", "text/javascript; charset=utf-8"),
    file!("app.css", "text/css; charset=utf-8"),
    file!("cat.svg", "image/svg+xml"),
];

/// Pages are not assets: `/assets/index.html` is 404.
const PAGES: &[&str] = &["index.html", "dashboard.html"];

/// Each file's entity tag, computed once.
static ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| FILES.iter().map(|f| etag(f.bytes)).collect());

/// The entity tag of `bytes`: a quoted prefix of their SHA-256.
pub(super) fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether the request's `If-None-Match` names `etag` (or `*`).
pub(super) fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            limited(get(|h: HeaderMap| async move { serve("index.html", &h) })),
        )
        .route(
            "/dashboard",
            limited(get(
                |h: HeaderMap| async move { serve("dashboard.html", &h) },
            )),
        )
        .route("/assets/{file}", limited(get(asset)))
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if PAGES.contains(&name.as_str()) {
        return ApiError::not_found().into_response();
    }
    serve(&name, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = FILES.iter().position(|f| f.name == name) else {
        return ApiError::not_found().into_response();
    };
    let file = &FILES[index];
    let etag = &ETAGS[index];
    let fresh = not_modified(request, etag);
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(CONTENT_TYPE, HeaderValue::from_static(file.content_type))],
            file.bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, HeaderValue::from_str(etag).expect("hex"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(headers);
    response
}

/// What every page and asset carries.
fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // For browsers older than CSP's frame-ancestors.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_a_page_or_script_names_is_served() {
        let names: Vec<&str> = FILES.iter().map(|f| f.name).collect();
        for file in FILES.iter().filter(|f| {
            f.content_type.starts_with("text/html") || f.content_type.starts_with("text/javascript")
        }) {
            let text = std::str::from_utf8(file.bytes).unwrap();
            for reference in text.split("/assets/").skip(1).chain(
                text.split("from \"./").skip(1), // module imports
            ) {
                let name: String = reference
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(
                    names.contains(&name.as_str()),
                    "{} refers to {name}, which is not served",
                    file.name
                );
            }
        }
    }

    #[test]
    fn pages_have_no_inline_script_or_style() {
        for page in PAGES {
            let file = FILES.iter().find(|f| f.name == *page).unwrap();
            let text = std::str::from_utf8(file.bytes).unwrap();
            for tag in text.split("<script").skip(1) {
                let open = &tag[..tag.find('>').unwrap()];
                assert!(open.contains("src="), "{page}: inline <script>");
            }
            assert!(!text.contains("<style"), "{page}: inline <style>");
            assert!(!text.contains(" style="), "{page}: style attribute");
            for after in text.split(" on").skip(1) {
                let name: String = after.chars().take_while(char::is_ascii_lowercase).collect();
                let handler = !name.is_empty() && after[name.len()..].starts_with('=');
                assert!(!handler, "{page}: inline event handler on{name}");
            }
        }
    }

    #[test]
    fn entity_tags_differ_per_file() {
        let mut tags = ETAGS.clone();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), FILES.len());
    }
}

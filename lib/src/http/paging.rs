//! A listing's query: `?limit=&cursor=` and the listing's own filters; anything else is 400.

use super::error::{ApiError, FieldErrors};
use crate::paging::PageRequest;

/// Items per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 20;
/// The largest `limit`.
const MAX_LIMIT: usize = 100;

/// The page asked for, and the listing's own parameters among `other`, each given at most once.
pub(super) fn parse_page(
    query: Option<&str>,
    other: &[&'static str],
) -> Result<(PageRequest, Vec<(String, String)>), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| ApiError::bad_request("The query string is malformed"))?;
    let mut errors = FieldErrors::new();
    let mut page = PageRequest {
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    let mut rest = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in pairs {
        if !seen.insert(k.clone()) {
            errors
                .entry(k)
                .or_default()
                .push("must be given once".into());
            continue;
        }
        match k.as_str() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => page.limit = n,
                _ => errors
                    .entry(k)
                    .or_default()
                    .push(format!("must be a whole number from 1 to {MAX_LIMIT}")),
            },
            "cursor" if !v.is_empty() => page.cursor = Some(v),
            "cursor" => {}
            name if other.contains(&name) => rest.push((k, v)),
            _ => errors
                .entry(k)
                .or_default()
                .push("is not a recognised parameter".into()),
        }
    }
    if errors.is_empty() {
        Ok((page, rest))
    } else {
        Err(ApiError::validation(errors))
    }
}

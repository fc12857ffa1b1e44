//! The check a new version of an HTTP function passes before it takes traffic (the
//! `pre-traffic` function, CodeDeploy's hook): a `GET` of every route of every function, as API
//! Gateway would deliver it, without credentials. Nothing is written: a `GET` without a login
//! reads at most the public documents. Every answer must be below 500 and, unless a success,
//! dompet's error envelope; and the version must serve exactly its own function's routes
//! (answer them with something other than the 404 every router gives a path it doesn't have,
//! and every other path with that 404).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// The variable that tells the hook which function each deployed one is: `name=function-name`
/// pairs, comma-separated (`login=dompet-LoginFunction-AbC,web=…`), written by the template.
pub const TARGETS: &str = "DOMPET_HOOK_FUNCTIONS";

/// The functions named by a [`TARGETS`] value, by their deployed (physical) name.
pub fn targets(spec: &str) -> Result<BTreeMap<String, &'static super::Function>, String> {
    let mut targets = BTreeMap::new();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, deployed) = pair
            .split_once('=')
            .ok_or_else(|| format!("{TARGETS}: {pair:?} is not name=function-name"))?;
        let function = super::function(name.trim())
            .ok_or_else(|| format!("{TARGETS}: no HTTP function is called {name:?}"))?;
        targets.insert(deployed.trim().to_string(), function);
    }
    if targets.is_empty() {
        return Err(format!("{TARGETS} names no function"));
    }
    Ok(targets)
}

/// The paths a version serves, from its answers to [`event`] of each path (path, status,
/// body); `Err` on the first answer [`judge`] refuses.
pub fn served(
    answers: impl IntoIterator<Item = (String, u16, Vec<u8>)>,
) -> Result<BTreeSet<String>, String> {
    let mut served = BTreeSet::new();
    for (path, status, body) in answers {
        if judge(&path, status, &body)? == Verdict::Served {
            served.insert(path);
        }
    }
    Ok(served)
}

/// Whether a version that served `served` (of [`paths`]) serves exactly `function`'s routes.
pub fn serves_exactly(function: &super::Function, served: &BTreeSet<String>) -> Result<(), String> {
    let own: BTreeSet<String> = paths_of(function).into_iter().collect();
    let missing: Vec<&String> = own.difference(served).collect();
    let foreign: Vec<&String> = served.difference(&own).collect();
    if missing.is_empty() && foreign.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "not {}'s routes: it does not serve {missing:?}, and serves {foreign:?}",
            function.name
        ))
    }
}

/// What is put where a route has a path parameter: an id that is well-formed and nobody's, or
/// a file the web app has.
fn argument(parameter: &str) -> &'static str {
    match parameter {
        "{file}" => "app.js",
        _ => "00000000-0000-4000-8000-000000000000",
    }
}

/// The paths of `function`'s routes, parameters filled in.
pub fn paths_of(function: &super::Function) -> Vec<String> {
    function
        .paths
        .iter()
        .map(|path| {
            path.split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        argument(segment)
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

/// The paths of every function's routes.
pub fn paths() -> Vec<String> {
    super::FUNCTIONS.iter().flat_map(paths_of).collect()
}

/// A `GET` of `path` as API Gateway's HTTP API (payload 2.0) delivers it to a function.
pub fn event(path: &str) -> Value {
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": format!("ANY {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "user-agent": "dompet-pre-traffic",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "pre-traffic",
            "domainName": "pre-traffic.invalid",
            "domainPrefix": "pre-traffic",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "dompet-pre-traffic"
            },
            "requestId": format!("pre-traffic-{}", uuid::Uuid::new_v4()),
            "routeKey": format!("ANY {path}"),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": false
    })
}

/// What an answer says about the version that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It serves the route.
    Served,
    /// 404 `NOT_FOUND`: not one of its routes (or nothing there, which a `GET` without
    /// credentials can't tell apart).
    NotServed,
}

/// Judges the answer a version gave to [`event`]`(path)`: its status and body. `Err` says what
/// is wrong with it.
pub fn judge(path: &str, status: u16, body: &[u8]) -> Result<Verdict, String> {
    if status >= 500 {
        return Err(format!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(body)
        ));
    }
    if (200..300).contains(&status) {
        return Ok(Verdict::Served);
    }
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| format!("GET {path}: {status} without dompet's error envelope"))?;
    let code = envelope["code"].as_str();
    if code.is_none() || envelope["message"].as_str().is_none() {
        return Err(format!(
            "GET {path}: {status} {envelope}: not dompet's error envelope"
        ));
    }
    Ok(if status == 404 && code == Some("NOT_FOUND") {
        Verdict::NotServed
    } else {
        Verdict::Served
    })
}

/// The status and body of a function's answer as Lambda returns it to an invoker (API
/// Gateway's response format: `statusCode`, `body`, `isBase64Encoded`).
pub fn answer(payload: &[u8]) -> Result<(u16, Vec<u8>), String> {
    use base64::Engine;
    let answer: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the function's answer is not JSON: {e}"))?;
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| format!("no statusCode in the function's answer: {answer}"))?;
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("the answer's body is not base64: {e}"))?
    } else {
        body.as_bytes().to_vec()
    };
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(code: &str) -> Vec<u8> {
        json!({"code": code, "message": "m", "request_id": "r"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_5xx_or_an_answer_without_the_envelope_fails_the_version() {
        assert!(judge("/account", 500, &envelope("INTERNAL")).is_err());
        assert!(judge("/account", 502, b"Bad Gateway").is_err());
        assert!(judge("/account", 401, b"<html>401</html>").is_err());
        assert!(judge("/account", 403, br#"{"message": "Forbidden"}"#).is_err());
    }

    #[test]
    fn the_routers_404_is_a_route_not_served_and_any_other_answer_one_served() {
        assert_eq!(
            judge("/x", 404, &envelope("NOT_FOUND")),
            Ok(Verdict::NotServed)
        );
        assert_eq!(
            judge("/account", 401, &envelope("UNAUTHENTICATED")),
            Ok(Verdict::Served)
        );
        assert_eq!(
            judge("/login", 405, &envelope("METHOD_NOT_ALLOWED")),
            Ok(Verdict::Served)
        );
        assert_eq!(judge("/", 200, b"<!doctype html>"), Ok(Verdict::Served));
    }

    #[test]
    fn the_answer_is_read_as_lambda_returns_it() {
        let text = json!({"statusCode": 401, "body": "{}", "isBase64Encoded": false});
        assert_eq!(
            answer(text.to_string().as_bytes()),
            Ok((401, b"{}".to_vec()))
        );
        let binary = json!({"statusCode": 200, "body": "iVBORw==", "isBase64Encoded": true});
        assert_eq!(
            answer(binary.to_string().as_bytes()),
            Ok((200, vec![0x89, b'P', b'N', b'G']))
        );
        assert!(answer(br#"{"errorType": "Runtime.ExitError"}"#).is_err());
    }

    #[test]
    fn the_hook_knows_each_deployed_function_by_name() {
        let named = targets("login=stack-LoginFunction-A1, web=stack-WebFunction-B2").unwrap();
        assert_eq!(named["stack-LoginFunction-A1"].name, "login");
        assert_eq!(named["stack-WebFunction-B2"].name, "web");
        assert!(targets("login").is_err());
        assert!(targets("nobody=stack-X").is_err());
        assert!(targets("").is_err());
    }

    #[test]
    fn a_version_must_serve_its_own_routes_and_no_other() {
        let login = super::super::function("login").unwrap();
        let own: BTreeSet<String> = paths_of(login).into_iter().collect();
        assert_eq!(serves_exactly(login, &own), Ok(()));
        let mut fewer = own.clone();
        fewer.remove("/logout");
        assert!(serves_exactly(login, &fewer)
            .unwrap_err()
            .contains("/logout"));
        let mut more = own.clone();
        more.insert("/account".to_string());
        assert!(serves_exactly(login, &more)
            .unwrap_err()
            .contains("/account"));
    }

    #[test]
    fn every_route_is_probed_with_its_parameters_filled_in() {
        let all = paths();
        assert!(all.contains(&"/sessions/00000000-0000-4000-8000-000000000000".to_string()));
        assert!(all.contains(&"/assets/app.js".to_string()));
        assert!(all.iter().all(|p| !p.contains('{')), "{all:?}");
        let routes: usize = super::super::FUNCTIONS.iter().map(|f| f.paths.len()).sum();
        assert_eq!(all.len(), routes);
    }
}

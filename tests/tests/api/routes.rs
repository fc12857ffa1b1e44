//! One list of functions: `dompet::http::FUNCTIONS` names each function's paths; every
//! router serves exactly its own, the server serves them all, and `template.yaml`'s HttpApi
//! events and the `cargo lambda watch` router in Cargo.toml route the same paths to the same
//! functions.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::Request;
use dompet::http::{function, FUNCTIONS};
use dompet::testing;
use serde_yaml::Value;

/// `{transfer_id}` and `{id}` are the same route.
fn normalize(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn table() -> BTreeMap<String, BTreeSet<String>> {
    FUNCTIONS
        .iter()
        .map(|f| {
            let paths = f.paths.iter().map(|p| normalize(p)).collect();
            (f.name.to_string(), paths)
        })
        .collect()
}

/// A concrete request path for a route: a UUID for an id, a file the web app has for a file.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{file}" => "app.js",
            _ if seg.starts_with('{') => "0b6f5c1e-8d2a-4f3b-9c4d-5e6f7a8b9c0d",
            _ => seg,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The envelope's NOT_FOUND from a router's fallback (not a resource's 404) for every method.
async fn unrouted(router: &axum::Router, path: &str) -> bool {
    for method in ["GET", "POST", "PUT", "DELETE"] {
        let (status, code) = answer(router, method, path).await;
        if !(status == 404 && code == "NOT_FOUND") {
            return false;
        }
    }
    true
}

/// The status and, for a JSON body, its `code`.
async fn answer(router: &axum::Router, method: &str, path: &str) -> (u16, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(router.clone(), request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let code = serde_json::from_slice::<serde_json::Value>(&bytes)
        .map(|v| v["code"].clone())
        .unwrap_or_default();
    (status, code)
}

#[tokio::test]
async fn every_router_serves_exactly_its_listed_paths_and_the_server_all_of_them() {
    let state = testing::ephemeral().unwrap();
    let server = dompet::http::app(state.clone());
    let all: Vec<&str> = FUNCTIONS
        .iter()
        .flat_map(|f| f.paths.iter().copied())
        .collect();
    for f in FUNCTIONS {
        let router = f.router(state.clone());
        for path in all.iter().copied() {
            let own = f.paths.contains(&path);
            assert_eq!(
                !unrouted(&router, &concrete(path)).await,
                own,
                "function {} and path {path}",
                f.name
            );
            assert!(
                !unrouted(&server, &concrete(path)).await,
                "the server serves {path}"
            );
        }
    }
    assert!(function("no-such-function").is_none());
    assert!(FUNCTIONS
        .iter()
        .all(|f| function(f.name).is_some_and(|found| found.name == f.name)));
}

#[test]
fn the_template_routes_the_same_paths_to_the_same_functions() {
    let doc: Value = serde_yaml::from_str(dompet::store::schema::TEMPLATE).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut default_route = Vec::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id:?} names its binary"));
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"] != "HttpApi" {
                continue;
            }
            assert_eq!(
                event["Properties"]["Method"], "ANY",
                "{binary}: ANY, so 405 is ours"
            );
            let path = event["Properties"]["Path"].as_str().unwrap();
            if path == "$default" {
                default_route.push(binary.to_string());
            } else {
                routed
                    .entry(binary.to_string())
                    .or_default()
                    .insert(normalize(path));
            }
        }
    }
    assert_eq!(routed, table());
    assert_eq!(default_route, ["web"], "$default goes to web");
}

/// `sam build` runs `cargo lambda build --bin <Binary>` in each function's `CodeUri`: from the
/// function's own package directory Cargo resolves that package's library features alone (from
/// the workspace root it would unify every member's, linking SQLite and every AWS client into
/// every function). Each description fits Lambda's 256 characters.
#[test]
fn every_function_is_built_from_its_own_package() {
    let doc: Value = serde_yaml::from_str(dompet::store::schema::TEMPLATE).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut functions = 0;
    for (id, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        functions += 1;
        let description = resource["Properties"]["Description"].as_str().unwrap_or("");
        assert!(
            description.chars().count() <= 256,
            "{id:?}: Lambda takes a description of up to 256 characters"
        );
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id:?} names its binary"));
        let code_uri = resource["Properties"]["CodeUri"].as_str().unwrap();
        assert_eq!(code_uri, format!("functions/{binary}"), "{id:?}");
        let manifest = std::fs::read_to_string(root.join(code_uri).join("Cargo.toml")).unwrap();
        let manifest: toml_name::Manifest = toml_name::parse(&manifest);
        assert_eq!(
            manifest.name, binary,
            "{code_uri}/Cargo.toml is the package {binary}"
        );
        assert!(
            !manifest.dompet_features.contains(&"sqlite".to_string()),
            "{binary} links SQLite on AWS"
        );
    }
    assert_eq!(
        functions, 17,
        "15 functions (audit also on the table's stream) and the pre-traffic hook"
    );
}

/// The two facts the test above needs from a function's Cargo.toml.
mod toml_name {
    pub struct Manifest {
        pub name: String,
        pub dompet_features: Vec<String>,
    }

    pub fn parse(manifest: &str) -> Manifest {
        let name = manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .expect("a package name")
            .trim_matches('"')
            .to_string();
        let dompet = manifest
            .lines()
            .find(|l| l.starts_with("dompet = "))
            .expect("depends on dompet");
        let features = dompet
            .split_once("features = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or(""))
            .unwrap_or("");
        Manifest {
            name,
            dompet_features: features
                .split(',')
                .map(|f| f.trim().trim_matches('"').to_string())
                .filter(|f| !f.is_empty())
                .collect(),
        }
    }
}

#[test]
fn the_watch_router_routes_the_same_paths_to_the_same_functions() {
    let manifest = include_str!("../../../Cargo.toml");
    let section = manifest
        .split("[workspace.metadata.lambda.watch.router]")
        .nth(1)
        .expect("Cargo.toml has the watch router");
    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut catch_all = None;
    for line in section.lines().map(str::trim) {
        if line.starts_with('[') {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (path, function) = line.split_once('=').expect("\"path\" = \"function\"");
        let (path, function) = (
            path.trim().trim_matches('"'),
            function.trim().trim_matches('"'),
        );
        if path == "/{*rest}" {
            catch_all = Some(function.to_string());
        } else {
            routed
                .entry(function.to_string())
                .or_default()
                .insert(normalize(path));
        }
    }
    assert_eq!(routed, table());
    assert_eq!(
        catch_all.as_deref(),
        Some("web"),
        "unknown paths reach web's 404"
    );
}

#[test]
fn every_route_has_a_sample_event_and_every_http_event_names_a_route() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut covered = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if event["version"] != "2.0" {
            continue; // the SQS batch and the schedule event
        }
        let route_key = event["routeKey"].as_str().unwrap();
        assert_eq!(event["requestContext"]["routeKey"], route_key, "{path:?}");
        assert!(event["requestContext"]["requestId"].is_string(), "{path:?}");
        if route_key == "$default" {
            covered.insert("$default".to_string());
            continue;
        }
        let route = route_key.strip_prefix("ANY ").expect("routes are ANY");
        assert!(
            FUNCTIONS.iter().any(|f| f.paths.contains(&route)),
            "{path:?} names the unknown route {route}"
        );
        covered.insert(route.to_string());
    }
    for route in FUNCTIONS.iter().flat_map(|f| f.paths.iter()) {
        assert!(covered.contains(*route), "no sample event for {route}");
    }
    assert!(covered.contains("$default"), "no sample event for $default");
}

/// Whether `method path` reaches a handler of `router` (not its 404 or 405 fallback).
async fn routed(router: &axum::Router, method: &str, path: &str) -> bool {
    let (status, code) = answer(router, method, path).await;
    !((status == 404 && code == "NOT_FOUND") || status == 405)
}

#[tokio::test]
async fn openapi_yaml_describes_exactly_the_routes_and_methods_the_server_serves() {
    let doc: Value = serde_yaml::from_str(dompet::http::OPENAPI_YAML).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_mapping().expect("paths");
    let described: BTreeSet<String> = paths
        .keys()
        .map(|p| normalize(p.as_str().unwrap()))
        .collect();
    let served: BTreeSet<String> = table().into_values().flatten().collect();
    assert_eq!(described, served, "openapi.yaml paths vs FUNCTIONS");

    let server = dompet::http::app(testing::ephemeral().unwrap());
    for (path, item) in paths {
        let path = path.as_str().unwrap();
        // Path-level keys other than operations (`parameters`) are not methods.
        let operations: Vec<(&Value, &Value)> = item
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.as_str() != Some("parameters"))
            .collect();
        let methods: BTreeSet<String> = operations
            .iter()
            .map(|(m, _)| m.as_str().unwrap().to_ascii_uppercase())
            .collect();
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            assert_eq!(
                routed(&server, method, &concrete(path)).await,
                methods.contains(method),
                "{method} {path}: described in openapi.yaml exactly when the server routes it"
            );
        }
        for (method, operation) in operations {
            let responses = operation["responses"].as_mapping();
            assert!(
                responses.is_some_and(|r| !r.is_empty()),
                "{method:?} {path} lists its responses"
            );
        }
    }
}

/// The template's alarms and dashboard read the metrics the functions write (`dompet::metrics`,
/// namespace `dompet`): a metric renamed on one side only would leave an alarm that never goes
/// off.
#[test]
fn the_templates_metrics_are_the_ones_the_functions_write() {
    let template = dompet::store::schema::TEMPLATE;
    let mut named = std::collections::BTreeSet::new();
    // The dashboard: ["dompet", "<Name>", ...].
    for piece in template.split("[\"dompet\", \"").skip(1) {
        named.insert(piece.split('"').next().unwrap().to_string());
    }
    // The alarms: `Namespace: dompet` then `MetricName: <Name>`.
    let lines: Vec<&str> = template.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == format!("Namespace: {}", dompet::metrics::NAMESPACE) {
            let name = lines[i + 1].trim().strip_prefix("MetricName: ");
            named.insert(name.expect("MetricName after Namespace").to_string());
        }
    }
    assert!(
        named.contains("AuditBroken") && named.len() >= 5,
        "{named:?}"
    );
    for name in &named {
        assert!(
            dompet::metrics::ALL.contains(&name.as_str()),
            "template.yaml reads the metric {name}, which no function writes"
        );
    }
}

//! `TestApp`: the server's router on port 0 with a fresh store (SQLite or DynamoDB Local),
//! talked to over HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use dompet::config::Config;
use dompet::store::{PendingPage, Store};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::Backend;

/// Holds logins of a host between verifying the secret and writing their family, one at a
/// time, while armed: [`LoginGate::hold_next`] arms it, the next login stops there, and the
/// test lets it go on with [`LoginGate::release`]. Unarmed, logins pass straight through.
#[derive(Clone, Default, Debug)]
pub struct LoginGate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    armed: std::sync::atomic::AtomicBool,
    held: tokio::sync::Notify,
    go: tokio::sync::Semaphore,
}

impl Default for GateInner {
    fn default() -> Self {
        Self {
            armed: Default::default(),
            held: Default::default(),
            go: tokio::sync::Semaphore::new(0),
        }
    }
}

impl LoginGate {
    /// The next login to verify its secret waits at the gate.
    pub fn hold_next(&self) {
        self.inner
            .armed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until a login is held at the gate.
    pub async fn held(&self) {
        self.inner.held.notified().await;
    }

    /// Lets the held login go on.
    pub fn release(&self) {
        self.inner.go.add_permits(1);
    }

    async fn pass(&self) {
        if self
            .inner
            .armed
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.inner.held.notify_one();
            self.inner.go.acquire().await.expect("gate open").forget();
        }
    }
}

/// The second factor's key of every test host.
pub const TEST_MFA_KEY: &str = "test key of the second factor, 32+ bytes long";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: dompet::AppState,
}

/// A response read whole: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn read(r: Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("read body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}"))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// Asserts the error envelope with `status` and `code`; returns the body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["status"], "FAILED", "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        &self.body
    }

    /// Asserts a success envelope with `status`; returns `result`.
    #[track_caller]
    pub fn assert_success(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.body["status"], "SUCCESS", "{}", self.body);
        &self.body["result"]
    }

    /// The body without its `request_id` (which differs for every request).
    pub fn envelope(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(map) = body.as_object_mut() {
            map.remove("request_id");
        }
        body
    }

    /// The per-field validation errors of a 400.
    #[track_caller]
    pub fn field_errors(&self) -> &serde_json::Map<String, Value> {
        self.assert_error(400, "VALIDATION_ERROR");
        self.body["errors"].as_object().expect("errors object")
    }
}

impl TestApp {
    /// Test configuration: lockouts of 1 s doubling to at most 4 s.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(
            backend,
            &[
                ("DOMPET_LOCKOUT_SECS", "1"),
                ("DOMPET_LOCKOUT_MAX_SECS", "4"),
            ],
        )
        .await
    }

    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> Self {
        Self::spawn_on(backend.fresh_store().await, vars).await
    }

    /// Another host on this one's store and configuration, as another process (or Lambda
    /// execution environment) would be: its own hasher, keys, worker and connections.
    pub async fn another_host(&self, vars: &[(&str, &str)]) -> Self {
        Self::spawn_on(self.state.store_handle(), vars).await
    }

    /// A host on `store` whose logins can be held between verifying the secret and writing
    /// their family: see [`LoginGate`].
    pub async fn spawn_gated(store: Arc<dyn Store>, vars: &[(&str, &str)]) -> (Self, LoginGate) {
        let gate = LoginGate::default();
        let hook_gate = gate.clone();
        let hook: dompet::state::LoginHook = Arc::new(move || {
            let gate = hook_gate.clone();
            Box::pin(async move { gate.pass().await })
        });
        let (state, receiver) = Self::state_on(store, vars);
        let state = state.with_login_hook(hook);
        dompet::service::transfers::spawn_background(state.clone(), receiver);
        (Self::serve(state).await, gate)
    }

    pub async fn spawn_on(store: Arc<dyn Store>, vars: &[(&str, &str)]) -> Self {
        let (app, receiver) = Self::spawn_without_worker(store, vars).await;
        dompet::service::transfers::spawn_background(app.state.clone(), receiver);
        app
    }

    /// A host with no worker and no sweep: transfers stay queued on the returned receiver.
    pub async fn spawn_without_worker(
        store: Arc<dyn Store>,
        vars: &[(&str, &str)],
    ) -> (Self, dompet::queue::TransferReceiver) {
        let (state, receiver) = Self::state_on(store, vars);
        (Self::serve(state).await, receiver)
    }

    /// A host's state on `store` with the test configuration and `vars`.
    fn state_on(
        store: Arc<dyn Store>,
        vars: &[(&str, &str)],
    ) -> (dompet::AppState, dompet::queue::TransferReceiver) {
        let mut vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The test client is the proxy in front of every host: a test names the client
        // address it stands for with `X-Forwarded-For`.
        vars.entry("DOMPET_TRUSTED_PROXIES".to_string())
            .or_insert_with(|| "127.0.0.1".to_string());
        // Every host of a test seals second-factor secrets with the same key, as a
        // deployment's functions do.
        vars.entry("DOMPET_MFA_KEY".to_string())
            .or_insert_with(|| TEST_MFA_KEY.to_string());
        // Files the server writes go to a folder of this test's, unless it names one.
        let files = std::env::temp_dir().join(format!("dompet-test-{}", uuid::Uuid::new_v4()));
        for (var, name) in [
            ("DOMPET_OUTBOX_DIR", "outbox"),
            ("DOMPET_PICTURES_DIR", "pictures"),
        ] {
            vars.entry(var.to_string())
                .or_insert_with(|| files.join(name).to_string_lossy().into_owned());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
        dompet::testing::state_on(store, &config).expect("fresh state")
    }

    /// Serves every route of `state` on a port of its own (no worker: that is the caller's).
    pub async fn serve(state: dompet::AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let app = dompet::http::app(state.clone());
        tokio::spawn(async move { axum_serve(listener, app).await });
        Self {
            address,
            client: reqwest::Client::builder().build().unwrap(),
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::read(request.send().await.expect("request sent")).await
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded_pairs(fields);
        self.post_raw(path, "application/x-www-form-urlencoded", body)
            .await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post_with_token(&self, path: &str, token: &str) -> Reply {
        self.send(self.client.post(self.url(path)).bearer_auth(token))
            .await
    }

    /// POST a JSON body with a bearer token and an optional `Idempotency-Key`.
    pub async fn post_authed(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }

    pub async fn topup(&self, token: &str, amount: i64) -> Reply {
        self.post_authed("/topup", token, &json!({"amount": amount}), None)
            .await
    }

    pub async fn balance(&self, token: &str) -> i64 {
        self.get_with_token("/account", token)
            .await
            .assert_success(200)["balance"]
            .as_i64()
            .expect("balance is an integer")
    }

    /// Every entry of `/transactions`, newest first, following the cursors.
    pub async fn all_transactions(&self, token: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut path = "/transactions?limit=100".to_string();
        loop {
            let reply = self.get_with_token(&path, token).await;
            entries.extend(
                reply
                    .assert_success(200)
                    .as_array()
                    .expect("a list")
                    .iter()
                    .cloned(),
            );
            match reply.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/transactions?limit=100&cursor={cursor}"),
                None => return entries,
            }
        }
    }

    /// Waits until the worker has settled every transfer (bounded).
    pub async fn settled(&self) {
        for _ in 0..500 {
            let pending = PendingPage::all(self.state.store(), i64::MAX)
                .await
                .expect("read pending transfers");
            if pending.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("transfers still pending after 10 s");
    }

    pub async fn register(&self, body: Value) -> Reply {
        self.post_json("/register", &body).await
    }

    /// `POST /login` from the client address `from` (through the trusted proxy).
    pub async fn login_from(&self, from: &str, body: Value) -> Reply {
        self.send(
            self.request(Method::POST, "/login")
                .header("x-forwarded-for", from)
                .json(&body),
        )
        .await
    }

    pub async fn login(&self, body: Value) -> Reply {
        self.post_json("/login", &body).await
    }

    /// Registers `username` with `password` and logs in; returns (user_id, access, refresh).
    pub async fn signed_up(&self, username: &str, password: &str) -> (String, String, String) {
        let reply = self
            .register(json!({"username": username, "password": password}))
            .await;
        let user_id = reply.assert_success(201)["user_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (access, refresh) = self
            .tokens(json!({"username": username, "password": password}))
            .await;
        (user_id, access, refresh)
    }

    /// Logs in with `body`; returns (access, refresh).
    pub async fn tokens(&self, body: Value) -> (String, String) {
        let reply = self.login(body).await;
        let result = reply.assert_success(200);
        (
            result["access_token"].as_str().unwrap().to_string(),
            result["refresh_token"].as_str().unwrap().to_string(),
        )
    }
}

fn serde_urlencoded_pairs(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&urlencode(k));
        out.push('=');
        out.push_str(&urlencode(v));
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await.expect("server runs");
}

//! Headless Chromium driven over WebDriver (the W3C protocol `chromedriver` speaks), for the
//! browser tests of the web app and the dashboard.
//!
//! Chromium and its driver come from the system (Debian: `apt-get install chromium
//! chromium-driver`; `scripts/install-chromium` does it); nothing is downloaded at run time.
//! `CHROMEDRIVER` and `CHROME_BIN` override the paths. Without them a test skips with a message,
//! unless `DOMPET_REQUIRE_BROWSER` is set (CI sets it), where it fails.
//!
//! Accessibility is audited with axe-core (npm `axe-core`, installed into `.cache/axe-core/` on
//! first use like DynamoDB Local) run inside the page: [`Browser::axe`].

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use serde_json::{json, Value};

/// How long a wait for the page gives up after.
pub const PATIENCE: Duration = Duration::from_secs(30);

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The driver and browser binaries, or why there are none.
pub fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let driver = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    let browser = std::env::var_os("CHROME_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    for path in [&driver, &browser] {
        if !path.exists() {
            return Err(format!(
                "{} is missing (scripts/install-chromium installs Chromium and its driver)",
                path.display()
            ));
        }
    }
    Ok((driver, browser))
}

/// The binaries, or `None` after saying why the test is skipped; panics instead when
/// `DOMPET_REQUIRE_BROWSER` is set.
pub fn binaries_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match binaries() {
        Ok(b) => Some(b),
        Err(why) if std::env::var_os("DOMPET_REQUIRE_BROWSER").is_some() => {
            panic!("{test}: {why}; DOMPET_REQUIRE_BROWSER is set, so this is a failure")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// The npm package of the accessibility engine.
const AXE_PACKAGE: &str = "axe-core@4";

/// The WCAG rules audited: 2.0 and 2.1, levels A and AA.
const AXE_TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/// `axe.min.js`, installed on first use.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = crate::npm::install("axe-core", AXE_PACKAGE, |dir| {
            let path = dir.join("node_modules/axe-core/axe.min.js");
            path.is_file().then_some(path)
        });
        std::fs::read_to_string(&path).expect("read axe.min.js")
    })
}

/// The language and time zone the browser runs with, as a user's machine would set them.
#[derive(Debug, Clone, Copy)]
pub struct Locale {
    /// A BCP 47 tag (`en-US`, `id-ID`): `navigator.language` and `Accept-Language`.
    pub language: &'static str,
    /// An IANA zone (`UTC`, `Asia/Jakarta`): the zone `Date` and `Intl` use.
    pub time_zone: &'static str,
}

/// A running `chromedriver` and one browser session; both end when it is dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    /// Where [`Browser::screenshot`] writes.
    pub screenshots: PathBuf,
}

impl Browser {
    pub async fn start(
        driver: &Path,
        browser: &Path,
        (width, height): (u32, u32),
        locale: Locale,
        screenshots: PathBuf,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            // The browser inherits the zone, as it would the machine's.
            .env("TZ", locale.time_zone)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the browsers it starts end with it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut this = Self {
            driver: child,
            http,
            session: String::new(),
            screenshots,
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = this.http.get(format!("{base}/status")).send().await {
                let v: Value = r.json().await.unwrap_or_default();
                if v["value"]["ready"] == true {
                    break;
                }
            }
            if started.elapsed() > PATIENCE {
                bail!("chromedriver did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-gpu",
                         "--no-first-run", "--disable-extensions",
                         format!("--lang={}", locale.language),
                         format!("--window-size={width},{height}")],
                "prefs": {"intl.accept_languages": locale.language},
            },
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"pageLoad": 30000, "script": 30000, "implicit": 0},
        }}});
        let reply = this
            .http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json::<Value>()
            .await?;
        this.session = reply["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {reply}"))?
            .to_string();
        this.session = format!("{base}/session/{}", this.session);
        std::fs::create_dir_all(&this.screenshots)?;
        Ok(this)
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method.clone(), &url);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let reply: Value = request.send().await?.json().await?;
        if let Some(error) = reply["value"]["error"].as_str() {
            bail!("{method} {path}: {error}: {}", reply["value"]["message"]);
        }
        Ok(reply["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, path, body).await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.post("/url", json!({"url": url})).await.map(drop)
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Runs `script` (a function body whose last argument is the callback to call with the
    /// result) in the page and waits for its result.
    pub async fn eval_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
    }

    /// The WCAG 2.0/2.1 A and AA violations axe-core finds in what the page shows now, each
    /// as `rule (impact): help [selectors of up to 5 nodes]`.
    pub async fn axe(&self) -> anyhow::Result<Vec<String>> {
        if self.eval("return typeof window.axe", json!([])).await? != "object" {
            self.eval(axe_source(), json!([])).await?;
        }
        let found = self
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: arguments[0]},
                                    resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => `${v.id} (${v.impact}): ${v.help} `
                        + JSON.stringify(v.nodes.slice(0, 5).map(n => n.target.join(' '))))))
                   .catch(e => done([`axe failed: ${e}`]));",
                json!([AXE_TAGS]),
            )
            .await?;
        Ok(serde_json::from_value(found)?)
    }

    /// Types `text` as key presses into whatever has the focus (the keyboard alone; WebDriver's
    /// key codes such as `\u{E004}` Tab and `\u{E007}` Enter included).
    pub async fn keys(&self, text: &str) -> anyhow::Result<()> {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await?;
        self.command(reqwest::Method::DELETE, "/actions", json!({}))
            .await
            .map(drop)
    }

    /// Presses Tab until the focused element matches `css`, at most `most` times; fails when
    /// it never gets there (the element is out of the keyboard's reach).
    pub async fn tab_to(&self, css: &str, most: usize) -> anyhow::Result<()> {
        let focused =
            "return document.activeElement && document.activeElement.matches(arguments[0])";
        for _ in 0..most {
            if self.eval(focused, json!([css])).await? == true {
                return Ok(());
            }
            self.keys("\u{E004}").await?;
        }
        if self.eval(focused, json!([css])).await? == true {
            return Ok(());
        }
        let at = self
            .eval(
                "const e = document.activeElement; return e ? e.outerHTML.slice(0, 120) : null",
                json!([]),
            )
            .await?;
        bail!("{most} presses of Tab never reached {css}; the focus is on {at}")
    }

    /// Whether the focused element matches `css`.
    pub async fn focused(&self, css: &str) -> anyhow::Result<bool> {
        Ok(self
            .eval(
                "return !!document.activeElement && document.activeElement.matches(arguments[0])",
                json!([css]),
            )
            .await?
            == true)
    }

    /// Chooses the file at `path` in the file input `css` (which may be drawn transparent
    /// under a button of the page's own).
    pub async fn upload(&self, css: &str, path: &Path) -> anyhow::Result<()> {
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await?;
        let id = found[ELEMENT].as_str().context("element id")?;
        let path = path.to_str().context("a UTF-8 path")?;
        self.post(&format!("/element/{id}/value"), json!({"text": path}))
            .await
            .map(drop)
    }

    /// Opens a new tab (its own `sessionStorage`: its own login) and switches to it; returns
    /// the handle of the tab it left.
    pub async fn new_tab(&self) -> anyhow::Result<String> {
        let left = self.handle().await?;
        let opened = self.post("/window/new", json!({"type": "tab"})).await?;
        self.switch_to(opened["handle"].as_str().context("a handle")?)
            .await?;
        Ok(left)
    }

    /// The current tab's handle.
    pub async fn handle(&self) -> anyhow::Result<String> {
        let v = self
            .command(reqwest::Method::GET, "/window", Value::Null)
            .await?;
        Ok(v.as_str().context("a handle")?.to_string())
    }

    pub async fn switch_to(&self, handle: &str) -> anyhow::Result<()> {
        self.post("/window", json!({"handle": handle}))
            .await
            .map(drop)
    }

    /// Closes the current tab and switches to `then`.
    pub async fn close_tab(&self, then: &str) -> anyhow::Result<()> {
        self.command(reqwest::Method::DELETE, "/window", json!({}))
            .await?;
        self.switch_to(then).await
    }

    /// The element `css` selects, waiting until it exists and is displayed.
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let found = self
                .post("/element", json!({"using": "css selector", "value": css}))
                .await;
            if let Ok(v) = found {
                let id = v[ELEMENT].as_str().context("element id")?.to_string();
                let shown = self
                    .command(
                        reqwest::Method::GET,
                        &format!("/element/{id}/displayed"),
                        Value::Null,
                    )
                    .await
                    .unwrap_or(Value::Bool(false));
                if shown == true {
                    return Ok(id);
                }
            }
            if started.elapsed() > PATIENCE {
                bail!("no visible element {css}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` selects. A page that re-renders what was found (a list
    /// reloaded after a save) makes the found element stale: it is found again, as a user's
    /// click would land on the new one.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let mut attempts = 0;
        loop {
            let id = self.find(css).await?;
            match self.post(&format!("/element/{id}/click"), json!({})).await {
                Err(e) if e.to_string().contains("stale element reference") && attempts < 5 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other.map(drop),
            }
        }
    }

    /// Clears the field and types `text` into it, as key presses.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/clear"), json!({}))
            .await?;
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await
            .map(drop)
    }

    /// Presses Enter in the field (submitting its form from the keyboard).
    pub async fn press_enter(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/value"), json!({"text": "\u{E007}"}))
            .await
            .map(drop)
    }

    /// The text content of the first element `css` selects ("" when there is none).
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let v = self
            .eval(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                json!([css]),
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Waits until the text of `css` contains `needle`; returns the whole text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let text = self.text(css).await?;
            if text.contains(needle) {
                return Ok(text);
            }
            if started.elapsed() > PATIENCE {
                bail!("{css} never said {needle:?}; it says {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `script` (a function body) returns true.
    pub async fn wait_until(&self, what: &str, script: &str, args: Value) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if self.eval(script, args.clone()).await? == true {
                return Ok(());
            }
            if started.elapsed() > PATIENCE {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await
            .map(drop)
    }

    /// Saves a PNG of the whole page (not only what the window shows) as
    /// `<screenshots>/<name>.png`, through Chromium's DevTools protocol.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let size = self
            .eval(
                "const e = document.documentElement;
                 return [Math.max(e.scrollWidth, window.innerWidth), e.scrollHeight];",
                json!([]),
            )
            .await?;
        let params = json!({"format": "png", "captureBeyondViewport": true,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}});
        let v = self
            .post(
                "/goog/cdp/execute",
                json!({"cmd": "Page.captureScreenshot", "params": params}),
            )
            .await?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(v["data"].as_str().context("png")?)?;
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// The browser's console entries since the last call: `(level, source text)`.
    pub async fn console(&self) -> anyhow::Result<Vec<(String, String)>> {
        let v = self.post("/se/log", json!({"type": "browser"})).await?;
        Ok(v.as_array()
            .context("log entries")?
            .iter()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or_default().to_string(),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }
}

impl Browser {
    /// Ends the session (closing the browser), then the driver.
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(&self.session)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver and every browser process it started (a test that failed midway never
        // ended its session).
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

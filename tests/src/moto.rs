//! moto's server mode, the local stand-in for SNS (and SQS, to read what SNS delivered):
//! installed on first use into `.cache/moto` (a Python virtual environment that reuses the
//! system's packages: `pip install 'moto[server]>=5,<6'`, from PyPI) and started once per test
//! process on a free port, stopped when the process ends. `DOMPET_TEST_MOTO_ENDPOINT` points the
//! tests at a running one instead.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const PACKAGE: &str = "moto[server]>=5,<6";

fn cache_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".cache")
        .join("moto")
}

/// The virtual environment's Python, with moto importable.
fn install() -> PathBuf {
    let dir = cache_dir();
    let python = dir.join("bin").join("python");
    let ready = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    let staging = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let status = Command::new("python3")
        .args(["-m", "venv", "--system-site-packages"])
        .arg(&staging)
        .status()
        .expect("run python3 (moto needs Python 3 with venv: apt-get install python3-venv)");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(staging.join("bin").join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            PACKAGE,
        ])
        .stdout(Stdio::null())
        .status()
        .expect("run pip");
    assert!(status.success(), "`pip install '{PACKAGE}'` failed");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::rename(&staging, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    assert!(
        ready(&python),
        "moto is not importable from {}",
        dir.display()
    );
    python
}

fn start() -> String {
    let python = install();
    let port = crate::local_server::free_port();
    crate::local_server::start(
        "moto",
        &format!("\"$1\" -m moto.server -H 127.0.0.1 -p {port}"),
        &[&python],
        port,
        &cache_dir().join(format!("moto-{port}.log")),
    )
}

pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| std::env::var("DOMPET_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| start()))
}

/// The SDK's configuration for moto (any credentials do).
pub async fn sdk_config() -> aws_config::SdkConfig {
    crate::local_server::sdk_config(endpoint()).await
}

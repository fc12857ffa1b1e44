//! Emulators the tests start themselves (DynamoDB Local, moto): each runs under a shell
//! watchdog that stops it when the test process exits, on a free port, logging to a file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Runs the shell command `command` (its arguments `args` are `$1`, `$2`, …) in the
/// background until this process exits, logging to `log`, and waits up to 60 s for it to
/// listen on `port`; returns `http://127.0.0.1:<port>`. `what` names it in failures.
pub fn start(what: &str, command: &str, args: &[&Path], port: u16, log: &Path) -> String {
    let file = std::fs::File::create(log).expect("create the log file");
    let script = format!(
        "{command} & child=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; \
         kill $child 2>/dev/null",
        parent = std::process::id()
    );
    // Not waited on: the watchdog lives as long as this process and exits right after it.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script, what])
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone the log handle"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within 60 s; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

/// The AWS SDK's configuration for an emulator at `endpoint` (any credentials do).
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(dompet::aws_https_client().expect("the HTTPS client"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "dompet-tests",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

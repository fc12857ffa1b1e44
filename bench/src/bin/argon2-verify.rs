//! The login benchmark's baseline: bare argon2id verifications of a hash made by dompet's own
//! hasher (the same parameters a login checks), on every core, with nothing else around them.
//!
//!     argon2-verify [--seconds 10] [--threads N]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{PasswordHash, PasswordVerifier};

fn arg(name: &str, default: u64) -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(default)),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let seconds = arg("--seconds", 10)?;
    let threads = arg(
        "--threads",
        std::thread::available_parallelism()?.get() as u64,
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let hash = runtime.block_on(dompet::auth::PasswordHasher::default().hash("rahasia-sekali"))?;
    let done = AtomicU64::new(0);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let parsed = PasswordHash::new(&hash).expect("dompet's hash parses");
                while Instant::now() < until {
                    argon2::Argon2::default()
                        .verify_password(b"rahasia-sekali", &parsed)
                        .expect("the secret verifies");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let n = done.load(Ordering::Relaxed);
    println!("hash: {}", hash.split('$').nth(3).unwrap_or(""));
    println!("threads: {threads}");
    println!("verifications: {n}");
    println!(
        "verifications/s: {:.2}",
        n as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

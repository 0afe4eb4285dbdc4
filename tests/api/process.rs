//! The real `tessera` binary as a child process, for crash and CLI tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";

/// A `tessera` command over `data_dir`, with a clean environment.
pub fn tessera(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TESSERA_") {
            cmd.env_remove(&k);
        }
    }
    // A fixed issuer, as a deployment has: restarts bind a new port, and a
    // JWT is only valid for the issuer that signed it.
    cmd.env("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TESSERA_ISSUER", "http://tessera.test")
        .env("RUST_LOG", "warn")
        .arg("--data-dir")
        .arg(data_dir);
    cmd
}

/// Run a CLI command to completion.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    tessera(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tessera")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A running `tessera serve`.
pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    /// Start `tessera serve --bind 127.0.0.1:0` on `data_dir`, logging to
    /// `log`, and wait for its "listening" line.
    pub fn start(data_dir: &Path, log: &Path) -> Server {
        Self::start_with_env(data_dir, log, &[])
    }

    /// [`Server::start`] with extra environment variables (settings).
    pub fn start_with_env(data_dir: &Path, log: &Path, env: &[(&str, &str)]) -> Server {
        let log_file = std::fs::File::create(log).expect("log file");
        let mut child = tessera(data_dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("TESSERA_WORKERS", "2")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn tessera serve");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("tessera listening on ") {
                        break a.trim().to_string();
                    }
                }
                _ => {
                    let status = child.wait().expect("wait");
                    panic!(
                        "tessera serve exited ({status}) before listening: {}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    );
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, address }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! `tessera serve` as a child process, for the scenarios that run the real
//! binary (`startup`, `cluster`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

/// Start `bin serve --bind 127.0.0.1:0 --data-dir data_dir` with only the
/// `TESSERA_*` variables in `env` (the harness's own are cleared), its
/// stderr into `log`, and wait (at most 300 s) for its listening line.
/// Answers the child and its base URL; its stdout keeps being drained.
pub(crate) fn serve(
    bin: &Path,
    data_dir: &Path,
    env: &[(&str, String)],
    log: std::fs::File,
) -> anyhow::Result<(Child, String)> {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TESSERA_") {
            cmd.env_remove(&k);
        }
    }
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow!("starting {}: {e}", bin.display()))?;
    let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(a) = l.strip_prefix("tessera listening on ") {
                    break a.trim().to_string();
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("tessera serve stopped before listening");
            }
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("tessera serve did not listen within 300 s");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, url))
}

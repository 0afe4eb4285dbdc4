//! `tessera_process_*`, read from `/proc` at scrape time and written as
//! text: CPU time is a fractional counter, which the recorder's integer
//! counters cannot carry.

use std::fmt::Write;

/// Linux reports CPU times in USER_HZ ticks, 100 per second on every
/// architecture it exposes to user space.
const USER_HZ: f64 = 100.0;
pub(super) const PAGE_SIZE: u64 = 4096;

/// The fields of `/proc/self/stat` after the command name, from
/// field 3 (`state`) on.
fn stat_fields(stat: &str) -> Vec<&str> {
    match stat.rfind(')') {
        Some(i) => stat.get(i + 1..).unwrap_or("").split_whitespace().collect(),
        None => Vec::new(),
    }
}

fn field(fields: &[&str], number: usize) -> Option<f64> {
    fields.get(number.checked_sub(3)?)?.parse().ok()
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.get("Max open files".len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: Option<f64>) {
    if let Some(v) = value {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n\n"
        );
    }
}

pub(super) fn render(out: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f = stat_fields(&stat);
    let cpu = match (field(&f, 14), field(&f, 15)) {
        (Some(user), Some(system)) => Some((user + system) / USER_HZ),
        _ => None,
    };
    let start = match (field(&f, 22), boot_time()) {
        (Some(ticks), Some(boot)) => Some(boot + ticks / USER_HZ),
        _ => None,
    };
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    metric(
        out,
        "tessera_process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent by the process",
        cpu,
    );
    metric(
        out,
        "tessera_process_resident_memory_bytes",
        "gauge",
        "Resident set size",
        super::resident_bytes().map(|b| b as f64),
    );
    metric(
        out,
        "tessera_process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size",
        field(&f, 23),
    );
    metric(
        out,
        "tessera_process_open_fds",
        "gauge",
        "Open file descriptors",
        fds,
    );
    metric(
        out,
        "tessera_process_max_fds",
        "gauge",
        "Limit on open file descriptors",
        max_fds(),
    );
    metric(
        out,
        "tessera_process_threads",
        "gauge",
        "Threads in the process",
        field(&f, 20),
    );
    metric(
        out,
        "tessera_process_start_time_seconds",
        "gauge",
        "Start time of the process since the unix epoch",
        start,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_a_command_name_with_spaces_and_parens() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 1000 123456 300";
        let f = stat_fields(stat);
        assert_eq!(field(&f, 3), None, "state is not a number");
        assert_eq!(field(&f, 14), Some(250.0));
        assert_eq!(field(&f, 15), Some(50.0));
        assert_eq!(field(&f, 20), Some(7.0));
        assert_eq!(field(&f, 22), Some(1000.0));
        assert_eq!(field(&f, 23), Some(123456.0));
    }

    #[test]
    fn the_section_is_valid_exposition() {
        let mut out = String::new();
        render(&mut out);
        assert!(out.contains("# TYPE tessera_process_cpu_seconds_total counter\n"));
        assert!(out.contains("\ntessera_process_open_fds "));
        assert!(out.contains("\ntessera_process_resident_memory_bytes "));
    }
}

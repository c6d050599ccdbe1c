//! Running the harness under callgrind and reading its dumps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

/// One measured region: a workload's requests and the instructions they took.
pub struct Region {
    pub workload: String,
    pub requests: usize,
    pub instructions: u64,
}

pub struct Run {
    pub regions: Vec<Region>,
    /// The harness's source directory, as it reports it.
    pub built_from: PathBuf,
    pub seconds: f64,
}

pub fn check_valgrind() -> Result<()> {
    let out = Command::new("valgrind")
        .arg("--version")
        .output()
        .context("running valgrind --version (install Debian's valgrind package)")?;
    if !out.status.success() {
        bail!("valgrind --version failed");
    }
    Ok(())
}

/// Runs `binary args` under callgrind with its counters zeroed on entry to `region_fn` and dumped
/// when it returns. Collection is on from the start and for every thread: `--toggle-collect`
/// would switch it only in the thread that enters the function, and miss the SQLite work done on
/// sqlx's worker threads. The n-th dump (`callgrind.out.<n>`) is the n-th region the harness
/// reports on stdout (`region <n> <workload> <requests> ...`).
pub fn run(binary: &Path, dir: &Path, region_fn: &str, args: &[String]) -> Result<Run> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out_file = dir.join("callgrind.out");
    let log_file = dir.join("valgrind.log");
    let started = Instant::now();
    let mut command = Command::new("valgrind");
    // The same environment whoever runs it (the counts move slightly with the process's memory
    // layout, which the environment's size is part of).
    command.env_clear();
    for keep in ["PATH", "TMPDIR"] {
        if let Some(value) = std::env::var_os(keep) {
            command.env(keep, value);
        }
    }
    let output = command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(format!("--log-file={}", log_file.display()))
        .arg(format!("--zero-before={region_fn}"))
        .arg(format!("--dump-after={region_fn}"))
        .arg(binary)
        .args(args)
        .output()
        .with_context(|| format!("running valgrind {}", binary.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    std::fs::write(dir.join("stdout.txt"), stdout.as_bytes())?;
    std::fs::write(dir.join("stderr.txt"), &output.stderr)?;
    if !output.status.success() {
        bail!(
            "{} failed under valgrind ({}):\n{}\n{}\n(valgrind log: {})",
            binary.display(),
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim(),
            log_file.display()
        );
    }

    let mut built_from = None;
    let mut reported = Vec::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["harness", dir, ..] => built_from = Some(PathBuf::from(dir)),
            ["region", n, workload, requests, ..] => {
                reported.push((
                    n.parse::<usize>()?,
                    (*workload).to_owned(),
                    requests.parse()?,
                ));
            }
            _ => {}
        }
    }
    let built_from =
        built_from.ok_or_else(|| anyhow!("the harness did not say where it was built from"))?;

    let mut regions = Vec::new();
    for (n, workload, requests) in reported {
        let dump = PathBuf::from(format!("{}.{n}", out_file.display()));
        let instructions = totals(&dump)?;
        regions.push(Region {
            workload,
            requests,
            instructions,
        });
    }
    // A dump more than reported means the pattern matched something else too.
    let extra = PathBuf::from(format!("{}.{}", out_file.display(), regions.len() + 1));
    if extra.exists() {
        bail!(
            "callgrind wrote more dumps than the harness measured regions ({} exists)",
            extra.display()
        );
    }
    Ok(Run {
        regions,
        built_from,
        seconds,
    })
}

/// The instruction total of a callgrind dump: its `totals:` line (or `summary:`), whose first
/// event is `Ir` (instructions executed) with callgrind's default options.
fn totals(dump: &Path) -> Result<u64> {
    let text =
        std::fs::read_to_string(dump).with_context(|| format!("reading {}", dump.display()))?;
    let mut events_ok = false;
    let mut summary = None;
    let mut totals = None;
    for line in text.lines() {
        if let Some(events) = line.strip_prefix("events:") {
            events_ok = events.split_whitespace().next() == Some("Ir");
        } else if let Some(v) = line.strip_prefix("summary:") {
            summary = v.split_whitespace().next().map(str::to_owned);
        } else if let Some(v) = line.strip_prefix("totals:") {
            totals = v.split_whitespace().next().map(str::to_owned);
        }
    }
    if !events_ok {
        bail!("{}: the first event is not Ir", dump.display());
    }
    let value = totals
        .or(summary)
        .ok_or_else(|| anyhow!("{}: no totals: or summary: line", dump.display()))?;
    value
        .parse()
        .with_context(|| format!("{}: totals {value:?}", dump.display()))
}

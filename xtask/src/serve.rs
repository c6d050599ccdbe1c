//! `loadgen --serve`: start a release `clavex serve` on a fresh store, pinned to one CPU, and tear it
//! (and its PostgreSQL database) down afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::StoreKind;

/// A running server; stopped (SIGTERM, then SIGKILL) and cleaned up on drop.
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    pg: Option<PgDatabase>,
    _data: tempfile::TempDir,
}

struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        match psql(&self.admin_url, &sql) {
            Ok(()) => eprintln!("loadgen: dropped database {}", self.name),
            Err(e) => eprintln!("loadgen: could not drop database {}: {e:#}", self.name),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        // `pg` drops after the server has stopped, so DROP DATABASE finds no session.
        self.pg.take();
    }
}

/// The workspace root (`xtask/..`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn psql(admin_url: &str, sql: &str) -> Result<()> {
    // `psql` takes a connection URI as the database name.
    let url = format!("{}/postgres", admin_url.trim_end_matches('/'));
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c", sql])
        .output()
        .context("running psql (is the PostgreSQL client installed?)")?;
    if !out.status.success() {
        bail!(
            "psql -c {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub struct ServeOptions<'a> {
    pub store: StoreKind,
    pub base: &'a str,
    pub listen: &'a str,
    pub admin_token: &'a str,
    pub cpu: Option<usize>,
    pub server_bin: PathBuf,
    pub pg_url: &'a str,
}

/// `127.0.0.1:<port>` with a port that was free a moment ago.
pub fn free_local_port() -> Result<String> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(probe.local_addr()?.to_string())
}

/// The server binary: `--server-bin`, or `<target dir>/release/clavex`, built first unless told not
/// to (call this before pinning this process, so the build may use every CPU).
pub fn server_binary(server_bin: Option<&Path>, build: bool) -> Result<PathBuf> {
    if let Some(b) = server_bin {
        return Ok(b.to_path_buf());
    }
    if build {
        eprintln!("loadgen: cargo build --release -p clavex");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "clavex"])
            .current_dir(workspace_root())
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p clavex failed");
        }
    }
    Ok(target_dir().join("release").join("clavex"))
}

/// Starts the server and waits until `/healthz` answers.
pub fn start(opts: &ServeOptions<'_>) -> Result<Server> {
    let bin = opts.server_bin.clone();
    if !bin.exists() {
        bail!("server binary {} does not exist", bin.display());
    }
    // Another server on the port would answer the health check and the load in our server's place.
    if let Err(e) = std::net::TcpListener::bind(opts.listen) {
        bail!(
            "{} is not free ({e}): another server listens there; pass another --base or omit it",
            opts.listen
        );
    }
    let data = tempfile::Builder::new()
        .prefix("clavex-loadgen-")
        .tempdir()
        .context("creating a temporary data directory")?;

    let pg = match opts.store {
        StoreKind::Sqlite => None,
        StoreKind::Postgres => {
            let name = format!(
                "clavex_bench_{}_{}",
                std::process::id(),
                clavex_jose::random_token(6)
                    .to_lowercase()
                    .replace(['-', '_'], "x")
            );
            psql(opts.pg_url, &format!("CREATE DATABASE {name}"))?;
            eprintln!("loadgen: created database {name}");
            Some(PgDatabase {
                admin_url: opts.pg_url.to_owned(),
                name,
            })
        }
    };

    let mut cmd = match opts.cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string()]).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.arg("serve")
        .env("CLAVEX_LISTEN", opts.listen)
        .env("CLAVEX_PUBLIC_URL", opts.base)
        .env("CLAVEX_DATA_DIR", data.path())
        .env("CLAVEX_BOOTSTRAP_ADMIN_TOKEN", opts.admin_token)
        .env("CLAVEX_LOG", "warn")
        .env_remove("CLAVEX_DATABASE_URL")
        .env_remove("CLAVEX_CONFIG")
        .current_dir(data.path())
        .stdin(Stdio::null());
    if let Some(db) = &pg {
        cmd.env(
            "CLAVEX_DATABASE_URL",
            format!("{}/{}", opts.pg_url.trim_end_matches('/'), db.name),
        );
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id();
    let mut server = Server {
        child: Some(child),
        pid,
        pg,
        _data: data,
    };
    eprintln!(
        "loadgen: started {} serve (pid {pid}, {:?} store{}) on {}",
        bin.display(),
        opts.store,
        opts.cpu
            .map(|c| format!(", pinned to CPU {c}"))
            .unwrap_or_default(),
        opts.listen
    );
    wait_healthy(&mut server, opts.listen)?;
    Ok(server)
}

fn wait_healthy(server: &mut Server, listen: &str) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(child) = server.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("the server exited during start-up: {status}");
        }
        if let Ok(mut stream) = std::net::TcpStream::connect(listen) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request =
                format!("GET /healthz HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    // Still ours: had our server failed to bind, it would have exited by now.
                    std::thread::sleep(Duration::from_millis(200));
                    if let Some(child) = server.child.as_mut()
                        && let Some(status) = child.try_wait()?
                    {
                        bail!("the server exited during start-up: {status}");
                    }
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the server did not become healthy on {listen} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Pins every thread of this process to `cpu` (new threads inherit the mask).
pub fn pin_self(cpu: usize) -> Result<()> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .context("running taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset -a -p -c {cpu} failed");
    }
    Ok(())
}

/// User + system CPU time of a process so far, from `/proc/<pid>/stat`, in seconds.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the `(comm)`, which may itself contain spaces.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 14 (utime) and 15 (stime) of proc(5) are index 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Bytes `pid` has caused to be written to storage so far (`write_bytes` in `/proc/<pid>/io`).
pub fn storage_write_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU seconds so far of every process, by PID: (command name, user + system seconds).
pub fn all_processes() -> std::collections::HashMap<u32, (String, f64)> {
    let ticks = clock_ticks();
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
            continue;
        };
        let comm = text[open + 1..close].to_owned();
        let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
        let ut: f64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0.0);
        let st: f64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0.0);
        out.insert(pid, (comm, (ut + st) / ticks));
    }
    out
}

/// Per CPU, (busy, total) time so far in clock ticks, from `/proc/stat` (busy = total − idle − iowait).
pub fn core_times() -> Vec<(f64, f64)> {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            let total: f64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
            (total - idle, total)
        })
        .collect()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(read_clock_ticks)
}

fn read_clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `perf record` attached to `pid`, stopped with SIGINT on drop (perf then writes its file).
pub struct Perf {
    child: Option<Child>,
    pub output: PathBuf,
}

impl Perf {
    /// Samples the server's CPU (`-C cpu`) when the server is pinned: per-CPU events cost nothing
    /// at context switches, whereas per-thread events (`-p pid`) are switched in and out at each of
    /// the server's many thread hand-offs and slow it down markedly. Otherwise follows `pid`.
    pub fn start(pid: u32, cpu: Option<usize>, output: &Path, call_graph: &str) -> Result<Perf> {
        let mut cmd = Command::new("perf");
        cmd.args([
            "record",
            "-e",
            "cpu-clock",
            "-F",
            "999",
            "--call-graph",
            call_graph,
        ])
        .arg("-o")
        .arg(output);
        match cpu {
            Some(c) => cmd.args(["-C", &c.to_string()]),
            None => cmd.args(["-p", &pid.to_string()]),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting perf record (install linux-perf)")?;
        // Give perf time to attach before the timed phase.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Perf {
            child: Some(child),
            output: output.to_path_buf(),
        })
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
            eprintln!("loadgen: perf profile written to {}", self.output.display());
        }
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        self.stop();
    }
}

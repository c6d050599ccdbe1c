//! Names of the PostgreSQL schemas the tests create, and the clean-up of those left by earlier runs.
//!
//! Each test process (a "run") takes a random 64-bit run id and holds the session-level advisory
//! lock `pg_advisory_lock(run id)` on one dedicated connection for as long as it lives; its schemas
//! are named `clavex_it_r{run id:016x}_{random}`. At its start, a run drops the schemas of every run
//! whose lock it can take: PostgreSQL releases a session's advisory locks when the session ends, so a
//! free lock means the process that made those schemas is gone, however it ended.
//!
//! Why this rather than dropping each schema when its `TestServer` is dropped: a `Drop` runs neither
//! when the process is killed, aborted or times out in CI, nor (usefully) while a node or a
//! restarted node still uses the schema — a store outlives one `TestServer` in the restart and
//! multi-node tests — and a blocking `DROP SCHEMA` inside `Drop` on a test's single-threaded runtime
//! can deadlock against that very server's open transactions. Why not "drop everything older than
//! this run": runs of other checkouts share the database (a developer and CI, two worktrees), and
//! dropping their schemas would fail their tests mid-run; the advisory lock tells a finished run
//! from a live one exactly, without guessing from time. The cost: the schemas of the last run stay
//! until the next run starts, whose first PostgreSQL test waits for their drop (a few seconds after
//! a full suite).
//!
//! Everything here is best effort: a failure is reported on stderr and never fails a test. When the
//! run lock cannot be taken, schemas get an old-style name (`clavex_it_{random}`) that no sweep
//! ever touches, so a live run's schemas are never dropped.

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::OnceCell;

const PREFIX: &str = "clavex_it_r";

/// A lock wait longer than this skips that schema (it is retried by the next run).
const DROP_LOCK_TIMEOUT: &str = "10s";

/// The name for a new test schema.
pub(crate) async fn new_schema_name(url: &str) -> String {
    let random = clavex_jose::random_token(9)
        .to_lowercase()
        .replace(['-', '_'], "x");
    match run_id(url).await {
        Some(run) => format!("{PREFIX}{run:016x}_{random}"),
        None => format!("clavex_it_{random}"),
    }
}

/// This process's run id, with its advisory lock held (`None` if it could not be taken).
async fn run_id(url: &str) -> Option<u64> {
    static RUN: OnceCell<Option<u64>> = OnceCell::const_new();
    *RUN.get_or_init(|| start_run(url.to_owned())).await
}

/// Starts the thread that holds the run lock for the life of the process (its own runtime, so the
/// connection does not depend on any one test's runtime), and waits until the lock is taken.
async fn start_run(url: String) -> Option<u64> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("clavex-it-pg-run".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("test schema clean-up: no runtime: {e}");
                    let _ = ready_tx.send(None);
                    return;
                }
            };
            runtime.block_on(hold_run_lock(url, ready_tx));
        });
    if let Err(e) = spawned {
        eprintln!("test schema clean-up: no thread: {e}");
        return None;
    }
    ready_rx.await.ok().flatten()
}

async fn hold_run_lock(url: String, ready: tokio::sync::oneshot::Sender<Option<u64>>) {
    let mut conn = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("test schema clean-up: cannot connect to {url}: {e}");
            let _ = ready.send(None);
            return;
        }
    };
    let run = random_u64();
    if !try_lock(&mut conn, run).await {
        eprintln!("test schema clean-up: cannot take the run lock");
        let _ = ready.send(None);
        return;
    }
    // Before the tests go on: a short run would otherwise often exit before the sweep is done.
    sweep(&mut conn, run).await;
    let _ = ready.send(Some(run));
    // `conn` stays open, and with it the lock, until the process exits.
    std::future::pending::<()>().await;
}

fn random_u64() -> u64 {
    // `random_token` draws from the system CSPRNG; 8 bytes of its digest make the id.
    let digest = clavex_jose::sha256(clavex_jose::random_token(16).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

async fn try_lock(conn: &mut PgConnection, run: u64) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(run as i64)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(false)
}

/// The run id in a schema name made by [`new_schema_name`].
fn run_of(schema: &str) -> Option<u64> {
    let rest = schema.strip_prefix(PREFIX)?;
    let (hex, random) = rest.split_once('_')?;
    if hex.len() != 16 || random.is_empty() {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Drops the schemas of every finished run (one whose lock is free), keeping `own`'s.
async fn sweep(conn: &mut PgConnection, own: u64) {
    let sql = format!("SET lock_timeout = '{DROP_LOCK_TIMEOUT}'");
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await {
        eprintln!("test schema clean-up: {e}");
        return;
    }
    let schemas: Vec<String> = match sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE left(nspname::text, length($1)) = $1",
    )
    .bind(PREFIX)
    .fetch_all(&mut *conn)
    .await
    {
        Ok(schemas) => schemas,
        Err(e) => {
            eprintln!("test schema clean-up: cannot list schemas: {e}");
            return;
        }
    };
    let mut runs: Vec<(u64, Vec<String>)> = Vec::new();
    for schema in schemas {
        let Some(run) = run_of(&schema).filter(|run| *run != own) else {
            continue;
        };
        match runs.iter_mut().find(|(r, _)| *r == run) {
            Some((_, list)) => list.push(schema),
            None => runs.push((run, vec![schema])),
        }
    }
    for (run, schemas) in runs {
        // Taken: that run's process is gone. Not taken: it is alive (or another sweep has it).
        if !try_lock(conn, run).await {
            continue;
        }
        for schema in schemas {
            let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            if let Err(e) = sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut *conn).await {
                eprintln!("test schema clean-up: cannot drop {schema}: {e}");
            }
        }
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(run as i64)
            .execute(&mut *conn)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_round_trip_through_schema_names() {
        let name = format!(
            "{PREFIX}{:016x}_{}",
            0xfedc_ba98_7654_3210u64, "abcxyz012345"
        );
        assert_eq!(run_of(&name), Some(0xfedc_ba98_7654_3210));
        assert!(name.len() <= 63);
        // Old-style names and anything else are never taken for a run's.
        for other in [
            "clavex_it_0ailhcpwyxuz",
            "clavex_it_r0ailhcpwyxu",
            "clavex_it_rabc_def",
            "clavex_it_r0123456789abcdef",
            "clavex_it_r0123456789abcdeg_x",
            "clavex_test_1_2_3",
            "public",
        ] {
            assert_eq!(run_of(other), None, "{other}");
        }
    }
}

//! The embedded SQLite backend (the default).
//!
//! A file database runs in WAL mode with two pools: one writer connection (SQLite allows one writer
//! at a time anyway; a single connection means writers queue in the pool instead of spinning on
//! `SQLITE_BUSY`) and several reader connections, which WAL lets run alongside the writer. An
//! in-memory database uses one single-connection pool for both, since it lives only as long as a
//! connection to it is open.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::repo::{self, impl_flow_store, impl_store};
use crate::{StoreError, StoreResult};

/// Embedded migrations (`migrations/sqlite`).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        "0002_flow.sql",
        include_str!("../migrations/sqlite/0002_flow.sql"),
    ),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_READERS: u32 = 8;

/// A [`Store`](crate::Store) and [`FlowStore`](crate::FlowStore) on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The only connection that writes.
    writer: SqlitePool,
    /// Connections for reads (`PRAGMA query_only`); the writer pool again for `:memory:`.
    reader: SqlitePool,
    /// Group commit of single-use records (see [`ReplayBatcher`]).
    replays: ReplayBatcher,
}

/// One `record_once` waiting for its transaction.
struct ReplayJob {
    namespace: String,
    id: String,
    expires_at: i64,
    now: i64,
    reply: tokio::sync::oneshot::Sender<StoreResult<bool>>,
}

/// Group commit for `record_once`, the one write on the token endpoint's hot path (two per
/// request). SQLite has one writer and every commit writes WAL frames, so concurrent records are
/// queued and written by one task, as many as are waiting in one transaction. Each record is still
/// its own atomic `INSERT … ON CONFLICT` statement, run in order, so a duplicate within one batch
/// is seen as a replay; every caller is answered only after the commit, so nothing acknowledged is
/// lost on a crash.
#[derive(Debug, Clone)]
struct ReplayBatcher {
    jobs: tokio::sync::mpsc::Sender<ReplayJob>,
}

impl std::fmt::Debug for ReplayJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplayJob")
    }
}

const REPLAY_BATCH_MAX: usize = 256;

impl ReplayBatcher {
    fn start(writer: SqlitePool) -> ReplayBatcher {
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<ReplayJob>(4096);
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                while batch.len() < REPLAY_BATCH_MAX {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                match write_batch(&writer, &batch).await {
                    Ok(results) => {
                        for (job, fresh) in batch.into_iter().zip(results) {
                            let _ = job.reply.send(Ok(fresh));
                        }
                    }
                    Err(err) => {
                        let message = err.to_string();
                        for job in batch {
                            let _ = job.reply.send(Err(StoreError::Backend(message.clone())));
                        }
                    }
                }
            }
        });
        ReplayBatcher { jobs }
    }
}

/// Writes a batch with ONE statement (one round trip to sqlx's worker thread, one implicit
/// transaction): a multi-row `INSERT … ON CONFLICT … DO UPDATE … WHERE expired RETURNING` whose
/// returned keys are the records that were new (or replaced an expired one). Within the batch only
/// the first occurrence of a key can be new; the batch uses its earliest `now`, which can only make
/// the expiry test stricter.
async fn write_batch(writer: &SqlitePool, batch: &[ReplayJob]) -> StoreResult<Vec<bool>> {
    let now = batch.iter().map(|job| job.now).min().unwrap_or(0);
    // SQLite takes a key twice in one statement (the second occurrence updates nothing, as the
    // first is live), so the batch goes as it is.
    let sql = repo::sql::record_many_once(batch.len());
    let mut query = sqlx::query_as::<sqlx::Sqlite, (String, String)>(sqlx::AssertSqlSafe(sql));
    for job in batch {
        query = query
            .bind(job.namespace.as_str())
            .bind(job.id.as_str())
            .bind(job.expires_at);
    }
    let written: std::collections::HashSet<(String, String)> = query
        .bind(now)
        .fetch_all(writer)
        .await
        .map_err(repo::db_err)?
        .into_iter()
        .collect();
    let mut seen: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    Ok(batch
        .iter()
        .map(|job| {
            let key = (job.namespace.as_str(), job.id.as_str());
            let first = seen.insert(key);
            first && written.contains(&(job.namespace.clone(), job.id.clone()))
        })
        .collect())
}

impl SqliteStore {
    async fn record_once_atomic(
        &self,
        namespace: &str,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let answer = self.queue_replay(namespace, id, expires_at, now).await?;
        answer.await.map_err(|_| replay_writer_stopped())?
    }

    /// Queues every record before waiting for any answer, so that they land in the same batch
    /// (the batcher takes everything already queued): one statement, one commit.
    async fn record_many_atomic(
        &self,
        records: &[crate::ReplayEntry<'_>],
        now: i64,
    ) -> StoreResult<Vec<bool>> {
        let mut answers = Vec::with_capacity(records.len());
        for record in records {
            answers.push(
                self.queue_replay(record.namespace, record.id, record.expires_at, now)
                    .await?,
            );
        }
        let mut fresh = Vec::with_capacity(answers.len());
        for answer in answers {
            fresh.push(answer.await.map_err(|_| replay_writer_stopped())??);
        }
        Ok(fresh)
    }

    async fn queue_replay(
        &self,
        namespace: &str,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<tokio::sync::oneshot::Receiver<StoreResult<bool>>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = ReplayJob {
            namespace: namespace.to_owned(),
            id: id.to_owned(),
            expires_at,
            now,
            reply,
        };
        self.replays
            .jobs
            .send(job)
            .await
            .map_err(|_| replay_writer_stopped())?;
        Ok(answer)
    }
}

fn replay_writer_stopped() -> StoreError {
    StoreError::Backend("the SQLite replay writer has stopped".to_owned())
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates a SQLite database.
    ///
    /// Accepts `sqlite://path/to/file.db` (relative to the working directory), `sqlite:///abs/path.db`
    /// and `sqlite::memory:` (a private in-memory database, gone when the store is dropped). Query
    /// parameters understood by sqlx (`?mode=...`) are honoured. A missing file, and its missing
    /// parent directories, are created.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // sqlx would take anything else for a file name (`mysql://x` → file `x` in dir `mysql:`).
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Backend(
                "a SQLite URL starts with `sqlite:`".to_owned(),
            ));
        }
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // Keep the hot tables (replay records, artifacts) in memory: 64 MiB page cache and
            // memory-mapped reads, instead of re-reading pages with a syscall each.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456");

        if is_memory(url) {
            // One connection, kept open for the life of the pool: the database lives only while a
            // connection to it is open, and a second connection would only contend on the shared
            // cache's table locks (which `busy_timeout` does not retry).
            let pool = single_connection_pool(base).await?;
            run_migrations(&pool).await?;
            return Ok(Self {
                replays: ReplayBatcher::start(pool.clone()),
                writer: pool.clone(),
                reader: pool,
            });
        }

        // `create_if_missing` creates the file, not its directory.
        if let Some(dir) = base.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }

        let writer =
            single_connection_pool(base.clone().journal_mode(SqliteJournalMode::Wal)).await?;
        run_migrations(&writer).await?;

        let readers = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(MAX_READERS))
            .unwrap_or(4)
            .clamp(2, MAX_READERS);
        // Readers open read-write but refuse writes: a read-only open of a WAL database can fail
        // when the `-shm` file has to be created, `query_only` cannot.
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(repo::db_err)?;

        tracing::debug!(url, readers, "SQLite store open (WAL)");
        Ok(Self {
            replays: ReplayBatcher::start(writer.clone()),
            writer,
            reader,
        })
    }

    /// A fresh, private, migrated in-memory database (for tests).
    pub async fn open_memory() -> StoreResult<Self> {
        Self::connect("sqlite::memory:").await
    }

    /// Closes every connection, waiting for those in use to be returned. Dropping the store also
    /// releases them, but without waiting.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

impl_store!(SqliteStore, sqlx::Sqlite);
impl_flow_store!(SqliteStore, sqlx::Sqlite);

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

async fn single_connection_pool(options: SqliteConnectOptions) -> StoreResult<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(repo::db_err)
}

async fn run_migrations(pool: &SqlitePool) -> StoreResult<()> {
    repo::migrator(MIGRATIONS)?
        .run(pool)
        .await
        .map_err(repo::migrate_err)
}

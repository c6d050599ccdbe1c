//! The PostgreSQL backend, for several Clavex nodes sharing one database.
//!
//! Every node runs the migrations on start; sqlx's PostgreSQL migrator holds an advisory lock
//! meanwhile, so nodes starting together apply them once. Single-use records rely on
//! `INSERT ... ON CONFLICT DO UPDATE ... WHERE`, which PostgreSQL executes atomically even when
//! nodes race on the same key.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor};

use crate::repo::{self, impl_flow_store, impl_store};
use crate::{StoreError, StoreResult};

/// Embedded migrations (`migrations/postgres`).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init.sql",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_flow.sql",
        include_str!("../migrations/postgres/0002_flow.sql"),
    ),
];

const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A [`Store`](crate::Store) and [`FlowStore`](crate::FlowStore) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    writer: PgPool,
    /// The same pool as `writer`: PostgreSQL needs no separate read pool.
    reader: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?...`) and migrates the
    /// schema of the connection's default `search_path`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = parse_url(url)?;
        let pool = pool_options()
            .connect_with(options)
            .await
            .map_err(repo::db_err)?;
        Self::migrate(pool, None).await
    }

    /// Like [`connect`](Self::connect), but keeps every table in `schema`: the schema is created if
    /// missing and every pooled connection gets `SET search_path TO "<schema>"`.
    ///
    /// `schema` must be 1 to 63 characters of lowercase ASCII letters, digits and `_`, starting with
    /// a letter or `_` (so the name means the same quoted or not).
    pub async fn connect_with_schema(url: &str, schema: &str) -> StoreResult<Self> {
        validate_schema_name(schema)?;
        let options = parse_url(url)?;
        let set_search_path: Arc<str> = Arc::from(format!("SET search_path TO \"{schema}\""));
        let pool = pool_options()
            .after_connect(move |conn, _meta| {
                let statement = Arc::clone(&set_search_path);
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(statement)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(repo::db_err)?;
        Self::migrate(pool, Some(schema)).await
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
    }

    async fn migrate(pool: PgPool, schema: Option<&str>) -> StoreResult<Self> {
        let mut migrator = repo::migrator(MIGRATIONS)?;
        if let Some(schema) = schema {
            // Created by the migrator while it holds its advisory lock, so that nodes starting
            // together do not race on `CREATE SCHEMA IF NOT EXISTS`.
            migrator.create_schema(format!("\"{schema}\""));
        }
        migrator.run(&pool).await.map_err(repo::migrate_err)?;
        tracing::debug!(schema, "PostgreSQL store open");
        Ok(Self {
            writer: pool.clone(),
            reader: pool,
        })
    }
}

impl PgStore {
    /// `record_once` as one statement: PostgreSQL commits concurrent statements in parallel.
    async fn record_once_atomic(
        &self,
        namespace: &str,
        id: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query::<sqlx::Postgres>(repo::sql::RECORD_ONCE)
            .bind(namespace)
            .bind(id)
            .bind(expires_at)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(repo::db_err)?;
        Ok(done.rows_affected() == 1)
    }

    /// All records in one multi-row statement (one commit). PostgreSQL refuses a multi-row
    /// `ON CONFLICT DO UPDATE` that touches one row twice, so a repeated key is answered as a
    /// replay without being sent; and rows are sent in key order, so that two nodes recording
    /// overlapping sets lock the rows in the same order and cannot deadlock.
    async fn record_many_atomic(
        &self,
        records: &[crate::ReplayEntry<'_>],
        now: i64,
    ) -> StoreResult<Vec<bool>> {
        let mut first_of_key: std::collections::BTreeMap<(&str, &str), usize> =
            std::collections::BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            first_of_key
                .entry((record.namespace, record.id))
                .or_insert(index);
        }
        if first_of_key.is_empty() {
            return Ok(Vec::new());
        }
        let sql = repo::sql::record_many_once(first_of_key.len());
        let mut query =
            sqlx::query_as::<sqlx::Postgres, (String, String)>(sqlx::AssertSqlSafe(sql));
        for record in first_of_key
            .values()
            .filter_map(|&index| records.get(index))
        {
            query = query
                .bind(record.namespace)
                .bind(record.id)
                .bind(record.expires_at);
        }
        let written: std::collections::HashSet<(String, String)> = query
            .bind(now)
            .fetch_all(&self.writer)
            .await
            .map_err(repo::db_err)?
            .into_iter()
            .collect();
        Ok(records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                first_of_key.get(&(record.namespace, record.id)) == Some(&index)
                    && written.contains(&(record.namespace.to_owned(), record.id.to_owned()))
            })
            .collect())
    }
}

impl_store!(PgStore, sqlx::Postgres);
impl_flow_store!(PgStore, sqlx::Postgres);

fn parse_url(url: &str) -> StoreResult<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))
}

fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(IDLE_TIMEOUT)
}

fn validate_schema_name(schema: &str) -> StoreResult<()> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "invalid PostgreSQL schema name {schema:?}"
        )))
    }
}

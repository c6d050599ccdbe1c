//! The one repository implementation shared by both backends.
//!
//! Every statement lives once, in [`sql`], written with `$n` placeholders (which sqlx's SQLite
//! driver accepts too). Rows are read as plain tuples, which decode the same way on both backends,
//! and turned into records by the `*_from_row` functions of `rows`. The [`impl_store!`] and
//! [`impl_flow_store!`] macros expand `impl Store` and `impl FlowStore` for a backend struct that
//! has a `writer` and a `reader` pool of one sqlx database type; only the pool types differ
//! between the expansions, never the SQL.
//!
//! Layout: `sql` (the statements), `rows` (decoding), `store` and `flow` (the two trait impls),
//! and here what every part shares: error mapping and the migrator.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{StoreError, StoreResult};

mod flow;
mod rows;
pub(crate) mod sql;
mod store;

pub(crate) use flow::{impl_flow_store, insert_artifact_query, insert_grant_query};
pub(crate) use rows::{
    AdminTokenRow, ArtifactRow, ClientRow, ConsentRow, GrantRow, KeyRow, OrgRow, UserRow,
    admin_token_from_row, artifact_from_row, client_from_row, consent_from_row, grant_from_row,
    key_from_row, not_consumed, org_from_row, user_from_row,
};
pub(crate) use store::impl_store;

/// Maps a sqlx error: unique or primary-key violations become [`StoreError::Conflict`], anything
/// else [`StoreError::Backend`].
pub(crate) fn db_err(err: sqlx::Error) -> StoreError {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
    {
        let what = db.constraint().unwrap_or_else(|| db.message());
        return StoreError::Conflict(what.to_owned());
    }
    StoreError::Backend(err.to_string())
}

/// `NotFound` when an update or delete touched no row.
pub(crate) fn expect_one(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Builds a migrator from migration files embedded at compile time (`(file name, SQL)`), named
/// like sqlx expects: `<version>_<description>.sql`. Equivalent to `sqlx::migrate!` without
/// needing sqlx's `macros` feature; the checksum is the same SHA-384 of the file text.
pub(crate) fn migrator(files: &[(&'static str, &'static str)]) -> StoreResult<Migrator> {
    let mut migrations = Vec::with_capacity(files.len());
    for &(name, text) in files {
        let stem = name.strip_suffix(".sql").unwrap_or(name);
        let (version, description) = stem.split_once('_').ok_or_else(|| {
            StoreError::Backend(format!("migration file name {name:?} lacks a version"))
        })?;
        let version: i64 = version.parse().map_err(|_| {
            StoreError::Backend(format!("migration file name {name:?} has a bad version"))
        })?;
        migrations.push(Migration::new(
            version,
            Cow::Owned(description.replace('_', " ")),
            MigrationType::Simple,
            text.into_sql_str(),
            false,
        ));
    }
    Ok(Migrator::with_migrations(migrations))
}

pub(crate) fn migrate_err(err: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(format!("migration failed: {err}"))
}

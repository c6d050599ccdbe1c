//! `impl FlowStore` for a backend, as one macro (for the reason given in [`store`](super::store)),
//! and the bound `INSERT`s it shares between its plain and its transactional methods.

/// The `INSERT` of an artifact with its values bound (shared by the plain insert and the
/// transactional [`FlowStore::consume_artifact_and_issue`](crate::FlowStore)).
macro_rules! insert_artifact_query {
    ($db:ty, $artifact:expr) => {{
        let artifact: &$crate::ArtifactRecord = $artifact;
        ::sqlx::query::<$db>($crate::repo::sql::INSERT_ARTIFACT)
            .bind(artifact.kind.as_str())
            .bind(artifact.id_hash.as_slice())
            .bind(artifact.org_id.as_str())
            .bind(artifact.client_id.as_deref())
            .bind(artifact.grant_id.as_deref())
            .bind(artifact.payload_json.as_str())
            .bind(artifact.created_at)
            .bind(artifact.expires_at)
            .bind(artifact.retain_until)
            .bind(artifact.used_at)
    }};
}
pub(crate) use insert_artifact_query;

/// The `INSERT` of a grant with its values bound.
macro_rules! insert_grant_query {
    ($db:ty, $grant:expr) => {{
        let grant: &$crate::GrantRecord = $grant;
        ::sqlx::query::<$db>($crate::repo::sql::INSERT_GRANT)
            .bind(grant.org_id.as_str())
            .bind(grant.grant_id.as_str())
            .bind(grant.client_id.as_str())
            .bind(grant.user_id.as_deref())
            .bind(grant.payload_json.as_str())
            .bind(grant.created_at)
            .bind(grant.expires_at)
            .bind(grant.revoked_at)
    }};
}
pub(crate) use insert_grant_query;

/// Expands `impl FlowStore for $store`, on the same `writer` / `reader` pools as [`impl_store!`].
/// Every state change goes to `writer` as one atomic statement (or, for `revoke_grant`, one
/// transaction); plain reads go to `reader`.
macro_rules! impl_flow_store {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::FlowStore for $store {
            async fn insert_artifact(
                &self,
                artifact: &$crate::ArtifactRecord,
            ) -> $crate::StoreResult<()> {
                $crate::repo::insert_artifact_query!($db, artifact)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn consume_artifact_and_issue(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
                now: $crate::UnixSeconds,
                grant: &$crate::GrantRecord,
                issued: &$crate::ArtifactRecord,
            ) -> $crate::StoreResult<$crate::Consumed> {
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                let taken = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::CONSUME_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::repo::db_err)?;
                let Some(row) = taken else {
                    // Nothing was written; dropping the transaction rolls it back.
                    drop(tx);
                    let current = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                        $crate::repo::sql::GET_ARTIFACT,
                    )
                    .bind(kind.as_str())
                    .bind(id_hash)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?
                    .map($crate::repo::artifact_from_row)
                    .transpose()?;
                    return Ok($crate::repo::not_consumed(current, now));
                };
                $crate::repo::insert_grant_query!($db, grant)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::insert_artifact_query!($db, issued)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)?;
                $crate::repo::artifact_from_row(row).map($crate::Consumed::Fresh)
            }

            async fn get_artifact(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
            ) -> $crate::StoreResult<Option<$crate::ArtifactRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::GET_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                row.map($crate::repo::artifact_from_row).transpose()
            }

            async fn consume_artifact(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<$crate::Consumed> {
                let taken = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::CONSUME_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.writer)
                .await
                .map_err($crate::repo::db_err)?;
                if let Some(row) = taken {
                    return $crate::repo::artifact_from_row(row).map($crate::Consumed::Fresh);
                }
                // Not taken: only says why. Nothing below can make it `Fresh`.
                let current = ::sqlx::query_as::<$db, $crate::repo::ArtifactRow>(
                    $crate::repo::sql::GET_ARTIFACT,
                )
                .bind(kind.as_str())
                .bind(id_hash)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?
                .map($crate::repo::artifact_from_row)
                .transpose()?;
                Ok($crate::repo::not_consumed(current, now))
            }

            async fn delete_artifact(
                &self,
                kind: $crate::ArtifactKind,
                id_hash: &[u8],
            ) -> $crate::StoreResult<bool> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_ARTIFACT)
                    .bind(kind.as_str())
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_client_artifacts(
                &self,
                kind: $crate::ArtifactKind,
                org_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_CLIENT_ARTIFACTS)
                    .bind(kind.as_str())
                    .bind(org_id)
                    .bind(client_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn purge_artifacts(&self, now: $crate::UnixSeconds) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::PURGE_ARTIFACTS)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn insert_grant(&self, grant: &$crate::GrantRecord) -> $crate::StoreResult<()> {
                $crate::repo::insert_grant_query!($db, grant)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_grant(
                &self,
                org_id: &str,
                grant_id: &str,
            ) -> $crate::StoreResult<Option<$crate::GrantRecord>> {
                let row =
                    ::sqlx::query_as::<$db, $crate::repo::GrantRow>($crate::repo::sql::GET_GRANT)
                        .bind(org_id)
                        .bind(grant_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::grant_from_row))
            }

            async fn revoke_grant(
                &self,
                org_id: &str,
                grant_id: &str,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<bool> {
                // Dropping `tx` on an early return rolls it back.
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                let revoked = ::sqlx::query::<$db>($crate::repo::sql::REVOKE_GRANT)
                    .bind(org_id)
                    .bind(grant_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                // Also when it was revoked already: an artifact issued in a race with the first
                // revocation goes now.
                ::sqlx::query::<$db>($crate::repo::sql::DELETE_GRANT_ARTIFACTS)
                    .bind(org_id)
                    .bind(grant_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)?;
                Ok(revoked.rows_affected() == 1)
            }

            async fn revoke_user_grants(
                &self,
                org_id: &str,
                user_id: &str,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<u64> {
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                let revoked = ::sqlx::query::<$db>($crate::repo::sql::REVOKE_USER_GRANTS)
                    .bind(org_id)
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::DELETE_USER_GRANT_ARTIFACTS)
                    .bind(org_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::DELETE_USER_CONSENTS)
                    .bind(org_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)?;
                Ok(revoked.rows_affected())
            }

            async fn upsert_consent(
                &self,
                consent: &$crate::ConsentRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::UPSERT_CONSENT)
                    .bind(consent.org_id.as_str())
                    .bind(consent.user_id.as_str())
                    .bind(consent.client_id.as_str())
                    .bind(consent.scope.as_str())
                    .bind(consent.created_at)
                    .bind(consent.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_consent(
                &self,
                org_id: &str,
                user_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<Option<$crate::ConsentRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::ConsentRow>(
                    $crate::repo::sql::GET_CONSENT,
                )
                .bind(org_id)
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::consent_from_row))
            }

            async fn delete_consent(
                &self,
                org_id: &str,
                user_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<bool> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_CONSENT)
                    .bind(org_id)
                    .bind(user_id)
                    .bind(client_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn bump_counter(
                &self,
                key: &str,
                window_start: $crate::UnixSeconds,
                _now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<i64> {
                let (count,) = ::sqlx::query_as::<$db, (i64,)>($crate::repo::sql::BUMP_COUNTER)
                    .bind(key)
                    .bind(window_start)
                    .fetch_one(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(count)
            }

            async fn read_counter(
                &self,
                key: &str,
                window_start: $crate::UnixSeconds,
            ) -> $crate::StoreResult<i64> {
                let row = ::sqlx::query_as::<$db, (i64,)>($crate::repo::sql::READ_COUNTER)
                    .bind(key)
                    .bind(window_start)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(row.map_or(0, |(count,)| count))
            }

            async fn reset_counter(&self, key: &str) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::RESET_COUNTER)
                    .bind(key)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_flow_store;

//! `impl Store` for a backend, as one macro: the trait is an `#[async_trait]`, which rewrites the
//! methods of one `impl` block before any macro inside it would expand, so the impl cannot be
//! assembled from per-area macros. The SQL it runs is in [`sql`](super::sql).

/// Expands `impl Store for $store`, where `$store` has fields `writer` and `reader` of type
/// `sqlx::Pool<$db>`. Writes (and the transaction of `rotate_signing_key`) go to `writer`, reads to
/// `reader`; a backend without a separate read pool passes the same pool twice.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        #[::async_trait::async_trait]
        impl $crate::Store for $store {
            async fn ping(&self) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::PING)
                    .execute(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn insert_organization(
                &self,
                org: &$crate::OrganizationRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_ORG)
                    .bind(org.id.as_str())
                    .bind(org.display_name.as_str())
                    .bind(org.settings_json.as_str())
                    .bind(org.created_at)
                    .bind(org.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_organization(
                &self,
                id: &str,
            ) -> $crate::StoreResult<Option<$crate::OrganizationRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::OrgRow>($crate::repo::sql::GET_ORG)
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::org_from_row))
            }

            async fn list_organizations(
                &self,
            ) -> $crate::StoreResult<Vec<$crate::OrganizationRecord>> {
                let rows =
                    ::sqlx::query_as::<$db, $crate::repo::OrgRow>($crate::repo::sql::LIST_ORGS)
                        .fetch_all(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(rows.into_iter().map($crate::repo::org_from_row).collect())
            }

            async fn update_organization(
                &self,
                org: &$crate::OrganizationRecord,
            ) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::UPDATE_ORG)
                    .bind(org.id.as_str())
                    .bind(org.display_name.as_str())
                    .bind(org.settings_json.as_str())
                    .bind(org.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn delete_organization(&self, id: &str) -> $crate::StoreResult<()> {
                // Clients, users, signing keys, admin tokens, artifacts, grants and consents go with
                // it (ON DELETE CASCADE).
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_ORG)
                    .bind(id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn insert_admin_token(
                &self,
                token: &$crate::AdminTokenRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_ADMIN_TOKEN)
                    .bind(token.token_hash.as_slice())
                    .bind(token.org_id.as_deref())
                    .bind(token.label.as_str())
                    .bind(token.created_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn find_admin_token(
                &self,
                token_hash: &[u8],
            ) -> $crate::StoreResult<Option<$crate::AdminTokenRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::AdminTokenRow>(
                    $crate::repo::sql::FIND_ADMIN_TOKEN,
                )
                .bind(token_hash)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::admin_token_from_row))
            }

            async fn delete_admin_tokens(&self, org_id: Option<&str>) -> $crate::StoreResult<u64> {
                let done = match org_id {
                    Some(org_id) => {
                        ::sqlx::query::<$db>($crate::repo::sql::DELETE_ORG_ADMIN_TOKENS)
                            .bind(org_id)
                            .execute(&self.writer)
                            .await
                    }
                    None => {
                        ::sqlx::query::<$db>($crate::repo::sql::DELETE_SERVER_ADMIN_TOKENS)
                            .execute(&self.writer)
                            .await
                    }
                }
                .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn insert_client(
                &self,
                client: &$crate::ClientRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_CLIENT)
                    .bind(client.org_id.as_str())
                    .bind(client.client_id.as_str())
                    .bind(client.metadata_json.as_str())
                    .bind(client.created_at)
                    .bind(client.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_client(
                &self,
                org_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<Option<$crate::ClientRecord>> {
                let row =
                    ::sqlx::query_as::<$db, $crate::repo::ClientRow>($crate::repo::sql::GET_CLIENT)
                        .bind(org_id)
                        .bind(client_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::client_from_row))
            }

            async fn list_clients(
                &self,
                org_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::ClientRecord>> {
                let rows = ::sqlx::query_as::<$db, $crate::repo::ClientRow>(
                    $crate::repo::sql::LIST_CLIENTS,
                )
                .bind(org_id)
                .fetch_all(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(rows
                    .into_iter()
                    .map($crate::repo::client_from_row)
                    .collect())
            }

            async fn update_client(
                &self,
                client: &$crate::ClientRecord,
            ) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::UPDATE_CLIENT)
                    .bind(client.org_id.as_str())
                    .bind(client.client_id.as_str())
                    .bind(client.metadata_json.as_str())
                    .bind(client.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn delete_client(
                &self,
                org_id: &str,
                client_id: &str,
            ) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_CLIENT)
                    .bind(org_id)
                    .bind(client_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn insert_user(&self, user: &$crate::UserRecord) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_USER)
                    .bind(user.org_id.as_str())
                    .bind(user.user_id.as_str())
                    .bind(user.username.as_str())
                    .bind(user.email.as_deref())
                    .bind(user.password_hash.as_str())
                    .bind(user.claims_json.as_str())
                    .bind(user.created_at)
                    .bind(user.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn get_user(
                &self,
                org_id: &str,
                user_id: &str,
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                let row =
                    ::sqlx::query_as::<$db, $crate::repo::UserRow>($crate::repo::sql::GET_USER)
                        .bind(org_id)
                        .bind(user_id)
                        .fetch_optional(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::user_from_row))
            }

            async fn find_user_by_login(
                &self,
                org_id: &str,
                login: &str,
            ) -> $crate::StoreResult<Option<$crate::UserRecord>> {
                let row = ::sqlx::query_as::<$db, $crate::repo::UserRow>(
                    $crate::repo::sql::FIND_USER_BY_LOGIN,
                )
                .bind(org_id)
                .bind(login)
                .fetch_optional(&self.reader)
                .await
                .map_err($crate::repo::db_err)?;
                Ok(row.map($crate::repo::user_from_row))
            }

            async fn list_users(
                &self,
                org_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::UserRecord>> {
                let rows =
                    ::sqlx::query_as::<$db, $crate::repo::UserRow>($crate::repo::sql::LIST_USERS)
                        .bind(org_id)
                        .fetch_all(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                Ok(rows.into_iter().map($crate::repo::user_from_row).collect())
            }

            async fn update_user(&self, user: &$crate::UserRecord) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::UPDATE_USER)
                    .bind(user.org_id.as_str())
                    .bind(user.user_id.as_str())
                    .bind(user.username.as_str())
                    .bind(user.email.as_deref())
                    .bind(user.password_hash.as_str())
                    .bind(user.claims_json.as_str())
                    .bind(user.updated_at)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn delete_user(&self, org_id: &str, user_id: &str) -> $crate::StoreResult<()> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::DELETE_USER)
                    .bind(org_id)
                    .bind(user_id)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                $crate::repo::expect_one(done.rows_affected())
            }

            async fn insert_signing_key(
                &self,
                key: &$crate::SigningKeyRecord,
            ) -> $crate::StoreResult<()> {
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_KEY)
                    .bind(key.org_id.as_str())
                    .bind(key.kid.as_str())
                    .bind(key.alg.as_str())
                    .bind(key.status.as_str())
                    .bind(key.public_jwk_json.as_str())
                    .bind(key.sealed_private_key.as_slice())
                    .bind(key.created_at)
                    .bind(key.retired_at)
                    .bind(key.publish_until)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(())
            }

            async fn list_signing_keys(
                &self,
                org_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::SigningKeyRecord>> {
                let rows =
                    ::sqlx::query_as::<$db, $crate::repo::KeyRow>($crate::repo::sql::LIST_KEYS)
                        .bind(org_id)
                        .fetch_all(&self.reader)
                        .await
                        .map_err($crate::repo::db_err)?;
                rows.into_iter().map($crate::repo::key_from_row).collect()
            }

            async fn rotate_signing_key(
                &self,
                new_key: &$crate::SigningKeyRecord,
                now: $crate::UnixSeconds,
                publish_until: $crate::UnixSeconds,
            ) -> $crate::StoreResult<()> {
                // Dropping `tx` on an early return rolls it back.
                let mut tx = self.writer.begin().await.map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::RETIRE_ACTIVE_KEYS)
                    .bind(new_key.org_id.as_str())
                    .bind(new_key.alg.as_str())
                    .bind(now)
                    .bind(publish_until)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                ::sqlx::query::<$db>($crate::repo::sql::INSERT_KEY)
                    .bind(new_key.org_id.as_str())
                    .bind(new_key.kid.as_str())
                    .bind(new_key.alg.as_str())
                    .bind($crate::KeyStatus::Active.as_str())
                    .bind(new_key.public_jwk_json.as_str())
                    .bind(new_key.sealed_private_key.as_slice())
                    .bind(new_key.created_at)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::repo::db_err)?;
                tx.commit().await.map_err($crate::repo::db_err)
            }

            async fn purge_unpublished_keys(
                &self,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::PURGE_KEYS)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }

            async fn record_once(
                &self,
                namespace: &str,
                id: &str,
                expires_at: $crate::UnixSeconds,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<bool> {
                // Each backend decides how the one atomic statement reaches the database (SQLite
                // batches concurrent records into one transaction).
                self.record_once_atomic(namespace, id, expires_at, now)
                    .await
            }

            async fn record_once_many(
                &self,
                records: &[$crate::ReplayEntry<'_>],
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<Vec<bool>> {
                self.record_many_atomic(records, now).await
            }

            async fn purge_expired_replays(
                &self,
                now: $crate::UnixSeconds,
            ) -> $crate::StoreResult<u64> {
                let done = ::sqlx::query::<$db>($crate::repo::sql::PURGE_REPLAYS)
                    .bind(now)
                    .execute(&self.writer)
                    .await
                    .map_err($crate::repo::db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_store;

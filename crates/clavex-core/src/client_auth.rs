//! Client authentication with `private_key_jwt` (RFC 7523 §2.2 / §3, OIDC Core §9, FAPI 2.0 SP §5.3.2.1).

use std::sync::Arc;

use clavex_jose::{Algorithm, JwkSet, Jws, JwsLimits, PublicKey};
use serde_json::Value;

use crate::client::ResolvedClient;
use crate::engine::{Engine, FailedJwksFetch, OrgContext, RemoteKeys};
use crate::error::{Error, ErrorCode, OAuthError, Result};
use crate::form::Params;
use crate::ids::{ClientId, OrgId};
use crate::policy::{self, client_assertion, lifetimes};

/// A client whose assertion verified. The assertion's `jti` is recorded only once the whole request is
/// otherwise accepted (so a retry after, e.g., a DPoP nonce challenge may resend the same assertion).
pub struct AuthenticatedClient {
    pub client: Arc<ResolvedClient>,
    pub replay_id: String,
    pub replay_expires_at: i64,
}

fn reject(msg: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::invalid_client(msg))
}

/// The longest `Authorization` scheme echoed back in a challenge.
const MAX_SCHEME_LEN: usize = 32;

/// The authentication scheme of an `Authorization` header value (RFC 9110 §11.4: a token before
/// the credentials), with the registered schemes in their usual spelling. `None` when the value
/// does not start with a token (nothing that could be echoed into a header safely).
pub(crate) fn authorization_scheme(header: &str) -> Option<String> {
    let scheme = header.trim_start().split([' ', '\t']).next()?;
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if scheme.is_empty() || scheme.len() > MAX_SCHEME_LEN || !scheme.chars().all(is_tchar) {
        return None;
    }
    Some(
        ["Basic", "Bearer", "DPoP", "Digest"]
            .into_iter()
            .find(|known| known.eq_ignore_ascii_case(scheme))
            .unwrap_or(scheme)
            .to_owned(),
    )
}

/// RFC 6749 §5.2: when the client tried to authenticate with the HTTP `Authorization` header, an
/// `invalid_client` answer is a 401 with a `WWW-Authenticate` challenge for the scheme it used.
/// Every endpoint that authenticates clients passes its errors through here.
pub(crate) fn with_client_challenge(
    err: Error,
    org: &OrgContext,
    authorization_header: Option<&str>,
) -> Error {
    match (err, authorization_header.and_then(authorization_scheme)) {
        (Error::OAuth(e), Some(scheme)) if e.code == ErrorCode::InvalidClient => {
            Error::ClientChallenge {
                description: e.description,
                scheme,
                realm: org.issuer.clone(),
            }
        }
        (err, _) => err,
    }
}

fn string_claim<'a>(
    claims: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(reject(format!(
            "client_assertion claim {name} must be a string"
        ))),
    }
}

fn time_claim(claims: &serde_json::Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| {
                reject(format!(
                    "client_assertion claim {name} must be a NumericDate"
                ))
            }),
        Some(_) => Err(reject(format!(
            "client_assertion claim {name} must be a NumericDate"
        ))),
    }
}

impl Engine {
    /// Authenticates the client of a back-channel request (token and PAR endpoints). Callers map
    /// their errors with [`with_client_challenge`].
    pub async fn authenticate_client(
        &self,
        org: &OrgContext,
        params: &Params,
        authorization_header: Option<&str>,
    ) -> Result<AuthenticatedClient> {
        if authorization_header
            .and_then(authorization_scheme)
            .is_some_and(|scheme| scheme == "Basic")
        {
            return Err(reject(
                "client_secret_basic is not allowed under FAPI 2.0; authenticate with private_key_jwt",
            ));
        }
        if params.single("client_secret")?.is_some() {
            return Err(reject(
                "client_secret_post is not allowed under FAPI 2.0; authenticate with private_key_jwt",
            ));
        }
        let assertion_type = params.single("client_assertion_type")?;
        let assertion = params.single("client_assertion")?;
        let (assertion_type, assertion) = match (assertion_type, assertion) {
            (Some(t), Some(a)) => (t, a),
            (None, None) => {
                return Err(reject(
                    "client authentication is required: send client_assertion_type and client_assertion (private_key_jwt)",
                ));
            }
            (None, Some(_)) => return Err(reject("client_assertion_type is missing")),
            (Some(_), None) => return Err(reject("client_assertion is missing")),
        };
        if assertion_type != policy::CLIENT_ASSERTION_TYPE_JWT_BEARER {
            return Err(reject(format!(
                "client_assertion_type must be {}",
                policy::CLIENT_ASSERTION_TYPE_JWT_BEARER
            )));
        }
        let jws = Jws::parse(
            assertion,
            &JwsLimits {
                max_total_len: policy::MAX_JWT_LEN,
            },
        )
        .map_err(|e| reject(format!("client_assertion is not a valid JWS: {e}")))?;
        let alg = policy::fapi_algorithm(jws.alg_name())
            .map_err(|m| reject(format!("client_assertion: {m}")))?;

        let claims = jws.claims();
        let iss = string_claim(claims, "iss")?
            .ok_or_else(|| reject("client_assertion has no iss claim"))?;
        let sub = string_claim(claims, "sub")?
            .ok_or_else(|| reject("client_assertion has no sub claim"))?;
        if iss != sub {
            return Err(reject(
                "client_assertion iss and sub must both be the client_id",
            ));
        }
        if let Some(client_id) = params.single("client_id")?
            && client_id != iss
        {
            return Err(reject(
                "client_id does not match the client_assertion's iss and sub",
            ));
        }

        // An identifier that could never have been registered names no client; it is not looked up
        // (a NUL byte, for one, is not even storable in PostgreSQL text).
        let client_id = ClientId::parse(iss).map_err(|_| reject("unknown client"))?;
        let client = self
            .client(&org.id, &client_id)
            .await?
            .ok_or_else(|| reject("unknown client"))?;
        let metadata = &client.metadata;
        if metadata.token_endpoint_auth_method != "private_key_jwt" {
            return Err(reject("this client is not registered for private_key_jwt"));
        }
        if let Some(required) = &metadata.token_endpoint_auth_signing_alg
            && required != alg.as_str()
        {
            return Err(reject(format!(
                "this client must sign its assertions with {required}"
            )));
        }

        if !self
            .verify_with_client_key(&org.id, &client, &jws, alg)
            .await?
        {
            return Err(reject("client_assertion signature verification failed"));
        }

        // Claims, after the signature, so that unauthenticated input never drives replay records.
        let aud = claims
            .get("aud")
            .ok_or_else(|| reject("client_assertion has no aud claim"))?;
        if !policy::assertion_audience_accepted(
            aud,
            &org.issuer,
            &org.token_endpoint,
            &org.par_endpoint,
            &org.settings,
        ) {
            return Err(reject(format!(
                "client_assertion aud must be the issuer identifier \"{}\" as a single string",
                org.issuer
            )));
        }
        let now = self.now();
        let exp = client_assertion::check_assertion_times(
            time_claim(claims, "exp")?,
            time_claim(claims, "iat")?,
            time_claim(claims, "nbf")?,
            now,
        )
        .map_err(reject)?;
        let jti = string_claim(claims, "jti")?
            .ok_or_else(|| reject("client_assertion has no jti claim"))?;
        client_assertion::check_assertion_jti(jti).map_err(reject)?;
        let replay_id =
            clavex_jose::b64url_encode(&clavex_jose::sha256(format!("{iss}\u{0}{jti}").as_bytes()));
        Ok(AuthenticatedClient {
            client,
            replay_id,
            replay_expires_at: exp,
        })
    }

    /// Fetches a client's `jwks_uri`, unless a fetch of it failed less than
    /// [`policy::JWKS_FETCH_FAILURE_RETRY_SECS`] ago: then the remembered failure is answered
    /// without any outbound request.
    async fn fetch_client_jwks(&self, uri: &str, now: i64) -> Result<JwkSet> {
        if let Some(failed) = self.jwks_failures.get(uri).await {
            let retry_at = failed.failed_at + policy::JWKS_FETCH_FAILURE_RETRY_SECS;
            if now < retry_at {
                return Err(reject(format!(
                    "the client's JWKS could not be fetched: {} (not fetched again for {} s)",
                    failed.reason,
                    retry_at - now
                )));
            }
        }
        match self.fetcher.fetch(uri).await {
            Ok(set) => {
                self.jwks_failures.invalidate(uri).await;
                Ok(set)
            }
            Err(reason) => {
                let description = format!("the client's JWKS could not be fetched: {reason}");
                self.jwks_failures
                    .insert(
                        uri.to_owned(),
                        Arc::new(FailedJwksFetch {
                            reason,
                            failed_at: now,
                        }),
                    )
                    .await;
                Err(reject(description))
            }
        }
    }

    /// The client's key for this assertion: inline `jwks`, or `jwks_uri` (cached; fetched again once
    /// when the `kid` is unknown, at most every few seconds).
    /// Verifies `jws` (client assertion or request object) with the client's key for its `kid`
    /// and `alg`: `Ok(false)` when the signature does not verify, `Err` when no key can be had.
    ///
    /// A client may rotate its key under the same `kid` (a failure users of other servers report,
    /// keycloak#14263): when the signature fails with a key from the cached `jwks_uri` document,
    /// the document is fetched again — at most every [`lifetimes::JWKS_REFETCH_MIN_INTERVAL_SECS`] seconds, as for
    /// an unknown `kid` — and the signature checked once more.
    pub(crate) async fn verify_with_client_key(
        &self,
        org_id: &OrgId,
        client: &ResolvedClient,
        jws: &Jws,
        alg: Algorithm,
    ) -> Result<bool> {
        let key = self
            .client_key(org_id, client, jws.kid(), alg, false)
            .await?;
        if jws.verify_with(&key).is_ok() {
            return Ok(true);
        }
        if client.inline_keys.is_some() {
            return Ok(false);
        }
        Ok(
            match self.client_key(org_id, client, jws.kid(), alg, true).await {
                Ok(fresh) => jws.verify_with(&fresh).is_ok(),
                Err(_) => false,
            },
        )
    }

    /// The client's key for `kid` and `alg`: inline `jwks`, or `jwks_uri` (cached; fetched again
    /// when the `kid` is unknown, or when `refresh` asks for it, at most every few seconds).
    async fn client_key(
        &self,
        org_id: &OrgId,
        client: &ResolvedClient,
        kid: Option<&str>,
        alg: Algorithm,
        refresh: bool,
    ) -> Result<PublicKey> {
        if let Some(set) = &client.inline_keys {
            return set.select(kid, alg).cloned().ok_or_else(|| {
                reject(format!(
                    "no registered key of this client matches kid {} and alg {}",
                    kid.unwrap_or("(none)"),
                    alg.as_str()
                ))
            });
        }
        let Some(uri) = &client.metadata.jwks_uri else {
            return Err(reject("the client has no registered keys"));
        };
        let cache_key = (org_id.to_string(), client.metadata.client_id.to_string());
        let now = self.now();
        let cached = self.remote_keys.get(&cache_key).await;
        if !refresh
            && let Some(remote) = &cached
            && let Some(key) = remote.set.select(kid, alg)
        {
            return Ok(key.clone());
        }
        if cached
            .as_ref()
            .is_some_and(|r| now - r.fetched_at < lifetimes::JWKS_REFETCH_MIN_INTERVAL_SECS)
        {
            return Err(reject(
                "no key in the client's jwks_uri matches the assertion's kid and alg",
            ));
        }
        let set = Arc::new(self.fetch_client_jwks(uri, now).await?);
        self.remote_keys
            .insert(
                cache_key,
                Arc::new(RemoteKeys {
                    set: set.clone(),
                    fetched_at: now,
                }),
            )
            .await;
        set.select(kid, alg).cloned().ok_or_else(|| {
            reject("no key in the client's jwks_uri matches the assertion's kid and alg")
        })
    }
}

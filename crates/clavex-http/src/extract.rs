//! Extractors: the request facts every handler needs, read one way in one place — the connection
//! (peer after trusted-proxy resolution, listener, client certificates), the DPoP proofs, the
//! client-authentication header, the admin principal and form bodies. Handlers then make one engine
//! call and respond.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use clavex_core::admin::{AdminActor, AdminPrincipal, AuthenticatedAdmin};
use clavex_core::form::{MAX_FORM_BYTES, Params};
use clavex_core::ids::{OrgId, unknown_organization};
use clavex_core::{ConnectionFacts, Error, OAuthError, Transport};

use crate::AppState;
use crate::error::ApiError;

/// Put on each request by the TLS listener (`clavex::tls`): the request came over Clavex's own TLS,
/// with these client certificates (DER, leaf first; empty when none was presented).
#[derive(Debug, Clone, Default)]
pub struct TlsPeer {
    pub client_certificate_chain: Vec<Vec<u8>>,
}

/// The connection facts of a request. The TCP peer comes from `ConnectInfo`, which both listeners
/// set; a server without it is a wiring bug (500), never a guessed address.
pub struct Connection(pub ConnectionFacts);

impl FromRequestParts<AppState> for Connection {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| Error::invariant("the listener did not record the peer address"))?;
        let tls = parts.extensions.get::<TlsPeer>();
        Ok(Connection(ConnectionFacts {
            peer: state.client_ip(peer.ip(), &parts.headers),
            transport: if tls.is_some() {
                Transport::Tls
            } else {
                Transport::Plain
            },
            client_certificate_chain: tls
                .map(|t| t.client_certificate_chain.clone())
                .unwrap_or_default(),
        }))
    }
}

/// The route's `{org}` segment, parsed once into an [`OrgId`].
///
/// A segment that could not be an organization id names none. Extraction does not fail for it:
/// [`OrgPath::id`] answers `NotFound` when the handler needs the organization, which is after the
/// request's other extractors and where the operation itself would report an unknown organization,
/// so a request's errors are reported in the order they always were.
pub struct OrgPath {
    segment: String,
    id: Option<OrgId>,
}

impl OrgPath {
    fn from_segment(segment: String) -> OrgPath {
        OrgPath {
            id: OrgId::parse(&segment).ok(),
            segment,
        }
    }

    /// The organization, or `NotFound` (as for an unknown organization) when the segment names none.
    pub fn id(&self) -> Result<&OrgId, Error> {
        self.id_or_else(|| unknown_organization(&self.segment))
    }

    /// The organization, or `missing()` when the segment names none: for operations whose answer
    /// about a thing of an unknown organization is that the thing does not exist.
    pub fn id_or_else(&self, missing: impl FnOnce() -> Error) -> Result<&OrgId, Error> {
        self.id.as_ref().ok_or_else(missing)
    }

    /// The organization, if the segment could name one.
    pub fn parsed(&self) -> Option<&OrgId> {
        self.id.as_ref()
    }

    /// The segment as sent.
    pub fn segment(&self) -> &str {
        &self.segment
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OrgPath {
    /// Axum's own answer for a path it cannot decode (e.g. invalid UTF-8), as `Path` gives it.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let segment = params
            .into_iter()
            .find_map(|(name, value)| (name == "org").then_some(value))
            .ok_or_else(|| {
                ApiError::from(Error::invariant("an organization route without {org}"))
                    .into_response()
            })?;
        Ok(OrgPath::from_segment(segment))
    }
}

/// Every `DPoP` header value, in order (RFC 9449 §4.3 refuses more than one; the engine decides).
pub struct DpopProofs(pub Vec<String>);

impl DpopProofs {
    pub fn as_strs(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DpopProofs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut proofs = Vec::new();
        for value in parts.headers.get_all("dpop") {
            let proof = value
                .to_str()
                .map_err(|_| OAuthError::invalid_dpop_proof("DPoP header is not ASCII"))?;
            proofs.push(proof.to_owned());
        }
        Ok(DpopProofs(proofs))
    }
}

/// What a client presents to authenticate besides the form: the `Authorization` header (FAPI 2.0
/// refuses every scheme there, but the answer names the scheme used, RFC 6749 §5.2).
pub struct ClientAuthentication {
    pub authorization: Option<String>,
}

impl ClientAuthentication {
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAuthentication {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ClientAuthentication {
            authorization: parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }
}

/// The token of `Authorization: Bearer <token>`; anything else counts as no token.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .and_then(|_| value.get(7..))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The authenticated caller of the Admin API: what it may do, and who it is for the events.
pub struct Admin {
    pub principal: AdminPrincipal,
    pub actor: AdminActor,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let readable = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if readable.is_none() {
            return Err(Error::Unauthorized("missing admin token".into()).into());
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            Error::Unauthorized("the Authorization header must be Bearer <admin token>".into())
        })?;
        let AuthenticatedAdmin { principal, actor } =
            state.engine.authenticate_admin(token).await?;
        Ok(Admin { principal, actor })
    }
}

/// The server-level admin (creates and deletes organizations).
pub struct ServerAdmin {
    pub actor: AdminActor,
}

impl FromRequestParts<AppState> for ServerAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Admin { principal, actor } = Admin::from_request_parts(parts, state).await?;
        principal.ensure_server()?;
        Ok(ServerAdmin { actor })
    }
}

/// An admin allowed to manage the organization named by the route's `{org}`: its own admin or the
/// server admin. Checked before the body is read. A segment that names no organization gets only the
/// server admin past (its own admin manages another one), to be told by the handler that it does
/// not exist.
pub struct OrgAdmin {
    pub org: OrgPath,
    pub actor: AdminActor,
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Admin { principal, actor } = Admin::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        let org = params
            .iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, value)| OrgPath::from_segment(value.to_owned()))
            .ok_or_else(|| Error::invariant("an organization admin route without {org}"))?;
        principal.ensure_org(org.parsed())?;
        Ok(OrgAdmin { org, actor })
    }
}

/// Which endpoint a form belongs to, for the error that names it.
pub trait FormEndpoint {
    /// "the token request", "the request", …
    const WHAT: &'static str;
}

pub struct AnyRequest;
impl FormEndpoint for AnyRequest {
    const WHAT: &'static str = "the request";
}
pub struct TokenRequestForm;
impl FormEndpoint for TokenRequestForm {
    const WHAT: &'static str = "the token request";
}
pub struct RevocationForm;
impl FormEndpoint for RevocationForm {
    const WHAT: &'static str = "the revocation request";
}
pub struct IntrospectionForm;
impl FormEndpoint for IntrospectionForm {
    const WHAT: &'static str = "the introspection request";
}

/// An `application/x-www-form-urlencoded` body of at most [`MAX_FORM_BYTES`], parsed.
pub struct Form<E = AnyRequest>(pub Params, pub PhantomData<E>);

impl<E> Form<E> {
    pub fn into_params(self) -> Params {
        self.0
    }
}

impl<S: Send + Sync, E: FormEndpoint> FromRequest<S> for Form<E> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        if !crate::routes::is_form(request.headers()) {
            return Err(OAuthError::invalid_request(format!(
                "{} must be application/x-www-form-urlencoded",
                E::WHAT
            ))
            .into());
        }
        let bytes = crate::routes::read_body(request.into_body(), MAX_FORM_BYTES).await?;
        Ok(Form(Params::parse(&bytes)?, PhantomData))
    }
}

//! The protocol policy layer: every FAPI 2.0 / OAuth rule that decides whether a request or a
//! registration is acceptable lives here, one module per rule family, as data and small pure
//! functions with an accept and a reject test beside each. Flows call these; they never restate a
//! rule themselves. `ARCHITECTURE.md` ("Where each FAPI rule lives") maps rules to modules.

pub mod algorithms;
pub mod audience;
pub mod authorization_details;
pub mod claims;
pub mod client_assertion;
pub mod dpop;
pub mod grant_types;
pub mod lifetimes;
pub mod login;
pub mod pkce;
pub mod prompt;
pub mod redirect_uri;
pub mod registration;
pub mod request_object;
pub mod request_params;
pub mod response;
pub mod scope;

// The names flows use most, at `policy::` directly.
pub use algorithms::{ADVERTISED_ALGORITHMS, FAPI_ALGORITHMS, fapi_algorithm, signing_algorithm};
pub use audience::{assertion_audience_accepted, resolve_audience};
pub use authorization_details::{MAX_AUTHORIZATION_DETAILS, check_authorization_details};
pub use claims::SUPPORTED_CLAIMS;
pub use client_assertion::CLIENT_ASSERTION_TYPE_JWT_BEARER;
pub use dpop::{DPOP_MAX_AGE_SECS, MAX_FUTURE_SKEW_SECS, MAX_JTI_LEN, MAX_JWT_LEN, not_in_future};
pub use grant_types::{REGISTRABLE_GRANT_TYPES, SERVED_GRANT_TYPES};
pub use lifetimes::*;
pub use prompt::authentication_fresh_enough;
pub use registration::allowed_auth_methods;
pub use request_object::{REQUEST_OBJECT_TYP, check_request_object_claims};
pub use scope::{OIDC_SCOPES, check_client_credentials_scope, valid_scope_token};

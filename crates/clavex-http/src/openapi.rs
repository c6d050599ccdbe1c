//! The Admin API's OpenAPI 3.1 document, served at `/api/v1/openapi.json`.
//!
//! Written as data rather than derived: the admin handlers take JSON documents whose rules live in the
//! engine (RFC 7591 metadata), so the schemas here describe the wire format, and a test checks that
//! every admin route is documented.

use serde_json::{Value, json};

fn op(summary: &str, tag: &str, ok: &str, body: Option<&str>) -> Value {
    let mut op = json!({
        "summary": summary,
        "tags": [tag],
        "security": [{"adminToken": []}],
        "responses": {
            ok: {"description": "success"},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"}
        }
    });
    if let (Some(schema), Some(obj)) = (body, op.as_object_mut()) {
        obj.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
        );
    }
    op
}

#[cfg(test)]
const DOCUMENTED_PATHS: [&str; 9] = [
    "/api/v1/organizations",
    "/api/v1/organizations/{org}",
    "/api/v1/organizations/{org}/clients",
    "/api/v1/organizations/{org}/clients/{client_id}",
    "/api/v1/organizations/{org}/users",
    "/api/v1/organizations/{org}/users/{user_id}",
    "/api/v1/organizations/{org}/keys",
    "/api/v1/organizations/{org}/keys/rotate",
    "/api/v1/organizations/{org}/initial-access-tokens",
];

pub fn document() -> Value {
    let org = json!({"name": "org", "in": "path", "required": true, "schema": {"type": "string"}});
    let client_id =
        json!({"name": "client_id", "in": "path", "required": true, "schema": {"type": "string"}});
    let user_id =
        json!({"name": "user_id", "in": "path", "required": true, "schema": {"type": "string"}});
    let mut initial_access_token = op(
        "Issue an initial access token for dynamic client registration (RFC 7591 §3); answers {\"token\", \"expires_at\", \"multi_use\"}, the token shown once",
        "dynamic registration",
        "201",
        Some("InitialAccessTokenRequest"),
    );
    // The body is optional: `{}` or none gives a single-use token valid for a day.
    initial_access_token["requestBody"]["required"] = json!(false);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Clavex Admin API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Manage organizations, FAPI 2.0 clients, users and signing keys. Authenticate with `Authorization: Bearer <admin token>`: an organization's token manages only that organization; the server admin token may create organizations."},
        "paths": {
            "/api/v1/organizations": {
                "get": op("List organizations (the caller's own, or all for the server admin)", "organizations", "200", None),
                "post": op("Create an organization with its signing keys; returns its admin token once", "organizations", "201", Some("OrganizationCreate"))
            },
            "/api/v1/organizations/{org}": {
                "parameters": [org],
                "get": op("Get an organization", "organizations", "200", None),
                "patch": op("Change display name or settings", "organizations", "200", Some("OrganizationPatch")),
                "delete": op("Delete an organization and everything it owns (server admin)", "organizations", "204", None)
            },
            "/api/v1/organizations/{org}/clients": {
                "parameters": [org],
                "get": op("List clients", "clients", "200", None),
                "post": op("Register a FAPI 2.0 client", "clients", "201", Some("ClientMetadata"))
            },
            "/api/v1/organizations/{org}/clients/{client_id}": {
                "parameters": [org, client_id],
                "get": op("Get a client", "clients", "200", None),
                "put": op("Replace a client's metadata", "clients", "200", Some("ClientMetadata")),
                "patch": op("Change some of a client's metadata", "clients", "200", Some("ClientMetadata")),
                "delete": op("Delete a client", "clients", "204", None)
            },
            "/api/v1/organizations/{org}/users": {
                "parameters": [org],
                "get": op("List users", "users", "200", None),
                "post": op("Create a user", "users", "201", Some("User"))
            },
            "/api/v1/organizations/{org}/users/{user_id}": {
                "parameters": [org, user_id],
                "get": op("Get a user", "users", "200", None),
                "patch": op("Change a user", "users", "200", Some("User")),
                "delete": op("Delete a user", "users", "204", None)
            },
            "/api/v1/organizations/{org}/keys": {
                "parameters": [org],
                "get": op("List signing keys (public parts only)", "keys", "200", None)
            },
            "/api/v1/organizations/{org}/keys/rotate": {
                "parameters": [org],
                "post": op("Rotate the signing key of one algorithm, or of all", "keys", "200", Some("KeyRotation"))
            },
            "/api/v1/organizations/{org}/initial-access-tokens": {
                "parameters": [org],
                "post": initial_access_token
            }
        },
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}},
                "OrganizationCreate": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
                    "display_name": {"type": "string"},
                    "settings": {"$ref": "#/components/schemas/OrganizationSettings"}}},
                "OrganizationPatch": {"allOf": [{"$ref": "#/components/schemas/OrganizationSettings"}, {"type": "object", "properties": {"display_name": {"type": "string"}}}]},
                "OrganizationSettings": {"type": "object", "properties": {
                    "profile": {"type": "string", "enum": ["fapi2"]},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                    "authorization_details_types": {"type": "array", "items": {"type": "string"}, "default": ["payment_initiation", "account_information"]},
                    "default_audience": {"type": "string", "format": "uri"},
                    "resources": {"type": "array", "items": {"type": "string", "format": "uri"}},
                    "access_token_lifetime": {"type": "integer", "minimum": 30, "maximum": 86400},
                    "dpop_nonce_required": {"type": "boolean"},
                    "accept_legacy_assertion_audience": {"type": "boolean"},
                    "dynamic_registration": {"type": "string", "enum": ["disabled", "open", "initial_access_token"], "default": "initial_access_token"}}},
                "ClientMetadata": {"type": "object", "properties": {
                    "client_id": {"type": "string"},
                    "client_name": {"type": "string"},
                    "redirect_uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
                    "grant_types": {"type": "array", "items": {"type": "string", "enum": ["authorization_code", "refresh_token", "client_credentials"]}},
                    "response_types": {"type": "array", "items": {"type": "string", "enum": ["code"]}},
                    "token_endpoint_auth_method": {"type": "string", "enum": ["private_key_jwt"]},
                    "token_endpoint_auth_signing_alg": {"type": "string", "enum": ["PS256", "ES256", "EdDSA", "Ed25519"]},
                    "jwks": {"type": "object"},
                    "jwks_uri": {"type": "string", "format": "uri"},
                    "scope": {"type": "string"},
                    "require_pushed_authorization_requests": {"type": "boolean"},
                    "require_dpop": {"type": "boolean"},
                    "dpop_bound_access_tokens": {"type": "boolean"},
                    "authorization_signed_response_alg": {"type": "string", "enum": ["PS256", "ES256", "EdDSA", "Ed25519"]},
                    "id_token_signed_response_alg": {"type": "string", "enum": ["PS256", "ES256", "EdDSA", "Ed25519"]},
                    "require_signed_request_object": {"type": "boolean", "default": false},
                    "request_object_signing_alg": {"type": "string", "enum": ["PS256", "ES256", "EdDSA", "Ed25519"]}}},
                "User": {"type": "object", "properties": {
                    "username": {"type": "string"}, "password": {"type": "string", "writeOnly": true, "minLength": 8},
                    "email": {"type": "string"}, "given_name": {"type": "string"}, "family_name": {"type": "string"},
                    "name": {"type": "string"}, "preferred_username": {"type": "string"}, "phone_number": {"type": "string"},
                    "birthdate": {"type": "string"}, "locale": {"type": "string"}}},
                "KeyRotation": {"type": "object", "properties": {"alg": {"type": "string", "enum": ["ES256", "PS256", "EdDSA"]}}},
                "InitialAccessTokenRequest": {"type": "object", "properties": {
                    "expires_in": {"type": "integer", "minimum": 60, "maximum": 7776000, "default": 86400},
                    "multi_use": {"type": "boolean", "default": false}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_admin_route_is_documented() {
        let doc = document();
        for path in DOCUMENTED_PATHS {
            assert!(
                doc["paths"].get(path).is_some(),
                "{path} missing from openapi.json"
            );
        }
        let source = [
            include_str!("routes/admin/orgs.rs"),
            include_str!("routes/admin/clients.rs"),
            include_str!("routes/admin/users.rs"),
            include_str!("routes/admin/keys.rs"),
            include_str!("routes/admin/initial_access_tokens.rs"),
        ]
        .concat();
        // Formatting may break `.route(` and its path over lines, so compare without whitespace.
        let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        let routed = compact.matches(".route(\"/api/v1/organizations").count();
        assert_eq!(
            routed,
            DOCUMENTED_PATHS.len(),
            "a route was added without documenting it"
        );
    }
}

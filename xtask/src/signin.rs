//! Set-up of the load generator's client and, for the flow scenario, of a signed-in browser
//! session: the benchmark then measures "a returning user whose consent is remembered", the common
//! case of a FAPI code flow, without the one-time login and consent pages.
//!
//! The set-up walks the real interaction as a browser would (PAR, authorize, login form with its
//! CSRF field, consent form), so a change to those pages that breaks the flow shows up here too.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// A browser without a cookie store of its own: it keeps every cookie it is given, whatever its
/// attributes, since the node may run on plain http on a loopback address.
pub struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// An answer read whole.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub text: String,
}

impl Browser {
    pub fn new() -> Result<Browser> {
        Ok(Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the set-up HTTP client")?,
            cookies: BTreeMap::new(),
        })
    }

    /// The `Cookie` header carrying every cookie received so far.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<Page> {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, self.cookie_header())
        };
        let response = request.send().await?;
        for line in response.headers().get_all(SET_COOKIE) {
            let Ok(line) = line.to_str() else { continue };
            let pair = line.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        Ok(Page {
            status,
            location,
            text,
        })
    }

    pub async fn get(&mut self, url: &str) -> Result<Page> {
        let request = self.http.get(url);
        self.send(request).await
    }

    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Result<Page> {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Registers the benchmark client (`private_key_jwt` with `jwks`, code flow and
/// client_credentials, DPoP-bound) with the organization's admin token; returns its `client_id`.
pub async fn register_client(
    base: &str,
    org: &str,
    admin_token: &str,
    jwks: Value,
    redirect_uri: &str,
) -> Result<String> {
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/organizations/{org}/clients");
    let response = http
        .post(&url)
        .bearer_auth(admin_token)
        .json(&json!({
            "client_name": "loadgen",
            "grant_types": ["authorization_code", "client_credentials"],
            "response_types": ["code"],
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
        }))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.as_u16() != 201 {
        bail!("client registration answered {status}: {text}");
    }
    let body: Value = serde_json::from_str(&text).context("client registration answer")?;
    body["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("client registration answer has no client_id: {text}"))
}

/// Creates a user (random name and password) with the admin token; returns (username, password).
pub async fn create_user(base: &str, org: &str, admin_token: &str) -> Result<(String, String)> {
    let username = format!("loadgen-{}", clavex_jose::random_token(6)).to_lowercase();
    let password = clavex_jose::random_token(18);
    let url = format!("{base}/api/v1/organizations/{org}/users");
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(admin_token)
        .json(&json!({"username": username, "password": password, "email": format!("{username}@example.com")}))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    if status.as_u16() != 201 {
        let text = response.text().await.unwrap_or_default();
        bail!("creating the benchmark user answered {status}: {text}");
    }
    Ok((username, password))
}

/// Opens `authorize_url` in `browser`, signs in as `username` and approves the consent page;
/// succeeds when the node redirects to `redirect_uri` with a code. Afterwards the browser holds a
/// session, and the user's consent for the client is remembered.
pub async fn sign_in_and_consent(
    browser: &mut Browser,
    base: &str,
    authorize_url: &str,
    redirect_uri: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    let mut page = browser.get(authorize_url).await?;
    // Login page, consent page, then the authorization response; a few redirects at most.
    for _ in 0..6 {
        if page.status == 303 || page.status == 302 {
            let location = page
                .location
                .clone()
                .ok_or_else(|| anyhow!("redirect without Location"))?;
            if location.starts_with(redirect_uri) {
                if location.contains("code=") {
                    return Ok(());
                }
                bail!("the authorization ended with an error: {location}");
            }
            let url = absolute(base, &location);
            page = browser.get(&url).await?;
            continue;
        }
        if page.status != 200 {
            bail!("interaction answered {}: {}", page.status, page.text);
        }
        let action = form_action(&page.text)
            .ok_or_else(|| anyhow!("interaction page without a form: {}", page.text))?;
        let url = absolute(base, &action);
        let field = |name: &str| {
            hidden_field(&page.text, name)
                .ok_or_else(|| anyhow!("interaction page without the {name} field"))
        };
        let (client_id, request_uri, csrf) =
            (field("client_id")?, field("request_uri")?, field("csrf")?);
        let common = [
            ("client_id", client_id.as_str()),
            ("request_uri", request_uri.as_str()),
            ("csrf", csrf.as_str()),
        ];
        page = if page.text.contains("id=\"password\"") {
            let mut form = common.to_vec();
            form.extend([
                ("username", username),
                ("password", password),
                ("action", "login"),
            ]);
            browser.post_form(&url, &form).await?
        } else if page.text.contains("id=\"approve\"") {
            let mut form = common.to_vec();
            form.push(("action", "approve"));
            browser.post_form(&url, &form).await?
        } else {
            bail!("neither a login nor a consent page: {}", page.text);
        };
    }
    bail!("the interaction did not end in an authorization response")
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    // Origin-relative: keep the scheme and authority of the base URL.
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    format!("{}{location}", &base[..origin_end])
}

/// The `action` attribute of the page's form.
fn form_action(html: &str) -> Option<String> {
    let marker = "<form method=\"post\" action=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html_unescape(&html[start..end]))
}

/// The value of a hidden form field.
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html_unescape(&html[start..end]))
}

/// Undoes the template engine's HTML escaping (named and numeric character references).
fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_references_are_decoded() {
        assert_eq!(
            html_unescape("urn&#x3a;a&#58;b &amp; &quot;c&quot; &bogus x&"),
            "urn:a:b & \"c\" &bogus x&"
        );
    }

    #[test]
    fn relative_locations_keep_the_origin() {
        assert_eq!(
            absolute("http://127.0.0.1:1/x", "/acme/consent"),
            "http://127.0.0.1:1/acme/consent"
        );
        assert_eq!(absolute("http://h:1", "https://e/cb"), "https://e/cb");
    }
}

//! The browser side: a cookie-keeping client that does not follow redirects, requests with
//! hand-made cookies, and reading the pages and cookies the node sends back.

use crate::Answer;

/// A browser: keeps cookies, does not follow redirects (tests inspect them).
pub struct Browser {
    pub http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        Browser { http }
    }

    pub async fn get(&self, url: &str) -> Answer {
        Answer::from(self.http.get(url).send().await.expect("browser GET")).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        Answer::from(
            self.http
                .post(url)
                .form(form)
                .send()
                .await
                .expect("browser POST"),
        )
        .await
    }

    /// A browser whose connections come from `ip` (any 127.0.0.0/8 address reaches the node on
    /// Linux): login throttling counts per address.
    pub fn from_address(ip: &str) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(ip.parse::<std::net::IpAddr>().expect("ip address"))
            .build()
            .expect("browser");
        Browser { http }
    }

    /// A POST with a raw body and content type (garbage tests).
    pub async fn post_raw(&self, url: &str, content_type: &str, body: &str) -> Answer {
        Answer::from(
            self.http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_owned())
                .send()
                .await
                .expect("browser POST"),
        )
        .await
    }
}

/// A request made with exactly these cookies (no cookie store): transplanted or forged cookies.
pub async fn get_with_cookies(url: &str, cookies: &str) -> Answer {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Answer::from(
        http.get(url)
            .header(reqwest::header::COOKIE, cookies)
            .send()
            .await
            .expect("GET with cookies"),
    )
    .await
}

/// A form POST made with exactly these cookies (no cookie store).
pub async fn post_with_cookies(url: &str, cookies: &str, form: &[(&str, &str)]) -> Answer {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Answer::from(
        http.post(url)
            .header(reqwest::header::COOKIE, cookies)
            .form(form)
            .send()
            .await
            .expect("POST with cookies"),
    )
    .await
}

/// The value of a hidden form field in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2b;", "+")
            .replace("&#43;", "+")
            .replace("&amp;", "&")
            .replace("&#x3a;", ":")
            .replace("&#58;", ":"),
    )
}

/// The `action` attribute of the page's (only) form.
pub fn form_action(html: &str) -> Option<String> {
    let marker = "<form method=\"post\" action=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The value of `name` in `Set-Cookie` headers, with the whole header line.
pub fn set_cookie_line<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| line.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` header gives to cookie `name`.
pub fn set_cookie_value(answer: &Answer, name: &str) -> Option<String> {
    let line = set_cookie_line(answer, name)?;
    let rest = &line[name.len() + 1..];
    Some(rest.split(';').next().unwrap_or("").to_owned())
}

/// Cookie names on a plain-http test node (no `__Host-` prefix there).
pub const BROWSER_COOKIE: &str = "clavex_browser";

pub fn session_cookie(org: &str) -> String {
    format!("clavex_session_{org}")
}

//! Database URLs: parsing, Neon's host rules and redaction.
//!
//! A [`DatabaseUrl`] keeps the full connection string (password included) behind
//! [`secrecy`], and shows only a redacted form in `Debug`, `Display`, errors and logs.
//! The Neon rules are pure functions so they can be tested without a network.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use url::Url;

/// Which driver a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Why a database URL was refused. Messages never contain the URL or its password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("is not a valid URL ({0})")]
    Malformed(url::ParseError),
    #[error("has scheme `{0}`; use postgresql://, postgres:// or sqlite:")]
    UnsupportedScheme(String),
    #[error("has no host")]
    MissingHost,
    #[error("has sslmode={0}, which is not a valid sslmode")]
    UnknownSslMode(String),
    #[error(
        "points at a Neon host with sslmode=disable; Neon accepts only TLS connections \
         (use sslmode=require or verify-full)"
    )]
    NeonWithoutTls,
}

/// A connection string whose secret parts never reach a log line.
#[derive(Clone)]
pub struct DatabaseUrl {
    secret: SecretString,
    redacted: String,
    backend: Backend,
    host: Option<String>,
    username: String,
    database: Option<String>,
}

impl DatabaseUrl {
    /// Parses and normalises a URL, applying Neon's rules to `*.neon.tech` hosts.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let mut url = Url::parse(raw.trim()).map_err(UrlError::Malformed)?;
        let backend = match url.scheme() {
            "postgres" | "postgresql" => Backend::Postgres,
            "sqlite" => Backend::Sqlite,
            other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
        };
        if backend == Backend::Postgres {
            let host = url.host_str().filter(|h| !h.is_empty()).ok_or(UrlError::MissingHost)?;
            if is_neon_host(host) {
                apply_neon_tls_rule(&mut url)?;
            } else if let Some(mode) = ssl_mode(&url) {
                validate_ssl_mode(&mode)?;
            }
        }
        Ok(Self::from_url(&url, backend))
    }

    fn from_url(url: &Url, backend: Backend) -> Self {
        let database = match backend {
            Backend::Postgres => url.path().strip_prefix('/').filter(|db| !db.is_empty()).map(percent_decode),
            Backend::Sqlite => Some(url.path().to_owned()),
        };
        Self {
            secret: SecretString::from(url.as_str().to_owned()),
            redacted: redact(url),
            backend,
            host: url.host_str().map(str::to_owned),
            username: percent_decode(url.username()),
            database,
        }
    }

    /// The full connection string, for handing to the driver and nothing else.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The user name the URL logs in as (empty when the URL names none).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The database name (PostgreSQL) or file path (SQLite).
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// True for a Neon pooler endpoint (`ep-...-pooler.<region>.neon.tech`).
    pub fn is_neon_pooler(&self) -> bool {
        self.host().is_some_and(|h| is_neon_host(h) && is_neon_pooler_host(h))
    }

    /// The same server and credentials, another database (used by tests and tooling).
    pub fn with_database(&self, database: &str) -> Self {
        let mut url = Url::parse(self.expose()).expect("a DatabaseUrl always holds a valid URL");
        url.set_path(&format!("/{database}"));
        Self::from_url(&url, self.backend)
    }

    /// The connection string with the password and any `password` parameter masked.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// True for hosts of Neon's cloud (`*.neon.tech`).
pub fn is_neon_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "neon.tech" || host.ends_with(".neon.tech")
}

/// True when the endpoint label (the host's first label) ends in `-pooler`, Neon's marker for
/// the PgBouncer endpoint of a branch.
pub fn is_neon_pooler_host(host: &str) -> bool {
    host.split('.').next().is_some_and(|label| label.to_ascii_lowercase().ends_with("-pooler"))
}

/// Neon accepts only TLS: a URL without `sslmode` gets `sslmode=require` (libpq's default,
/// `prefer`, would allow a silent downgrade), and `sslmode=disable` is refused.
pub fn apply_neon_tls_rule(url: &mut Url) -> Result<(), UrlError> {
    match ssl_mode(url) {
        None => {
            url.query_pairs_mut().append_pair("sslmode", "require");
            Ok(())
        }
        Some(mode) if mode == "disable" => Err(UrlError::NeonWithoutTls),
        Some(mode) => validate_ssl_mode(&mode),
    }
}

fn ssl_mode(url: &Url) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == "sslmode" || k == "ssl-mode").map(|(_, v)| v.to_ascii_lowercase())
}

fn validate_ssl_mode(mode: &str) -> Result<(), UrlError> {
    match mode {
        "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full" => Ok(()),
        other => Err(UrlError::UnknownSslMode(other.to_owned())),
    }
}

fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if !shown.password().unwrap_or_default().is_empty() {
        // Setting a password only fails for URLs that cannot have one, which have none.
        let _ = shown.set_password(Some("***"));
    }
    if shown.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neon_host_without_sslmode_gets_sslmode_require() {
        let url = DatabaseUrl::parse("postgresql://u:pw@ep-cool-1234.us-east-2.aws.neon.tech/neondb").expect("valid");
        assert!(url.expose().ends_with("/neondb?sslmode=require"), "{}", url.redacted());
    }

    #[test]
    fn a_neon_host_keeps_an_explicit_sslmode() {
        let url =
            DatabaseUrl::parse("postgresql://u:pw@ep-cool-1234.us-east-2.aws.neon.tech/neondb?sslmode=verify-full")
                .expect("valid");
        assert!(url.expose().ends_with("?sslmode=verify-full"));
    }

    #[test]
    fn a_neon_host_with_sslmode_disable_is_refused() {
        let err = DatabaseUrl::parse("postgres://u:pw@ep-x-1.eu-central-1.aws.neon.tech/db?sslmode=disable")
            .expect_err("refused");
        assert_eq!(err, UrlError::NeonWithoutTls);
        assert!(!err.to_string().contains("pw"));
    }

    #[test]
    fn other_hosts_keep_their_sslmode_and_get_none_added() {
        let url = DatabaseUrl::parse("postgres://u:pw@localhost:5432/db").expect("valid");
        assert_eq!(url.expose(), "postgres://u:pw@localhost:5432/db");
        let url = DatabaseUrl::parse("postgres://u:pw@localhost/db?sslmode=disable").expect("valid");
        assert!(url.expose().ends_with("sslmode=disable"));
    }

    #[test]
    fn an_unknown_sslmode_is_refused() {
        let err = DatabaseUrl::parse("postgres://u:pw@localhost/db?sslmode=always").expect_err("refused");
        assert_eq!(err, UrlError::UnknownSslMode("always".into()));
    }

    #[test]
    fn neon_hosts_are_recognised_by_domain_only() {
        assert!(is_neon_host("ep-cool-1234.us-east-2.aws.neon.tech"));
        assert!(is_neon_host("EP-COOL-1234.US-EAST-2.AWS.NEON.TECH."));
        assert!(!is_neon_host("neon.tech.example.com"));
        assert!(!is_neon_host("notneon.tech"));
        assert!(!is_neon_host("localhost"));
    }

    #[test]
    fn pooler_endpoints_are_recognised_by_their_first_label() {
        assert!(is_neon_pooler_host("ep-cool-1234-pooler.us-east-2.aws.neon.tech"));
        assert!(!is_neon_pooler_host("ep-cool-1234.us-east-2.aws.neon.tech"));
        assert!(!is_neon_pooler_host("ep-cool-1234.pooler-us.aws.neon.tech"));
        let url = DatabaseUrl::parse("postgresql://u:pw@ep-a-1-pooler.us-east-2.aws.neon.tech/db").expect("valid");
        assert!(url.is_neon_pooler());
    }

    #[test]
    fn debug_display_and_redacted_hide_the_password() {
        let url =
            DatabaseUrl::parse("postgresql://alice:s3cr%40t@db.example.com:5432/app?sslmode=require").expect("valid");
        for shown in [format!("{url:?}"), url.to_string(), url.redacted().to_owned()] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("alice:***@db.example.com"), "{shown}");
        }
        assert_eq!(url.username(), "alice");
        assert_eq!(url.database(), Some("app"));
    }

    #[test]
    fn a_password_query_parameter_is_redacted_too() {
        let url = DatabaseUrl::parse("postgres://db.example.com/app?user=bob&password=hunter2").expect("valid");
        assert!(!url.redacted().contains("hunter2"));
        assert!(url.expose().contains("hunter2"));
    }

    #[test]
    fn malformed_urls_are_refused_without_echoing_them() {
        let err = DatabaseUrl::parse("not a url with pw=topsecret").expect_err("refused");
        assert!(!err.to_string().contains("topsecret"));
        let err = DatabaseUrl::parse("mysql://u:topsecret@h/db").expect_err("refused");
        assert_eq!(err, UrlError::UnsupportedScheme("mysql".into()));
    }

    #[test]
    fn with_database_swaps_only_the_database() {
        let url = DatabaseUrl::parse("postgresql://u:pw@h:1/one?sslmode=require").expect("valid");
        let other = url.with_database("two");
        assert_eq!(other.expose(), "postgresql://u:pw@h:1/two?sslmode=require");
        assert_eq!(other.database(), Some("two"));
    }
}

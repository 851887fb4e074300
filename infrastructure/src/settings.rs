//! Layered settings: the environment, then `.env`, then `config/{APP_ENV}.toml`, then
//! `config/default.toml` (first wins). Variable names are the ones of the API contract.
//!
//! Settings are built once in `main` and passed down; nothing reads them from a global, so
//! tests build their own with [`Settings::from_vars`]. Secrets (`DATABASE_URL`,
//! `DATABASE_URL_POOLED`, `JWT_SECRET`) are held as secret types and are redacted in `Debug`
//! and in every error message.

use crate::database::url::{Backend, DatabaseUrl};
use config::{Config, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why settings could not be loaded. Every message names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{variable} {reason}")]
    Invalid { variable: String, reason: String },
    #[error("{variable} must be set when APP_ENV=production")]
    RequiredInProduction { variable: &'static str },
    #[error("configuration file problem: {0}")]
    File(String),
}

impl SettingsError {
    fn invalid(variable: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { variable: variable.into(), reason: reason.into() }
    }
}

/// `APP_ENV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }

    fn parse(value: &str) -> Result<Self, SettingsError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            _ => Err(SettingsError::invalid(
                "APP_ENV",
                format!("is `{value}`; expected development, test or production"),
            )),
        }
    }
}

/// `LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Everything the service is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub app: AppSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
}

/// What one client may cost the service (API.md, "Limits and abuse").
#[derive(Clone, Debug)]
pub struct LimitSettings {
    /// Requests per second each user may make on `/api/v1`; `None` disables the limit.
    pub user: Option<RateLimit>,
    /// Requests per second each client address may make on `/api/v1` without a valid token.
    pub address: Option<RateLimit>,
    /// Peers whose `X-Forwarded-For` names the client (load balancers, reverse proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests in flight on this instance beyond which new ones are refused at once;
    /// `None` disables the bound.
    pub max_in_flight: Option<usize>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Origins browsers may call the API from (CORS); empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// How often expired idempotency keys are purged.
    pub idempotency_purge_interval: Duration,
}

/// A token bucket: `per_second` requests a second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// The shortest `JWT_SECRET` production accepts: 256 bits, as RFC 7518 §3.2 asks of HS256 keys.
pub const MIN_PRODUCTION_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug)]
pub struct AppSettings {
    pub environment: Environment,
    pub host: String,
    pub port: u16,
    pub log_format: LogFormat,
    /// HTTP worker threads; `None` is one per CPU (actix-web's default).
    pub workers: Option<usize>,
    /// How long in-flight requests may run on once the server stops accepting.
    pub shutdown_timeout: Duration,
    /// How long the instance keeps serving after SIGTERM/SIGINT with readiness at 503, so a
    /// load balancer takes it out of rotation first.
    pub drain_delay: Duration,
}

/// Token settings. `Debug` shows whether a secret is set, never the secret.
#[derive(Clone)]
pub struct AuthSettings {
    pub jwt_secret: Option<SecretString>,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.jwt_secret.is_some() { "[REDACTED]" } else { "unset" };
        f.debug_struct("AuthSettings").field("jwt_secret", &shown).finish()
    }
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: the direct endpoint. `None` selects the embedded SQLite file.
    pub url: Option<DatabaseUrl>,
    /// `DATABASE_URL_POOLED`: the transaction-mode pooler for request traffic.
    pub url_pooled: Option<DatabaseUrl>,
    /// `DATABASE_URL_READ`: a read replica (e.g. the pooled endpoint of a Neon read replica)
    /// for reads that do not feed a write.
    pub url_read: Option<DatabaseUrl>,
    /// `DB_REPLICA_WAIT`: how long a write waits for the read replica to replay it at most, and
    /// how old the proof that the replica is caught up may be when a read relies on it.
    pub replica_wait: Duration,
    pub sqlite_path: PathBuf,
    pub pool_max: u32,
    pub pool_min: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    /// `None` means no limit.
    pub statement_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
    pub direct_pool_max: u32,
    pub ping_after_idle: Duration,
    pub slow_statement: Duration,
    pub auto_migrate: bool,
}

impl DatabaseSettings {
    /// The backend requests run against.
    pub fn backend(&self) -> Backend {
        self.url.as_ref().map_or(Backend::Sqlite, DatabaseUrl::backend)
    }

    /// The URL migrations and admin work use: `DATABASE_URL`, or the embedded SQLite file.
    pub fn direct_url(&self) -> Result<DatabaseUrl, SettingsError> {
        match &self.url {
            Some(url) => Ok(url.clone()),
            None => sqlite_url(&self.sqlite_path),
        }
    }

    /// The URL request traffic uses: the pooler when configured, else the direct URL.
    pub fn traffic_url(&self) -> Result<DatabaseUrl, SettingsError> {
        match &self.url_pooled {
            Some(url) => Ok(url.clone()),
            None => self.direct_url(),
        }
    }
}

fn sqlite_url(path: &Path) -> Result<DatabaseUrl, SettingsError> {
    let absolute = std::path::absolute(path)
        .map_err(|e| SettingsError::invalid("database.sqlite_path", format!("cannot be resolved: {e}")))?;
    let url = url::Url::from_file_path(&absolute)
        .map_err(|()| SettingsError::invalid("database.sqlite_path", "is not a usable file path"))?;
    let raw = format!("sqlite://{}?mode=rwc", url.path());
    DatabaseUrl::parse(&raw).map_err(|e| SettingsError::invalid("database.sqlite_path", e.to_string()))
}

/// The environment variables the settings read (besides `APP_ENV` and `APP_CONFIG_DIR`), for
/// help texts that must name every one.
pub fn variable_names() -> impl Iterator<Item = &'static str> {
    VARIABLES.iter().map(|(name, _)| *name)
}

/// Environment variables and the config keys they override.
const VARIABLES: &[(&str, &str)] = &[
    ("APP_HOST", "app.host"),
    ("APP_PORT", "app.port"),
    ("LOG_FORMAT", "app.log_format"),
    ("APP_WORKERS", "app.workers"),
    ("DRAIN_DELAY", "app.drain_delay"),
    ("SHUTDOWN_TIMEOUT", "app.shutdown_timeout"),
    ("JWT_SECRET", "auth.jwt_secret"),
    ("DATABASE_URL", "database.url"),
    ("DATABASE_URL_POOLED", "database.url_pooled"),
    ("DATABASE_URL_READ", "database.url_read"),
    ("DB_REPLICA_WAIT", "database.replica_wait"),
    ("DB_POOL_MAX", "database.pool_max"),
    ("DB_POOL_MIN", "database.pool_min"),
    ("DB_CONNECT_TIMEOUT", "database.connect_timeout"),
    ("DB_ACQUIRE_TIMEOUT", "database.acquire_timeout"),
    ("DB_STATEMENT_TIMEOUT", "database.statement_timeout"),
    ("DB_IDLE_TIMEOUT", "database.idle_timeout"),
    ("DB_MAX_LIFETIME", "database.max_lifetime"),
    ("RATE_LIMIT_USER", "limits.rate_user"),
    ("RATE_LIMIT_USER_BURST", "limits.rate_user_burst"),
    ("RATE_LIMIT_ADDRESS", "limits.rate_address"),
    ("RATE_LIMIT_ADDRESS_BURST", "limits.rate_address_burst"),
    ("TRUSTED_PROXIES", "limits.trusted_proxies"),
    ("MAX_IN_FLIGHT", "limits.max_in_flight"),
    ("BODY_TIMEOUT", "limits.body_timeout"),
    ("CORS_ALLOWED_ORIGINS", "limits.cors_allowed_origins"),
];

/// Keys that may only come from the config files.
const FILE_ONLY_KEYS: &[&str] = &[
    "database.sqlite_path",
    "database.direct_pool_max",
    "database.ping_after_idle",
    "database.slow_statement_ms",
    "database.auto_migrate",
    "limits.idempotency_purge_interval",
];

/// Keys whose values are secret: their errors never quote the value.
const SECRET_KEYS: &[&str] = &["auth.jwt_secret", "database.url", "database.url_pooled", "database.url_read"];

/// The config files compiled into the binary, used when no `config/` directory is found.
const EMBEDDED: &[(&str, &str)] = &[
    ("default", include_str!("../../config/default.toml")),
    ("development", include_str!("../../config/development.toml")),
    ("test", include_str!("../../config/test.toml")),
    ("production", include_str!("../../config/production.toml")),
];

/// Where the config files come from.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    /// A directory holding `default.toml` and `{APP_ENV}.toml`.
    Directory(PathBuf),
    /// The copies compiled into the binary.
    Embedded,
}

impl ConfigSource {
    /// `APP_CONFIG_DIR` when set, else `./config` when it exists, else the embedded copies.
    fn locate(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        if let Some(dir) = vars.get("APP_CONFIG_DIR").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if !dir.join("default.toml").is_file() {
                return Err(SettingsError::invalid(
                    "APP_CONFIG_DIR",
                    format!("is {}, which holds no default.toml", dir.display()),
                ));
            }
            return Ok(Self::Directory(dir));
        }
        let local = PathBuf::from("config");
        if local.join("default.toml").is_file() {
            return Ok(Self::Directory(local));
        }
        Ok(Self::Embedded)
    }
}

impl Settings {
    /// Loads settings for the running process: its environment, then `.env` in the working
    /// directory or a parent (without modifying the process environment), then config files.
    pub fn load() -> Result<Self, SettingsError> {
        let dotenv = dotenvy::dotenv_iter().ok();
        Self::load_layers(std::env::vars(), dotenv)
    }

    /// The environment over the `.env` entries, over the config files.
    fn load_layers(
        environment: impl IntoIterator<Item = (String, String)>,
        dotenv: Option<impl IntoIterator<Item = dotenvy::Result<(String, String)>>>,
    ) -> Result<Self, SettingsError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        for item in dotenv.into_iter().flatten() {
            let (key, value) = item.map_err(|e| SettingsError::File(format!(".env: {e}")))?;
            vars.insert(key, value);
        }
        vars.extend(environment);
        Self::from_vars(&vars)
    }

    /// Builds settings from an explicit set of variables (tests use this).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let var = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let environment = var("APP_ENV").map_or(Ok(Environment::Development), Environment::parse)?;
        let source = ConfigSource::locate(vars)?;
        let config = build_config(&source, environment, vars)?;
        reject_unknown_keys(&config)?;

        let settings = Settings {
            app: AppSettings {
                environment,
                host: get::<String>(&config, "app.host")?,
                port: get::<u16>(&config, "app.port")?,
                log_format: match get::<String>(&config, "app.log_format")?.to_ascii_lowercase().as_str() {
                    "pretty" => LogFormat::Pretty,
                    "json" => LogFormat::Json,
                    other => {
                        return Err(SettingsError::invalid(
                            variable_for("app.log_format"),
                            format!("is `{other}`; expected pretty or json"),
                        ));
                    }
                },
                workers: workers(&config)?,
                shutdown_timeout: Duration::from_secs_f64(seconds(&config, "app.shutdown_timeout")?),
                drain_delay: Duration::from_secs_f64(seconds(&config, "app.drain_delay")?),
            },
            auth: AuthSettings {
                jwt_secret: optional::<String>(&config, "auth.jwt_secret")?
                    .filter(|s| !s.is_empty())
                    .map(SecretString::from),
            },
            database: DatabaseSettings {
                url: optional_url(&config, "database.url")?,
                url_pooled: optional_url(&config, "database.url_pooled")?,
                url_read: optional_url(&config, "database.url_read")?,
                replica_wait: positive_seconds(&config, "database.replica_wait")?,
                sqlite_path: PathBuf::from(get::<String>(&config, "database.sqlite_path")?),
                pool_max: get::<u32>(&config, "database.pool_max")?,
                pool_min: get::<u32>(&config, "database.pool_min")?,
                connect_timeout: positive_seconds(&config, "database.connect_timeout")?,
                acquire_timeout: positive_seconds(&config, "database.acquire_timeout")?,
                statement_timeout: seconds_or_never(&config, "database.statement_timeout")?,
                idle_timeout: seconds_or_never(&config, "database.idle_timeout")?,
                max_lifetime: seconds_or_never(&config, "database.max_lifetime")?,
                direct_pool_max: get::<u32>(&config, "database.direct_pool_max")?,
                ping_after_idle: Duration::from_secs_f64(seconds(&config, "database.ping_after_idle")?),
                slow_statement: Duration::from_millis(get::<u64>(&config, "database.slow_statement_ms")?),
                auto_migrate: get::<bool>(&config, "database.auto_migrate")?,
            },
            limits: LimitSettings {
                user: rate_limit(&config, "limits.rate_user", "limits.rate_user_burst")?,
                address: rate_limit(&config, "limits.rate_address", "limits.rate_address_burst")?,
                trusted_proxies: trusted_proxies(&config)?,
                max_in_flight: match get::<u32>(&config, "limits.max_in_flight")? {
                    0 => None,
                    n => Some(n as usize),
                },
                body_timeout: positive_seconds(&config, "limits.body_timeout")?,
                cors_allowed_origins: cors_origins(&config)?,
                idempotency_purge_interval: positive_seconds(&config, "limits.idempotency_purge_interval")?,
            },
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let db = &self.database;
        if db.pool_max == 0 {
            return Err(SettingsError::invalid("DB_POOL_MAX", "must be at least 1"));
        }
        if db.pool_min > db.pool_max {
            return Err(SettingsError::invalid(
                "DB_POOL_MIN",
                format!("({}) must not exceed DB_POOL_MAX ({})", db.pool_min, db.pool_max),
            ));
        }
        if db.direct_pool_max == 0 {
            return Err(SettingsError::invalid("database.direct_pool_max", "must be at least 1"));
        }
        if let Some(url) = &db.url
            && url.is_neon_pooler()
        {
            return Err(SettingsError::invalid(
                "DATABASE_URL",
                format!(
                    "points at Neon's pooler ({}); it must be the direct endpoint, because \
                         migrations need session state. Put the -pooler host in DATABASE_URL_POOLED",
                    url.host().unwrap_or_default()
                ),
            ));
        }
        if let Some(pooled) = &db.url_pooled {
            match &db.url {
                None => {
                    return Err(SettingsError::invalid(
                        "DATABASE_URL_POOLED",
                        "is set but DATABASE_URL is not; migrations need the direct endpoint",
                    ));
                }
                Some(direct) if direct.backend() != Backend::Postgres || pooled.backend() != Backend::Postgres => {
                    return Err(SettingsError::invalid(
                        "DATABASE_URL_POOLED",
                        "is only for PostgreSQL; both URLs must be postgresql:// URLs",
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(read) = &db.url_read {
            match &db.url {
                Some(direct) if direct.backend() == Backend::Postgres && read.backend() == Backend::Postgres => {}
                _ => {
                    return Err(SettingsError::invalid(
                        "DATABASE_URL_READ",
                        "is a PostgreSQL read replica; it needs DATABASE_URL, and both must be postgresql:// URLs",
                    ));
                }
            }
        }
        if self.app.environment == Environment::Production {
            if db.url.is_none() {
                return Err(SettingsError::RequiredInProduction { variable: "DATABASE_URL" });
            }
            match &self.auth.jwt_secret {
                None => return Err(SettingsError::RequiredInProduction { variable: "JWT_SECRET" }),
                Some(secret) if secret.expose_secret().len() < MIN_PRODUCTION_SECRET_BYTES => {
                    return Err(SettingsError::invalid(
                        "JWT_SECRET",
                        format!(
                            "has {} bytes; production needs at least {MIN_PRODUCTION_SECRET_BYTES} (256 bits), or \
                             anyone holding one token can guess it offline. Make one with `openssl rand -base64 48`",
                            secret.expose_secret().len()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

fn build_config(
    source: &ConfigSource,
    environment: Environment,
    vars: &HashMap<String, String>,
) -> Result<Config, SettingsError> {
    let mut builder = Config::builder();
    match source {
        ConfigSource::Directory(dir) => {
            builder = builder
                .add_source(File::from(dir.join("default.toml")).format(FileFormat::Toml).required(true))
                .add_source(
                    File::from(dir.join(format!("{}.toml", environment.as_str())))
                        .format(FileFormat::Toml)
                        .required(false),
                );
        }
        ConfigSource::Embedded => {
            for (name, text) in EMBEDDED {
                if *name == "default" || *name == environment.as_str() {
                    builder = builder.add_source(File::from_str(text, FileFormat::Toml));
                }
            }
        }
    }
    for (variable, key) in VARIABLES {
        if let Some(value) = vars.get(*variable).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            builder = builder
                .set_override(*key, value.to_owned())
                .map_err(|e| SettingsError::invalid(*variable, e.to_string()))?;
        }
    }
    builder.build().map_err(|e| SettingsError::File(e.to_string()))
}

fn reject_unknown_keys(config: &Config) -> Result<(), SettingsError> {
    for section in ["app", "database", "auth", "limits"] {
        let Ok(table) = config.get_table(section) else {
            continue;
        };
        for key in table.keys() {
            let full = format!("{section}.{key}");
            let known = VARIABLES.iter().any(|(_, k)| *k == full) || FILE_ONLY_KEYS.contains(&full.as_str());
            if !known {
                return Err(SettingsError::File(format!("unknown setting `{full}`")));
            }
        }
    }
    Ok(())
}

/// The variable a config key is set by, for error messages.
fn variable_for(key: &str) -> String {
    VARIABLES.iter().find(|(_, k)| *k == key).map_or_else(|| key.to_owned(), |(v, _)| (*v).to_owned())
}

fn type_error(key: &str, error: &config::ConfigError) -> SettingsError {
    if SECRET_KEYS.contains(&key) {
        SettingsError::invalid(variable_for(key), "has a value of the wrong type")
    } else {
        // The config crate names the key; the variable name is what the operator sets.
        let reason = error.to_string();
        let reason = reason.split(" for key").next().unwrap_or(&reason).to_owned();
        SettingsError::invalid(variable_for(key), format!("is invalid: {reason}"))
    }
}

fn get<T: serde::de::DeserializeOwned>(config: &Config, key: &str) -> Result<T, SettingsError> {
    config.get::<T>(key).map_err(|e| match e {
        config::ConfigError::NotFound(_) => SettingsError::invalid(variable_for(key), "is not set"),
        other => type_error(key, &other),
    })
}

fn optional<T: serde::de::DeserializeOwned>(config: &Config, key: &str) -> Result<Option<T>, SettingsError> {
    match config.get::<T>(key) {
        Ok(value) => Ok(Some(value)),
        Err(config::ConfigError::NotFound(_)) => Ok(None),
        Err(other) => Err(type_error(key, &other)),
    }
}

fn optional_url(config: &Config, key: &str) -> Result<Option<DatabaseUrl>, SettingsError> {
    optional::<String>(config, key)?
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| DatabaseUrl::parse(&raw).map_err(|e| SettingsError::invalid(variable_for(key), e.to_string())))
        .transpose()
}

fn seconds(config: &Config, key: &str) -> Result<f64, SettingsError> {
    let value = get::<f64>(config, key)?;
    if !value.is_finite() || !(0.0..=1e9).contains(&value) {
        return Err(SettingsError::invalid(
            variable_for(key),
            format!("is {value}; expected a number of seconds between 0 and 1e9"),
        ));
    }
    Ok(value)
}

fn positive_seconds(config: &Config, key: &str) -> Result<Duration, SettingsError> {
    let value = seconds(config, key)?;
    if value == 0.0 {
        return Err(SettingsError::invalid(variable_for(key), "must be greater than 0 seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// `APP_WORKERS`: 0 is one worker per CPU; more than 1,024 is surely a typo.
fn workers(config: &Config) -> Result<Option<usize>, SettingsError> {
    match get::<u32>(config, "app.workers")? {
        0 => Ok(None),
        n @ 1..=1024 => Ok(Some(n as usize)),
        n => Err(SettingsError::invalid(
            variable_for("app.workers"),
            format!("is {n}; expected 0 (one per CPU) to 1024"),
        )),
    }
}

/// A rate and its burst: a rate of 0 disables the limit; a burst must then be at least 1.
fn rate_limit(config: &Config, rate_key: &str, burst_key: &str) -> Result<Option<RateLimit>, SettingsError> {
    let per_second = get::<u32>(config, rate_key)?;
    let burst = get::<u32>(config, burst_key)?;
    if per_second == 0 {
        return Ok(None);
    }
    if burst == 0 {
        return Err(SettingsError::invalid(
            variable_for(burst_key),
            format!("must be at least 1 while {} is set", variable_for(rate_key)),
        ));
    }
    Ok(Some(RateLimit { per_second, burst }))
}

/// A comma-separated list, with empty items dropped.
fn list(config: &Config, key: &str) -> Result<Vec<String>, SettingsError> {
    let raw = get::<String>(config, key)?;
    Ok(raw.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect())
}

/// `TRUSTED_PROXIES`: addresses (`10.0.0.7`) or networks (`10.0.0.0/8`, `fd00::/8`).
fn trusted_proxies(config: &Config) -> Result<Vec<ipnet::IpNet>, SettingsError> {
    list(config, "limits.trusted_proxies")?
        .into_iter()
        .map(|item| {
            item.parse::<ipnet::IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(
                |_| {
                    SettingsError::invalid(
                        "TRUSTED_PROXIES",
                        format!("holds `{item}`, which is neither an IP address nor a network such as 10.0.0.0/8"),
                    )
                },
            )
        })
        .collect()
}

/// `CORS_ALLOWED_ORIGINS`: origins as browsers send them, `scheme://host[:port]`.
fn cors_origins(config: &Config) -> Result<Vec<String>, SettingsError> {
    let origins = list(config, "limits.cors_allowed_origins")?;
    for origin in &origins {
        let parsed = url::Url::parse(origin).ok().filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.path() == "/"
                && !origin.ends_with('/')
                && u.query().is_none()
                && u.username().is_empty()
        });
        if parsed.is_none() {
            return Err(SettingsError::invalid(
                "CORS_ALLOWED_ORIGINS",
                format!(
                    "holds `{origin}`; list origins as browsers send them, e.g. https://app.example.com (no `*`, no path)"
                ),
            ));
        }
    }
    Ok(origins)
}

fn seconds_or_never(config: &Config, key: &str) -> Result<Option<Duration>, SettingsError> {
    let value = seconds(config, key)?;
    Ok((value > 0.0).then(|| Duration::from_secs_f64(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_vars(&vars(pairs))
    }

    #[test]
    fn with_no_variables_the_service_runs_on_embedded_sqlite_in_development() {
        let settings = load(&[]).expect("defaults load");
        assert_eq!(settings.app.environment, Environment::Development);
        assert_eq!(settings.database.backend(), Backend::Sqlite);
        assert!(settings.database.auto_migrate, "development migrates automatically");
        let url = settings.database.traffic_url().expect("sqlite url");
        assert!(url.expose().starts_with("sqlite://") && url.expose().ends_with("app.sqlite3?mode=rwc"));
        assert_eq!(settings.app.port, 8080);
        assert_eq!(settings.app.workers, None, "one worker per CPU");
    }

    #[test]
    fn environment_variables_override_the_config_files() {
        let settings = load(&[
            ("APP_PORT", "9999"),
            ("APP_HOST", "0.0.0.0"),
            ("DB_POOL_MAX", "25"),
            ("DB_STATEMENT_TIMEOUT", "1.5"),
            ("DB_IDLE_TIMEOUT", "0"),
            ("LOG_FORMAT", "JSON"),
            ("APP_WORKERS", "3"),
        ])
        .expect("loads");
        assert_eq!(settings.app.workers, Some(3));
        assert_eq!(settings.app.port, 9999);
        assert_eq!(settings.app.host, "0.0.0.0");
        assert_eq!(settings.database.pool_max, 25);
        assert_eq!(settings.database.statement_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(settings.database.idle_timeout, None);
        assert_eq!(settings.app.log_format, LogFormat::Json);
    }

    #[test]
    fn the_environment_file_overrides_the_default_file() {
        let production = load(&[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://u:p@h/db"),
            ("JWT_SECRET", &"s".repeat(32)),
        ])
        .expect("loads");
        assert_eq!(production.app.log_format, LogFormat::Json);
        assert!(!production.database.auto_migrate);
        assert_eq!(production.app.host, "0.0.0.0");
    }

    #[test]
    fn a_config_directory_is_read_from_disk_with_environment_file_over_default() {
        let dir = std::env::temp_dir().join(format!("settings-test-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("default.toml"), include_str!("../../config/default.toml")).expect("write");
        std::fs::write(dir.join("test.toml"), "[app]\nport = 7000\n[database]\npool_max = 3\n").expect("write");
        let dir_str = dir.to_string_lossy().into_owned();
        let settings = load(&[("APP_CONFIG_DIR", &dir_str), ("APP_ENV", "test"), ("DB_POOL_MAX", "4")]).expect("loads");
        assert_eq!(settings.app.port, 7000, "test.toml beats default.toml");
        assert_eq!(settings.database.pool_max, 4, "the environment beats test.toml");

        std::fs::write(dir.join("test.toml"), "[database]\npool_maxx = 3\n").expect("write");
        let err = load(&[("APP_CONFIG_DIR", &dir_str), ("APP_ENV", "test")]).expect_err("typo");
        assert!(err.to_string().contains("database.pool_maxx"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_environment_beats_dotenv_which_beats_the_config_files() {
        let dir = std::env::temp_dir().join(format!("dotenv-test-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(".env");
        std::fs::write(&path, "DB_POOL_MAX=5\nAPP_PORT=9001\n").expect("write");
        let environment = [("DB_POOL_MAX".to_owned(), "7".to_owned())];
        let settings =
            Settings::load_layers(environment, Some(dotenvy::from_path_iter(&path).expect("read"))).expect("loads");
        assert_eq!(settings.database.pool_max, 7, "the environment beats .env");
        assert_eq!(settings.app.port, 9001, ".env beats config/default.toml");
        assert_eq!(settings.database.pool_min, 0, "config/default.toml fills the rest");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_config_directory_is_named() {
        let err = load(&[("APP_CONFIG_DIR", "/nonexistent/dir")]).expect_err("refused");
        assert!(err.to_string().starts_with("APP_CONFIG_DIR "), "{err}");
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (variable, value) in [
            ("DB_POOL_MAX", "many"),
            ("APP_PORT", "70000"),
            ("DB_CONNECT_TIMEOUT", "0"),
            ("DB_ACQUIRE_TIMEOUT", "-1"),
            ("DB_STATEMENT_TIMEOUT", "soon"),
            ("LOG_FORMAT", "xml"),
            ("APP_ENV", "staging"),
            ("DB_POOL_MIN", "50"),
            ("APP_WORKERS", "5000"),
            ("APP_WORKERS", "-2"),
        ] {
            let err = load(&[(variable, value)]).expect_err(variable);
            assert!(err.to_string().starts_with(&format!("{variable} ")), "{variable}: {err}");
        }
    }

    #[test]
    fn production_refuses_to_start_without_a_database_url() {
        let err = load(&[("APP_ENV", "production"), ("JWT_SECRET", "secret")]).expect_err("refused");
        assert_eq!(err.to_string(), "DATABASE_URL must be set when APP_ENV=production");
    }

    #[test]
    fn production_refuses_to_start_without_a_jwt_secret() {
        let err = load(&[("APP_ENV", "production"), ("DATABASE_URL", "postgres://u:p@h/db")]).expect_err("refused");
        assert_eq!(err.to_string(), "JWT_SECRET must be set when APP_ENV=production");
    }

    #[test]
    fn production_refuses_a_jwt_secret_under_32_bytes_and_says_how_to_make_one() {
        let production = |secret: &str| {
            load(&[("APP_ENV", "production"), ("DATABASE_URL", "postgres://u:p@h/db"), ("JWT_SECRET", secret)])
        };
        let err = production("abc").expect_err("refused");
        assert!(err.to_string().starts_with("JWT_SECRET has 3 bytes; production needs at least 32"), "{err}");
        assert!(err.to_string().contains("openssl rand -base64 48"), "{err}");
        assert!(!err.to_string().contains("abc"), "the secret itself is never shown");
        assert!(production(&"x".repeat(31)).is_err());
        assert!(production(&"x".repeat(32)).is_ok());
        assert!(load(&[("JWT_SECRET", "abc")]).is_ok(), "development takes any secret");
    }

    #[test]
    fn limits_default_to_what_an_interactive_client_never_meets_and_zero_disables() {
        let limits = load(&[]).expect("loads").limits;
        assert_eq!(limits.user, Some(RateLimit { per_second: 100, burst: 200 }));
        assert_eq!(limits.address, Some(RateLimit { per_second: 20, burst: 40 }));
        assert_eq!(limits.max_in_flight, Some(512));
        assert_eq!(limits.body_timeout, Duration::from_secs(10));
        assert!(limits.trusted_proxies.is_empty() && limits.cors_allowed_origins.is_empty());
        let off =
            load(&[("RATE_LIMIT_USER", "0"), ("RATE_LIMIT_ADDRESS", "0"), ("MAX_IN_FLIGHT", "0")]).expect("loads");
        assert_eq!((off.limits.user, off.limits.address, off.limits.max_in_flight), (None, None, None));
        let err = load(&[("RATE_LIMIT_USER_BURST", "0")]).expect_err("refused");
        assert!(err.to_string().starts_with("RATE_LIMIT_USER_BURST must be at least 1"), "{err}");
        assert!(load(&[("BODY_TIMEOUT", "0")]).is_err());
    }

    #[test]
    fn trusted_proxies_and_cors_origins_are_checked_lists() {
        let settings = load(&[
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000"),
        ])
        .expect("loads");
        assert_eq!(settings.limits.trusted_proxies.len(), 3);
        assert!(settings.limits.trusted_proxies[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().expect("ip")));
        assert_eq!(settings.limits.cors_allowed_origins, ["https://app.example.com", "http://localhost:3000"]);
        let err = load(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).expect_err("refused");
        assert!(err.to_string().starts_with("TRUSTED_PROXIES holds `10.0.0.0/33`"), "{err}");
        for origin in ["*", "https://app.example.com/", "https://app.example.com/path", "app.example.com", "ftp://x"] {
            let err = load(&[("CORS_ALLOWED_ORIGINS", origin)]).expect_err(origin);
            assert!(err.to_string().starts_with("CORS_ALLOWED_ORIGINS holds"), "{origin}: {err}");
        }
    }

    #[test]
    fn a_pooler_url_is_refused_as_the_direct_url() {
        let err = load(&[("DATABASE_URL", "postgresql://u:pw@ep-a-1-pooler.us-east-2.aws.neon.tech/db")])
            .expect_err("refused");
        assert!(err.to_string().starts_with("DATABASE_URL points at Neon's pooler"), "{err}");
    }

    #[test]
    fn a_pooled_url_needs_a_direct_url() {
        let err = load(&[("DATABASE_URL_POOLED", "postgres://u:pw@h:6432/db")]).expect_err("refused");
        assert!(err.to_string().starts_with("DATABASE_URL_POOLED is set but DATABASE_URL is not"));
    }

    #[test]
    fn traffic_uses_the_pooled_url_and_migrations_the_direct_one() {
        let settings = load(&[
            ("DATABASE_URL", "postgres://u:pw@direct:5432/db"),
            ("DATABASE_URL_POOLED", "postgres://u:pw@pooler:6432/db"),
        ])
        .expect("loads");
        assert_eq!(settings.database.traffic_url().expect("url").host(), Some("pooler"));
        assert_eq!(settings.database.direct_url().expect("url").host(), Some("direct"));
        let only_direct = load(&[("DATABASE_URL", "postgres://u:pw@direct:5432/db")]).expect("loads");
        assert_eq!(only_direct.database.traffic_url().expect("url").host(), Some("direct"));
    }

    #[test]
    fn neon_rules_apply_to_urls_from_the_environment() {
        let settings = load(&[("DATABASE_URL", "postgresql://u:pw@ep-a-1.us-east-2.aws.neon.tech/db")]).expect("loads");
        assert!(settings.database.direct_url().expect("url").expose().ends_with("sslmode=require"));
        let err = load(&[("DATABASE_URL", "postgresql://u:pw@ep-a-1.us-east-2.aws.neon.tech/db?sslmode=disable")])
            .expect_err("refused");
        assert!(err.to_string().starts_with("DATABASE_URL points at a Neon host with sslmode=disable"));
    }

    #[test]
    fn secrets_never_appear_in_debug_output_or_errors() {
        let settings = load(&[
            ("DATABASE_URL", "postgres://app:direct-pw-1@direct:5432/db"),
            ("DATABASE_URL_POOLED", "postgres://app:pooled-pw-2@pooler:6432/db"),
            ("JWT_SECRET", "jwt-secret-3"),
        ])
        .expect("loads");
        let shown = format!("{settings:?}");
        for secret in ["direct-pw-1", "pooled-pw-2", "jwt-secret-3"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("app:***@direct:5432"));
        assert_eq!(
            settings.auth.jwt_secret.as_ref().map(|s| s.expose_secret().to_owned()),
            Some("jwt-secret-3".into())
        );

        let err = load(&[("DATABASE_URL", "mysql://app:leaky-pw@h/db")]).expect_err("refused");
        assert!(!format!("{err} {err:?}").contains("leaky-pw"));
        let err = load(&[("DATABASE_URL", "postgres://app:leaky-pw@h/db?sslmode=sometimes")]).expect_err("refused");
        assert!(!format!("{err} {err:?}").contains("leaky-pw"));
    }
}

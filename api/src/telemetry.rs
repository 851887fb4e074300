//! Logging and tracing, set up once per process.
//!
//! `LOG_FORMAT=pretty` writes human-readable lines, `json` one JSON object per line.
//! `RUST_LOG` filters as usual (default: `info`). sqlx logs every statement at DEBUG and
//! statements slower than `database.slow_statement_ms` at WARN, through the `log` bridge.

use infrastructure::settings::LogFormat;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, fmt};

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// which tests rely on.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let output = match format {
        LogFormat::Pretty => fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => {
            fmt::layer().json().flatten_event(true).with_current_span(true).with_writer(std::io::stderr).boxed()
        }
    };
    let _ = tracing_subscriber::registry().with(filter).with(output.with_filter(filter_fn(never_secret))).try_init();
}

/// sea-orm's driver opens a TRACE span on connect that records its whole `ConnectOptions`,
/// connection string and password included. No `RUST_LOG` setting may show it.
fn never_secret(metadata: &Metadata<'_>) -> bool {
    !(*metadata.level() == Level::TRACE && metadata.target().starts_with("sea_orm::driver"))
}

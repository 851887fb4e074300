//! Logging and tracing, set up once per process.
//!
//! `LOG_FORMAT=pretty` writes human-readable lines, `json` one JSON object per line.
//! `RUST_LOG` filters as usual (default: `info`, with sqlx's pool events and PostgreSQL's
//! notices at `warn`). sqlx logs every statement at DEBUG and
//! statements slower than `database.slow_statement_ms` at WARN, through the `log` bridge.

use infrastructure::settings::LogFormat;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, fmt};

/// Log lines that may wait for the writer thread. The queue is allocated up front (32 bytes a
/// line); tracing-appender's default of 128,000 added 4 MB to the service's RSS.
pub const LOG_QUEUE_LINES: usize = 8192;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// which tests rely on.
///
/// Lines are formatted on the thread that logs and written to stderr by a thread of their
/// own (`tracing-appender`), through a buffer flushed whenever the queue runs empty: under
/// load one `write` carries many lines, and no HTTP worker waits for one. Nothing is dropped:
/// a full queue ([`LOG_QUEUE_LINES`]) makes the logging thread wait. The returned guard writes out
/// what is queued when it is dropped, so the caller keeps it until the process ends.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    // sqlx's acquire events feed the wait counter; they are not worth a log line by default.
    // Neither are PostgreSQL's notices, which sqlx logs at INFO: the migrations' `CREATE ...
    // IF NOT EXISTS` answer "already exists, skipping" on every start.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::pool::acquire=warn,sqlx::postgres::notice=warn"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let output = match format {
        // Colours only for a terminal: a file or a log collector would keep the escape codes.
        LogFormat::Pretty => {
            REQUEST_SPANS.store(true, std::sync::atomic::Ordering::Relaxed);
            fmt::layer().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_writer(writer).boxed()
        }
        // tracing-subscriber's JSON shape, written without re-parsing span fields per line.
        LogFormat::Json => fmt::layer()
            .fmt_fields(crate::json_log::JsonMembers)
            .event_format(crate::json_log::JsonLines)
            .with_writer(writer)
            .boxed(),
    };
    // Filters are per layer, so RUST_LOG limits the log output but not the wait counter.
    let _ = tracing_subscriber::registry()
        .with(output.with_filter(filter.and(never_shown())))
        .with(infrastructure::observe::wait_counter())
        .try_init();
    guard
}

/// What no `RUST_LOG` setting may show:
/// - sea-orm's driver opens a TRACE span on connect that records its whole `ConnectOptions`,
///   connection string and password included;
/// - actix-http's connection dispatcher logs a request it cannot parse at ERROR: any client
///   could fill the log (and stall the workers behind its queue) with lines about its own
///   malformed bytes, which are answered 400 or 431 and closed.
///
/// A static filter (not a closure) so that the maximum level stays known and disabled
/// `trace!` calls everywhere stay free.
fn never_shown() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("sea_orm::driver", LevelFilter::DEBUG)
        .with_target("actix_http::h1::dispatcher", LevelFilter::OFF)
}

/// Whether requests open a tracing span: only for the pretty format, which shows spans and
/// not the request context (`request_id::Context`) the JSON lines show.
static REQUEST_SPANS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn request_spans() -> bool {
    REQUEST_SPANS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Ends every request that got past the limits with one INFO line, `request completed`, with
/// its status, inside the request's context (method, route template, path and the id that
/// `X-Request-Id` carries). Requests refused by the limits are counted, not logged one by one
/// (see `limits`).
pub async fn request_log(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    if !tracing::enabled!(target: "api::request", tracing::Level::INFO) {
        return next.call(req).await;
    }
    let span =
        crate::request_id::with_current(
            |context| {
                if request_spans() { request_span(context) } else { tracing::Span::none() }
            },
        )
        .unwrap_or_else(tracing::Span::none);
    let outcome = next.call(req).instrument(span.clone()).await;
    // The template the matched resource carries (as the metrics read it): no second walk of
    // the routes, which `match_pattern()` would be.
    let (status, route) = match &outcome {
        Ok(response) => (response.status().as_u16(), crate::routes::RouteTemplate::of(response.request())),
        Err(error) => (error.as_response_error().status_code().as_u16(), None),
    };
    let route = route.map_or_else(|| std::sync::Arc::from("unmatched"), |t| t.0.clone());
    span.record("http.route", &*route);
    crate::request_id::with_current(|context| {
        let _ = context.route.set(route);
    });
    span.in_scope(|| tracing::info!(target: "api::request", status, "request completed"));
    outcome
}

/// The span of a request for the pretty format.
fn request_span(context: &crate::request_id::Context) -> tracing::Span {
    tracing::info_span!(
        target: "api::request",
        "request",
        http.method = %context.method,
        http.route = tracing::field::Empty,
        http.target = context.path.as_str(),
        request_id = context.id.as_str(),
    )
}

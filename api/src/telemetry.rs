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
            fmt::layer().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).with_writer(writer).boxed()
        }
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
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

/// The root span of every request: method, route template, path, status and the request id
/// that `X-Request-Id` carries (tracing-actix-web's default span would make up its own).
/// Each request ends with one INFO line, `request completed`, inside that span.
#[derive(Debug)]
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        // The fields cost allocations; with INFO off there is no span to fill.
        if !tracing::enabled!(target: "api::request", tracing::Level::INFO) {
            return tracing::Span::none();
        }
        let id = request.extensions().get::<crate::request_id::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        tracing::info_span!(
            target: "api::request",
            "request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            request_id = %id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        let _entered = span.enter();
        tracing::info!(target: "api::request", status, "request completed");
        drop(_entered);
        <tracing_actix_web::DefaultRootSpanBuilder as tracing_actix_web::RootSpanBuilder>::on_request_end(
            span, outcome,
        );
    }
}

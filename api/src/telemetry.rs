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

/// How long the writer thread waits after writing a batch out before it takes the next one.
/// Without the wait it woke for nearly every line under load: one `write`, a few
/// `sched_yield`s while the queue's receiver spun, and a futex wake from the worker that
/// logged, per request (~9 % of the server's CPU on a GET by id at 64 connections, and two
/// context switches a request on cores PostgreSQL needs). With it, lines gather in the queue
/// meanwhile and go out as one `write` of up to [`LOG_BUFFER_BYTES`]: a line reaches stderr at
/// most this much later. A line that arrives when the writer is idle is written at once.
pub const LOG_LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// The writer thread's buffer: a batch of a few hundred request lines goes out in one `write`.
const LOG_BUFFER_BYTES: usize = 64 * 1024;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// which tests rely on.
///
/// Lines are formatted on the thread that logs and written to stderr by a thread of their
/// own (`tracing-appender`), through a buffer flushed whenever the queue runs empty, after
/// which the thread lingers ([`LOG_LINGER`]): under load one `write` carries many lines, and
/// no HTTP worker waits for one. Nothing is dropped:
/// a full queue ([`LOG_QUEUE_LINES`]) makes the logging thread wait. The returned guard writes out
/// what is queued when it is dropped, so the caller keeps it until the process ends.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    // sqlx's acquire events feed the wait counter; they are not worth a log line by default.
    // Neither are PostgreSQL's notices, which sqlx logs at INFO: the migrations' `CREATE ...
    // IF NOT EXISTS` answer "already exists, skipping" on every start.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::pool::acquire=warn,sqlx::postgres::notice=warn"));
    let (writer, guard) = log_writer(std::io::stderr());
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

/// The queue and the thread that write log lines out to `out`, lingering between batches.
fn log_writer<W: std::io::Write + Send + 'static>(
    out: W,
) -> (tracing_appender::non_blocking::NonBlocking, tracing_appender::non_blocking::WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("log-writer")
        .finish(Lingering { out: std::io::BufWriter::with_capacity(LOG_BUFFER_BYTES, out) })
}

/// The writer thread's output. tracing-appender's thread writes each queued line into it and
/// flushes it once the queue is empty; the flush then holds the thread for [`LOG_LINGER`], so
/// the lines logged meanwhile wait in the queue (no wake-up each) and make the next batch.
struct Lingering<W: std::io::Write> {
    out: std::io::BufWriter<W>,
}

impl<W: std::io::Write> std::io::Write for Lingering<W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.out.write(line)
    }

    fn write_all(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.out.write_all(line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        std::thread::sleep(LOG_LINGER);
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// What reached the output, and in how many `write` calls.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Output {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut output = self.0.lock().expect("not poisoned");
            output.0.extend_from_slice(bytes);
            output.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_logged_while_the_writer_lingers_go_out_together_whole_and_in_order() {
        let output = Output::default();
        let (mut writer, guard) = super::log_writer(output.clone());
        let lines: Vec<String> =
            (0..200).map(|i| format!("{{\"line\":{i},\"padding\":\"{}\"}}\n", "x".repeat(150))).collect();
        let started = std::time::Instant::now();
        // A line every ~0.2 ms, as requests arrive under load: without the linger the writer
        // thread woke for nearly each one (~200 writes).
        for line in &lines {
            writer.write_all(line.as_bytes()).expect("queued");
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        // Dropping the guard writes out what is queued and waits for the thread.
        drop(guard);
        let elapsed = started.elapsed();
        let (bytes, writes) = output.0.lock().expect("not poisoned").clone();
        assert_eq!(String::from_utf8(bytes).expect("UTF-8"), lines.concat());
        // 36 KB fit the buffer, so each write is one batch and each batch but the last is
        // followed by the linger: however slow this machine, no more writes than that allows.
        let most = elapsed.as_micros() / super::LOG_LINGER.as_micros() + 1;
        assert!(writes as u128 <= most, "{writes} writes in {elapsed:?} for {} lines", lines.len());
    }
}

//! Counting waits for a pooled connection.
//!
//! sqlx reports an acquire that took longer than the pool's slow threshold as a tracing event
//! (target `sqlx::pool::acquire`). The traffic pool's threshold is [`WAIT_THRESHOLD`], so each
//! such event is a request that had to wait: for a busy pool to free a connection, or for a new
//! one to be opened. [`layer`] counts them; the service installs it next to its log output.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

/// An acquire slower than this counts as a wait.
pub const WAIT_THRESHOLD: Duration = Duration::from_millis(5);

/// The tracing target of sqlx's acquire events.
pub const TARGET: &str = "sqlx::pool::acquire";

static WAITS: AtomicU64 = AtomicU64::new(0);

/// How many acquires had to wait since the process started.
pub fn acquire_waits() -> u64 {
    WAITS.load(Ordering::Relaxed)
}

struct CountWaits;

impl<S: Subscriber> Layer<S> for CountWaits {
    fn on_event(&self, _event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        WAITS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The layer that counts waits. It sees only sqlx's acquire events, whatever `RUST_LOG` says.
/// The filter is static (a target and a level), so it keeps its callsites' interest cached and
/// leaves the global maximum level alone: a dynamic filter here would make every `trace!` in
/// every crate consult the subscriber on each call.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    CountWaits.with_filter(Targets::new().with_target(TARGET, tracing::Level::INFO))
}

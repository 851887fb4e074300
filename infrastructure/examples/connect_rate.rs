//! How many connections a single task can open per second, and the client CPU each one costs:
//! what every request waits for after Neon scaled the compute to zero.
//!
//! Opens `BENCH_CONNECT_COUNT` connections (default 200) one after another with
//! `PgConnection::connect_with` (TCP, TLS, SCRAM-SHA-256, startup) on a current-thread runtime,
//! closing each before the next, to `DATABASE_URL` (read from the environment, so the password
//! stays off the command line). One connection is opened first and not counted (host name
//! resolution and everything else done once). Prints one line:
//!
//! ```text
//! connections=200 seconds=0.912 per_second=219 cpu_us=1650 thread_cpu_us=1580
//! ```
//!
//! `cpu_us` is the process's user + system CPU per connection (`/proc/self/stat`, every thread:
//! tokio resolves host names on its blocking pool), `thread_cpu_us` the runtime thread's alone
//! (`/proc/thread-self/schedstat`). With `RUST_LOG=sqlx::tls=debug` the vendored sqlx-core logs
//! each TLS handshake to stderr: `hello_retry` and the key exchange group (vendor/README.md,
//! patch 7). `scripts/bench` runs it in each pass ("new connections").

use sea_orm::sqlx::Connection;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use std::error::Error;
use std::str::FromStr;
use std::time::Instant;

/// /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 a second.
const TICK_US: u64 = 10_000;

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let count: u32 = match std::env::var("BENCH_CONNECT_COUNT") {
        Ok(count) => count.parse()?,
        Err(_) => 200,
    };
    if count == 0 {
        return Err("BENCH_CONNECT_COUNT must be at least 1".into());
    }
    let options = PgConnectOptions::from_str(&url)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (seconds, process_us, thread_us) = runtime.block_on(async {
        PgConnection::connect_with(&options).await?.close().await?;
        let (process0, thread0, started) = (process_cpu_us()?, thread_cpu_us()?, Instant::now());
        for _ in 0..count {
            PgConnection::connect_with(&options).await?.close().await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok::<_, Box<dyn Error>>((seconds, process_cpu_us()? - process0, thread_cpu_us()? - thread0))
    })?;
    let count_f = f64::from(count);
    println!(
        "connections={count} seconds={seconds:.3} per_second={:.0} cpu_us={:.0} thread_cpu_us={:.0}",
        count_f / seconds,
        process_us as f64 / count_f,
        thread_us as f64 / count_f,
    );
    Ok(())
}

/// The process's user + system CPU time so far, in microseconds: fields 14 and 15 of
/// `/proc/self/stat`, counted after the command name (which may hold spaces) in parentheses.
fn process_cpu_us() -> Result<u64, Box<dyn Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let (_, after_name) = stat.rsplit_once(')').ok_or("/proc/self/stat has no command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // The state is field 3 of the line, so utime (14) and stime (15) are 11 and 12 here.
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        return Err("/proc/self/stat is too short".into());
    };
    Ok((utime.parse::<u64>()? + stime.parse::<u64>()?) * TICK_US)
}

/// The calling thread's CPU time so far, in microseconds (schedstat's first field, in ns).
fn thread_cpu_us() -> Result<u64, Box<dyn Error>> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: u64 = schedstat.split_whitespace().next().ok_or("/proc/thread-self/schedstat is empty")?.parse()?;
    Ok(ns / 1_000)
}

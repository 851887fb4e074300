//! The `api` binary: `api serve` (the default), `api migrate ...`; see `api --help`.

/// mimalloc instead of glibc's allocator: the request path allocates many small, short-lived
/// buffers, and glibc spent about 9% of the server's CPU in malloc/free under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    api::cli::main()
}

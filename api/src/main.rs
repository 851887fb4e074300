//! The `api` binary: `api serve` (the default), `api migrate ...`; see `api --help`.

fn main() -> std::process::ExitCode {
    api::cli::main()
}

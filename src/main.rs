//! The `supplygate` binary: everything happens in [`supplygate::cli`].

fn main() -> std::process::ExitCode {
    // regorus builds `anyhow` errors during ordinary evaluation; with RUST_BACKTRACE set each
    // would capture a backtrace (20-30% of policy time measured). Panics keep theirs.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // Single-threaded here: nothing else reads the environment yet.
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    supplygate::cli::main()
}

//! The `supplygate` binary: everything happens in [`supplygate::cli`].

fn main() -> std::process::ExitCode {
    supplygate::cli::main()
}

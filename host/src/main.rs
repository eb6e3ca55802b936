//! The `relive` binary; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    relive::cli::main()
}

fn main() -> std::process::ExitCode {
    capcheck::cli::run().into()
}

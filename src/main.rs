fn main() -> std::process::ExitCode {
    schoolnet::cli::main()
}

// Linting allocates many small, short-lived values from two threads;
// mimalloc does that faster than glibc's allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Die quietly on a closed pipe (`capcheck rules | head`), as other Unix
    // tools do, instead of panicking in a print.
    // SAFETY: setting a signal disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    capcheck::cli::run().into()
}

//! `capcheck record`: runs a program as the target user with a broad
//! candidate set of ambient capabilities, traces every capability check of
//! its process tree (tracepoint `capability:cap_capable` in a private
//! tracefs instance), and turns the checks into a profile.

pub mod access;
pub mod attach;
pub mod import;
pub mod launch;
pub mod profile;
pub mod syscalls;
pub mod trace;
pub mod tracefs;

use crate::caps::CapSet;
use crate::run::tree::ProcessTree;
use crate::run::{self, Interrupts, Probe, Run, Start};
use std::ffi::CString;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use trace::{Parser, Summary};

/// What to record.
pub struct Request<'a> {
    pub start: Start<'a>,
    pub timeout: Duration,
    pub probe: Option<&'a Probe>,
    /// Show a progress line on standard error.
    pub progress: bool,
}

/// A recording: how the program ran and what it checked.
pub struct Recording {
    pub run: Run,
    pub summary: Summary,
}

/// The current process's bounding set (from /proc), to offer no
/// capability the recorder does not have itself.
pub fn own_bounding_set() -> CapSet {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .map_or(CapSet::KNOWN, CapSet)
}

/// True when capcheck runs in a child PID namespace (NSpid lists more
/// than one pid): tracefs filters on host pids, and the pid a child would
/// write is its namespaced one, so the trace would see nothing.
pub fn in_child_pid_namespace(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .is_some_and(|pids| pids.split_whitespace().count() > 1)
}

/// Writes the decimal `n` into `buf`; returns the length (async-signal-safe).
fn decimal(mut n: u32, buf: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 12];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[i] = digits[len - 1 - i];
    }
    buf[len] = b'\n';
    len + 1
}

/// Records one program: it writes its own pid to the instance's pid
/// filter before exec, so its whole tree (event-fork) is traced.
pub fn record(
    request: &Request,
    instance: &mut tracefs::Instance,
    tree: &ProcessTree,
    interrupts: &Interrupts,
) -> Recording {
    let (pid_file, on_file) = instance.control_files();
    let pid_file = CString::new(pid_file.as_os_str().as_encoded_bytes()).expect("no NUL");
    let on_file = CString::new(on_file.as_os_str().as_encoded_bytes()).expect("no NUL");
    // Runs in the child between fork and exec: raw system calls only.
    let start_tracing = move || -> std::io::Result<()> {
        let mut buf = [0u8; 12];
        // SAFETY: getpid, open, write and close on valid buffers.
        unsafe {
            let len = decimal(libc::getpid() as u32, &mut buf);
            for (file, bytes) in [(&pid_file, &buf[..len]), (&on_file, &b"1\n"[..])] {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, bytes.as_ptr().cast(), bytes.len()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
            }
        }
        Ok(())
    };
    let started = Instant::now();
    let mut parser = Parser::default();
    let mut last_progress = Instant::now();
    let show = request.progress && std::io::stderr().is_terminal();
    let argv = request.start.argv.join(" ");
    let mut tick = || {
        parser.feed(&instance.read_available());
        if show && last_progress.elapsed() > Duration::from_millis(200) {
            last_progress = Instant::now();
            eprint!(
                "\rrecording {argv}: {:.1}s, {} capability checks ",
                started.elapsed().as_secs_f64(),
                parser.checks_seen()
            );
            let _ = std::io::stderr().flush();
        }
        !interrupts.seen()
    };
    let run = run::run(
        &request.start,
        request.timeout,
        request.probe,
        tree,
        start_tracing,
        &mut tick,
    );
    parser.feed(&instance.read_available());
    if show {
        eprintln!();
    }
    let root_pid = run.pid;
    Recording {
        run,
        summary: trace::summarize(&parser.finish(), root_pid, request.start.credentials.uid),
    }
}

/// How a launch's commands went under the recorder.
#[derive(Debug, Default)]
pub struct LaunchRecording {
    /// Every command worked (a `-` command may fail), and so did the probe.
    pub succeeded: bool,
    /// How the last command that ran went ("still running after 25.0s",
    /// a failed `ExecStartPre=` prefixed with it).
    pub outcome: String,
    pub probe_passed: Option<bool>,
    /// The checks and accesses of all commands.
    pub summaries: Vec<Summary>,
    /// Set when the trace saw nothing of a command that started: it is
    /// blind to the process (a PID namespace).
    pub blind: Option<String>,
}

/// Records a launch's commands in order, until one fails or Ctrl-C; the
/// probe runs with the last (the main one). `credentials` decides what each
/// command is started with (what a recording offers, or exactly what a
/// plan gives); `report` hears of each command as it ends.
#[allow(clippy::too_many_arguments)]
pub fn record_launch(
    launch: &launch::Launch,
    environment: &[String],
    credentials: &dyn Fn(
        &crate::run::credentials::Credentials,
    ) -> crate::run::credentials::Credentials,
    timeout: Duration,
    probe: Option<&Probe>,
    instance: &mut tracefs::Instance,
    tree: &ProcessTree,
    interrupts: &Interrupts,
    report: &mut dyn FnMut(&str, &Run, &Summary),
) -> LaunchRecording {
    let mut result = LaunchRecording {
        succeeded: true,
        ..LaunchRecording::default()
    };
    for (i, planned) in launch.commands.iter().enumerate() {
        let is_main = i + 1 == launch.commands.len();
        let argv = planned.argv(environment);
        let request = Request {
            start: Start {
                path: &planned.path,
                argv: &argv,
                environment,
                credentials: &credentials(&planned.credentials),
                expects_daemon: launch.forking && is_main,
            },
            timeout,
            probe: probe.filter(|_| is_main),
            progress: true,
        };
        let recording = record(&request, instance, tree, interrupts);
        let run = &recording.run;
        let started = !matches!(
            run.outcome,
            run::Outcome::ExecFailed { .. } | run::Outcome::SetupFailed { .. }
        );
        if started && !recording.summary.exec_seen {
            result.blind = Some(argv.join(" "));
            result.succeeded = false;
            return result;
        }
        report(&argv.join(" "), run, &recording.summary);
        if let Some(p) = &run.probe {
            result.probe_passed = Some(p.passed);
        }
        let ok = run.succeeded() || (planned.ignore_failure && started);
        result.outcome = if is_main {
            run.describe()
        } else {
            format!(
                "{}={}: {}",
                planned.directive,
                argv.join(" "),
                run.describe()
            )
        };
        result.summaries.push(recording.summary);
        if !ok || interrupts.seen() {
            result.succeeded &= ok;
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_written_in_decimal() {
        let mut buf = [0u8; 12];
        let n = decimal(40213, &mut buf);
        assert_eq!(&buf[..n], b"40213\n");
    }

    #[test]
    fn a_child_pid_namespace_is_seen_in_nspid() {
        assert!(!in_child_pid_namespace("Name:\tx\nNSpid:\t4242\n"));
        assert!(in_child_pid_namespace("NSpid:\t4242\t7\n"));
        assert!(
            !in_child_pid_namespace("Name:\tx\n"),
            "old kernels have no NSpid"
        );
    }
}

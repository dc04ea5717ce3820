//! A command capcheck runs with a time limit: a user's probe, or one of
//! systemd's own commands. It gets a process group of its own (a Ctrl-C
//! at the terminal reaches capcheck, which decides, not the command), and
//! when it runs out of time, is interrupted or ends, its whole group is
//! killed: a probe's `curl` or `sleep` cannot outlive it. The leader is
//! reaped only after its group was killed, so the group's id cannot have
//! been reused meanwhile. If capcheck itself is killed with SIGKILL, the
//! leader dies with it (PR_SET_PDEATHSIG), but what the leader started
//! does not: nothing is left in capcheck to end it.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// How a bounded command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It ended by itself, with this wait status.
    Exited(libc::c_int),
    /// It was still running at its time limit and was killed.
    TimedOut,
    /// capcheck was interrupted (SIGINT, SIGTERM) and killed it.
    Interrupted,
}

/// "exited with status 1", "killed by signal 9".
pub fn status_text(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        format!("killed by signal {}", libc::WTERMSIG(status))
    }
}

pub fn exited_zero(status: libc::c_int) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

impl End {
    pub fn success(self) -> bool {
        matches!(self, End::Exited(s) if exited_zero(s))
    }

    /// How it ended, in a few words.
    pub fn describe(self, limit: Duration) -> String {
        match self {
            End::Exited(s) => status_text(s),
            End::TimedOut => format!(
                "did not finish within {}s (killed with its process group)",
                limit.as_secs_f64()
            ),
            End::Interrupted => "interrupted (killed with its process group)".to_string(),
        }
    }
}

/// A running bounded command.
#[derive(Debug)]
pub struct Bounded {
    pid: i32,
    limit: Duration,
    deadline: Instant,
}

impl Bounded {
    /// Starts `command` in a process group of its own, to be ended within
    /// `limit`. Its pipes, if any, are the caller's (`take` them from the
    /// returned child before it is dropped).
    pub fn spawn(
        command: &mut Command,
        limit: Duration,
    ) -> std::io::Result<(Bounded, std::process::Child)> {
        let parent = std::process::id();
        command.process_group(0);
        // SAFETY: the closure runs in the forked child before exec and
        // only makes system calls (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other("capcheck exited before the start"));
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        let bounded = Bounded {
            pid: child.id() as i32,
            limit,
            deadline: Instant::now() + limit,
        };
        Ok((bounded, child))
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// How it ended, once it has (its group killed, the leader reaped);
    /// None while it runs within its time.
    pub fn poll(&self) -> Option<End> {
        if exited_unreaped(libc::P_PID, self.pid) == Some(self.pid) {
            return Some(self.finish(None));
        }
        (Instant::now() >= self.deadline).then(|| self.finish(Some(End::TimedOut)))
    }

    /// Waits until it ends or its time is up, or until `interrupted`.
    pub fn wait(&self, interrupted: &dyn Fn() -> bool) -> End {
        loop {
            if let Some(end) = self.poll() {
                return end;
            }
            if interrupted() {
                return self.finish(Some(End::Interrupted));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends it now: the group killed, the leader reaped.
    pub fn stop(&self) -> End {
        self.finish(Some(End::Interrupted))
    }

    /// Kills the whole group, then reaps the leader: `end`, or how the
    /// leader ended by itself.
    fn finish(&self, end: Option<End>) -> End {
        // SAFETY: signalling the process group this command leads (its
        // leader not reaped yet: the id is still its group's).
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
        end.unwrap_or(End::Exited(status))
    }
}

/// A child (`which`: P_PID with `pid`, or P_ALL) that has exited, left
/// unreaped (WNOWAIT): its pid, or None.
pub fn exited_unreaped(which: libc::idtype_t, pid: i32) -> Option<i32> {
    // SAFETY: waitid writes into a zeroed siginfo_t.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: as above; the id is ignored for P_ALL.
    let r = unsafe { libc::waitid(which, pid.max(0) as libc::id_t, &mut info, flags) };
    // SAFETY: waitid sets si_pid for an exited child, 0 when none has.
    let found = unsafe { info.si_pid() };
    (r == 0 && found > 0).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any process of the group `pgid` is left (killed ones may
    /// take a moment to be reaped by init).
    fn group_gone(pgid: i32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            // SAFETY: signal 0 only checks the group exists.
            if unsafe { libc::kill(-pgid, 0) } < 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn shell(script: &str, limit: Duration) -> Bounded {
        let mut command = Command::new("/bin/sh");
        // Not the test's output: a process left behind would hold it open.
        command
            .arg("-c")
            .arg(script)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Bounded::spawn(&mut command, limit).unwrap().0
    }

    #[test]
    fn a_command_that_hangs_is_killed_with_its_group_at_its_limit() {
        let started = Instant::now();
        let running = shell("sleep 1000 & sleep 1001; true", Duration::from_millis(300));
        let end = running.wait(&|| false);
        assert_eq!(end, End::TimedOut);
        assert!(!end.success());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(end.describe(running.limit()).contains("within 0.3s"));
        assert!(group_gone(running.pid()), "a sleep of its group is left");
    }

    #[test]
    fn what_a_command_leaves_behind_ends_with_it() {
        let running = shell("sleep 1000 & exit 3", Duration::from_secs(30));
        let end = running.wait(&|| false);
        assert_eq!(end.describe(running.limit()), "exited with status 3");
        assert!(group_gone(running.pid()), "the background sleep is left");
        let ok = shell("true", Duration::from_secs(30));
        assert!(ok.wait(&|| false).success());
    }

    #[test]
    fn an_interrupt_ends_it_at_once() {
        let running = shell("sleep 1000", Duration::from_secs(30));
        assert_eq!(running.wait(&|| true), End::Interrupted);
        assert!(group_gone(running.pid()));
    }
}

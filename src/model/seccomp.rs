//! SystemCallFilter= as far as no_new_privs depends on it: whether the
//! filter systemd ends with lets a process drop privileges after it is
//! loaded (`seccomp_allows_drop_privileges()`: capget, capset and prctl
//! allowed). From systemd 255 on, a non-root service whose filter allows
//! that keeps CAP_SYS_ADMIN until the filter is in place, so sandboxing no
//! longer implies no_new_privs for it.

use super::words::{words, Unescape};

/// The system calls a process needs to drop privileges.
const PRIVILEGE_CALLS: [&str; 3] = ["capget", "capset", "prctl"];

/// The groups that hold any of [`PRIVILEGE_CALLS`] (directly or through
/// the groups they include), and which: `src/shared/seccomp-util.c` of
/// systemd 257 (@system-service holds @process, which holds capget and
/// prctl; @known holds every system call).
const GROUPS: [(&str, [bool; 3]); 4] = [
    ("@process", [true, false, true]),
    ("@privileged", [false, true, false]),
    ("@system-service", [true, true, true]),
    ("@known", [true, true, true]),
];

/// The filter, reduced to what it does with [`PRIVILEGE_CALLS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyscallFilter {
    /// None until a non-empty assignment; then whether it is an allow list
    /// (the first assignment without `~`) or a deny list.
    allow_list: Option<bool>,
    /// Which of [`PRIVILEGE_CALLS`] the list holds.
    listed: [bool; 3],
}

impl SyscallFilter {
    /// Applies one SystemCallFilter= assignment (`config_parse_syscall_filter()`).
    pub fn assign(&mut self, value: &str) {
        if value.is_empty() {
            *self = SyscallFilter::default();
            return;
        }
        let (invert, list) = match value.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        // The first assignment decides the kind of list; an allow list
        // starts with @default, which holds none of the three.
        let allow_list = *self.allow_list.get_or_insert(!invert);
        for word in words(list, Unescape::BackslashOnly).0 {
            let Some((name, with_errno)) = syscall_and_errno(&word) else {
                continue;
            };
            if !invert && with_errno {
                continue; // "Allow-listed system calls cannot take error number"
            }
            // Listed when the line agrees with the kind of list, or when
            // an allow list names a call with the errno it fails with.
            let add = invert != allow_list || (invert && allow_list && with_errno);
            for (i, call) in PRIVILEGE_CALLS.iter().enumerate() {
                if named(name, i, call) {
                    self.listed[i] = add;
                }
            }
        }
    }

    /// Whether a process under this filter can still drop privileges:
    /// there is no filter, an allow list holds all three calls, or a deny
    /// list holds none of them.
    pub fn allows_dropping_privileges(&self) -> bool {
        match self.allow_list {
            None => true,
            Some(true) => self.listed.iter().all(|l| *l),
            Some(false) => !self.listed.iter().any(|l| *l),
        }
    }
}

/// Whether `name` (a call or a group) covers call number `i`.
fn named(name: &str, i: usize, call: &str) -> bool {
    name == call
        || GROUPS
            .iter()
            .any(|(group, holds)| *group == name && holds[i])
}

/// `parse_syscall_and_errno()`: `name` or `name:errno`, errno a number up
/// to 4095, an E… name or `kill`; None when systemd skips the word. (Errno
/// names are not checked against the kernel's list: a misspelled one is
/// taken as valid.)
fn syscall_and_errno(word: &str) -> Option<(&str, bool)> {
    let Some((name, errno)) = word.split_once(':') else {
        return (!word.is_empty()).then_some((word, false));
    };
    let valid_errno = errno == "kill"
        || errno.parse::<u16>().is_ok_and(|n| n <= 4095)
        || (errno.starts_with('E')
            && errno.len() > 1
            && errno
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    (valid_errno && !name.is_empty()).then_some((name, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(lines: &[&str]) -> SyscallFilter {
        let mut f = SyscallFilter::default();
        for line in lines {
            f.assign(line);
        }
        f
    }

    #[test]
    fn lists_that_let_privileges_be_dropped() {
        assert!(filter(&[]).allows_dropping_privileges());
        assert!(filter(&["@system-service"]).allows_dropping_privileges());
        assert!(filter(&["@process capset"]).allows_dropping_privileges());
        assert!(filter(&["~@mount @swap"]).allows_dropping_privileges());
        assert!(filter(&["~@privileged", ""]).allows_dropping_privileges());
        assert!(filter(&["@system-service", "~@resources"]).allows_dropping_privileges());
    }

    #[test]
    fn lists_that_do_not() {
        assert!(!filter(&["@basic-io"]).allows_dropping_privileges());
        assert!(!filter(&["~@privileged"]).allows_dropping_privileges());
        assert!(
            !filter(&["@system-service", "~@privileged @resources"]).allows_dropping_privileges()
        );
        assert!(!filter(&["~prctl:EPERM"]).allows_dropping_privileges());
        // An allow list naming a call with an errno makes it fail: listed.
        assert!(filter(&["@system-service", "~capset:EPERM"]).allows_dropping_privileges());
        // A bad errno drops the word.
        assert!(filter(&["~capset:nope"]).allows_dropping_privileges());
    }
}

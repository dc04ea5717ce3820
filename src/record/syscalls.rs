//! The system calls that say what a capability check, or a need for root
//! that no check shows (uid 0 writing files it owns), was for: which file,
//! port, user or directory.
//!
//! Their entries and exits are the kernel's static `syscalls` tracepoints
//! (cheap to enable, nothing to register): the entry gives the numbers and
//! the address of a path in the caller's memory, the exit the result, and
//! between them every capability check of the same task belongs to the
//! call. The path itself is read by a few kprobes on the kernel functions
//! that receive its kernel copy (a `struct filename`, whose first fields
//! are that copy and the caller's address), matched by that address; a
//! socket address by one kprobe on the bind entry point, which carries the
//! caller's registers.

/// What a system call does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// open, openat, creat: read, write or create, by the flags.
    Open,
    Mkdir,
    Remove,
    /// A new name (rename, link, symlink, mknod).
    Link,
    Chown,
    Chmod,
    Truncate,
    Bind,
    SetUid,
    SetGid,
    SetGroups,
    Chroot,
    Chdir,
    Kill,
}

/// One traced system call, with its parameters as the tracepoint names
/// them.
#[derive(Debug, PartialEq, Eq)]
pub struct Syscall {
    pub name: &'static str,
    pub effect: Effect,
    /// The parameter holding the path of the object (the new name, for
    /// the calls that make one).
    path: Option<&'static str>,
    /// Numeric parameters kept, as `(tracepoint name, name used here)`:
    /// the directory descriptor, flags, ids.
    numbers: &'static [(&'static str, &'static str)],
}

use Effect as E;

const DFD: (&str, &str) = ("dfd", "dfd");

/// The traced calls. Architectures without the old calls (open, mkdir…)
/// simply lack their tracepoints, which are then left out.
pub const SYSCALLS: &[Syscall] = &[
    call("open", E::Open, Some("filename"), &[("flags", "flags")]),
    call(
        "openat",
        E::Open,
        Some("filename"),
        &[DFD, ("flags", "flags")],
    ),
    call("creat", E::Open, Some("pathname"), &[]),
    call("mkdir", E::Mkdir, Some("pathname"), &[]),
    call("mkdirat", E::Mkdir, Some("pathname"), &[DFD]),
    call("unlink", E::Remove, Some("pathname"), &[]),
    call("rmdir", E::Remove, Some("pathname"), &[]),
    call("unlinkat", E::Remove, Some("pathname"), &[DFD]),
    call("rename", E::Link, Some("newname"), &[]),
    call("renameat", E::Link, Some("newname"), &[("newdfd", "dfd")]),
    call("renameat2", E::Link, Some("newname"), &[("newdfd", "dfd")]),
    call("link", E::Link, Some("newname"), &[]),
    call("linkat", E::Link, Some("newname"), &[("newdfd", "dfd")]),
    call("symlink", E::Link, Some("newname"), &[]),
    call("symlinkat", E::Link, Some("newname"), &[("newdfd", "dfd")]),
    call("mknod", E::Link, Some("filename"), &[]),
    call("mknodat", E::Link, Some("filename"), &[DFD]),
    call("chown", E::Chown, Some("filename"), &[("user", "uid")]),
    call("lchown", E::Chown, Some("filename"), &[("user", "uid")]),
    call(
        "fchownat",
        E::Chown,
        Some("filename"),
        &[DFD, ("user", "uid")],
    ),
    call("fchown", E::Chown, None, &[("user", "uid")]),
    call("chmod", E::Chmod, Some("filename"), &[]),
    call("fchmodat", E::Chmod, Some("filename"), &[DFD]),
    call("truncate", E::Truncate, Some("path"), &[]),
    call("bind", E::Bind, None, &[]),
    call("setuid", E::SetUid, None, &[("uid", "uid")]),
    call("setreuid", E::SetUid, None, &[("euid", "uid")]),
    call("setresuid", E::SetUid, None, &[("euid", "uid")]),
    call("setgid", E::SetGid, None, &[("gid", "gid")]),
    call("setregid", E::SetGid, None, &[("egid", "gid")]),
    call("setresgid", E::SetGid, None, &[("egid", "gid")]),
    call("setgroups", E::SetGroups, None, &[]),
    call("chroot", E::Chroot, Some("filename"), &[]),
    call("chdir", E::Chdir, Some("filename"), &[]),
    call(
        "kill",
        E::Kill,
        None,
        &[("pid", "target"), ("sig", "signal")],
    ),
];

const fn call(
    name: &'static str,
    effect: Effect,
    path: Option<&'static str>,
    numbers: &'static [(&'static str, &'static str)],
) -> Syscall {
    Syscall {
        name,
        effect,
        path,
        numbers,
    }
}

/// The traced call named `name`.
pub fn by_name(name: &str) -> Option<&'static Syscall> {
    SYSCALLS.iter().find(|s| s.name == name)
}

impl Syscall {
    /// The tracepoints of its entry and exit (`syscalls/...`).
    pub fn events(&self) -> [String; 2] {
        [
            format!("syscalls/sys_enter_{}", self.name),
            format!("syscalls/sys_exit_{}", self.name),
        ]
    }
}

/// Kernel functions that receive the kernel's copy of a path argument
/// (`struct filename *`), with the argument's position (1-based). Their
/// signatures are those of Linux 5.15 and later, but `do_filp_open`'s,
/// which is older.
const NAME_RECEIVERS: [(&str, usize); 8] = [
    ("do_filp_open", 2),
    ("do_mkdirat", 2),
    ("do_unlinkat", 2),
    ("do_rmdir", 2),
    ("do_renameat2", 4),
    ("do_linkat", 4),
    ("do_symlinkat", 3),
    ("do_mknodat", 2),
];

/// The event name prefix of the path-copy probes.
pub const NAME_EVENT_PREFIX: &str = "name_";

/// The event name of the socket address probe.
pub const ADDRESS_EVENT: &str = "bind_address";

/// The probes that see the kernel's copies of path arguments, as `(kernel
/// function, kprobe_events line)`: the functions above at entry (all of
/// them from Linux 5.15 on, else `do_filp_open` only), and
/// `getname_flags` at return (the calls that look a path up: chown,
/// chmod, chroot, chdir, truncate).
pub fn name_probe_definitions(group: &str, since_5_15: bool) -> Vec<(&'static str, String)> {
    let fields = |at: &str| format!("uptr=+8({at}):x64 path=+0(+0({at})):string");
    let mut out: Vec<(&'static str, String)> = NAME_RECEIVERS
        .iter()
        .filter(|(function, _)| since_5_15 || *function == "do_filp_open")
        .map(|(function, n)| {
            let at = format!("$arg{n}");
            (
                *function,
                format!(
                    "p:{group}/{NAME_EVENT_PREFIX}{function} {function} {}",
                    fields(&at)
                ),
            )
        })
        .collect();
    out.push((
        "getname_flags",
        format!(
            "r:{group}/{NAME_EVENT_PREFIX}getname_flags getname_flags {}",
            fields("$retval")
        ),
    ));
    out
}

/// The kprobe on bind's entry point that reads the socket address from
/// the caller's memory (its family, the port in network order, and a unix
/// socket's path), as `(kernel function, kprobe_events line)`; None on an
/// architecture whose saved registers capcheck does not know.
pub fn address_probe_definition(group: &str) -> Option<(String, String)> {
    // The entry point and where its saved registers keep the second
    // argument (`struct pt_regs`: si on x86_64, regs[1] on aarch64).
    let (entry, second) = if cfg!(target_arch = "x86_64") {
        ("__x64_sys_bind", 104)
    } else if cfg!(target_arch = "aarch64") {
        ("__arm64_sys_bind", 8)
    } else {
        return None;
    };
    let r = format!("+{second}($arg1)");
    Some((
        entry.to_string(),
        format!(
            "p:{group}/{ADDRESS_EVENT} {entry} family=+u0({r}):u16 port=+u2({r}):u16 path=+2({r}):ustring"
        ),
    ))
}

/// One traced call, as its entry tracepoint saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub syscall: &'static Syscall,
    /// The numeric arguments by the names used here (`dfd`, `flags`,
    /// `uid`…); a socket address adds `family` and `port`.
    pub numbers: Vec<(&'static str, i64)>,
    /// The path, once a probe read it (or a unix socket's path).
    pub path: Option<String>,
    /// Where the path argument is in the caller's memory.
    pub pointer: Option<u64>,
}

/// A tracepoint field's value. Linux 6.1 prints every value in hex
/// without `0x` (`dfd: ffffff9c, filename: 7ffc3eaa1f9a`); later releases
/// print `0x` before hex and descriptors and zero in decimal (`fd: 3,
/// umyaddr: 0x7fffe431e310`). `prefixed` says which style the line has.
fn value_of(text: &str, prefixed: bool) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None if prefixed => text.parse().ok(),
        None => u64::from_str_radix(text, 16).ok(),
    }
}

/// The fields of an entry tracepoint's line body.
fn entry_fields(body: &str) -> Vec<(&str, u64)> {
    let prefixed = body.contains("0x");
    body.split(", ")
        .filter_map(|f| {
            let (name, value) = f.split_once(": ")?;
            let first = value.split_whitespace().next()?;
            Some((name.trim(), value_of(first, prefixed)?))
        })
        .collect()
}

impl Call {
    /// Reads an entry tracepoint's fields. Numbers are the C `int`s they
    /// are (-1 for "unchanged", -100 for the working directory).
    pub fn parse(syscall: &'static Syscall, body: &str) -> Call {
        let fields = entry_fields(body);
        let value = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let numbers = syscall
            .numbers
            .iter()
            .filter_map(|(field, name)| Some((*name, i64::from(value(field)? as u32 as i32))))
            .collect();
        Call {
            syscall,
            numbers,
            path: None,
            pointer: syscall.path.and_then(value),
        }
    }

    pub fn number(&self, name: &str) -> Option<i64> {
        self.numbers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// An exit tracepoint's result (`0x3`, or a negative errno as 64 bits).
pub fn parse_return(text: &str) -> Option<i64> {
    value_of(text, text.trim().starts_with("0x")).map(|v| v as i64)
}

/// The fields of a probe's trace line (`name=value ...`); a string value
/// is quoted and, being last, runs to the closing quote at the line's end.
pub fn fields(body: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = body.trim_start();
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim();
        let value = &rest[eq + 1..];
        if let Some(quoted) = value.strip_prefix('"') {
            let end = quoted.rfind('"').unwrap_or(quoted.len());
            out.push((name, &quoted[..end]));
            break;
        }
        let end = value.find(' ').unwrap_or(value.len());
        out.push((name, &value[..end]));
        rest = value[end..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_give_numbers_and_the_path_s_address() {
        let openat = by_name("openat").unwrap();
        let call = Call::parse(
            openat,
            "dfd: 0xffffff9c, filename: 0x7ffd2045aad6, flags: 0x80241, mode: 0x1b6",
        );
        assert_eq!(call.numbers, [("dfd", -100), ("flags", 0x80241)]);
        assert_eq!(call.pointer, Some(0x7ffd2045aad6));
        // Linux 6.1's style: hex without 0x.
        let setresuid = Call::parse(
            by_name("setresuid").unwrap(),
            "ruid: 21, euid: 21, suid: ffffffff",
        );
        assert_eq!(setresuid.number("uid"), Some(33));
        // Linux 6.18 prints descriptors and zero in decimal.
        let kill = Call::parse(by_name("kill").unwrap(), "pid: 0x1092, sig: 0xf");
        assert_eq!(
            (kill.number("target"), kill.number("signal")),
            (Some(4242), Some(15))
        );
        assert_eq!(parse_return("0x3"), Some(3));
        assert_eq!(parse_return("0xfffffffffffffff3"), Some(-13));
    }

    #[test]
    fn probes_read_the_kernel_s_copies() {
        let names = name_probe_definitions("g", true);
        assert_eq!(
            names[0],
            (
                "do_filp_open",
                "p:g/name_do_filp_open do_filp_open uptr=+8($arg2):x64 path=+0(+0($arg2)):string"
                    .to_string()
            )
        );
        assert_eq!(
            names[8].1,
            "r:g/name_getname_flags getname_flags uptr=+8($retval):x64 path=+0(+0($retval)):string"
        );
        assert_eq!(name_probe_definitions("g", false).len(), 2);
        if cfg!(target_arch = "x86_64") {
            let (entry, bind) = address_probe_definition("g").unwrap();
            assert_eq!(entry, "__x64_sys_bind");
            assert!(
                bind.ends_with(" family=+u0(+104($arg1)):u16 port=+u2(+104($arg1)):u16 path=+2(+104($arg1)):ustring"),
                "{bind}"
            );
        }
    }

    #[test]
    fn fields_of_a_line() {
        assert_eq!(
            fields(" family=10 port=20480 path=\"/run/a b \"quoted\".sock\""),
            [
                ("family", "10"),
                ("port", "20480"),
                ("path", "/run/a b \"quoted\".sock")
            ]
        );
        assert_eq!(
            fields("uptr=0x7f path=(fault)"),
            [("uptr", "0x7f"), ("path", "(fault)")]
        );
    }
}

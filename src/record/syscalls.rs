//! The system calls that say what a capability check, or a need for root
//! that no check shows (uid 0 writing files it owns), was for: which file,
//! port, user or directory. They are traced with kprobes on the kernel's
//! system call entry points, whose one argument is the caller's saved
//! registers: a string argument is read from the caller's memory at the
//! moment of the call. A return probe on the same entry point gives the
//! result and closes the call, so that a check is attributed only to the
//! call it was made in.

/// How the kernel's entry points are named, and where the saved registers
/// keep the system call's arguments (`struct pt_regs`).
struct Abi {
    prefix: &'static str,
    /// Byte offsets of arguments 1 to 6 in `struct pt_regs`.
    offsets: [usize; 6],
}

#[cfg(target_arch = "x86_64")]
const ABI: Option<Abi> = Some(Abi {
    prefix: "__x64_sys_",
    // di, si, dx, r10, r8, r9
    offsets: [112, 104, 96, 56, 72, 64],
});

#[cfg(target_arch = "aarch64")]
const ABI: Option<Abi> = Some(Abi {
    prefix: "__arm64_sys_",
    // regs[0] to regs[5]
    offsets: [0, 8, 16, 24, 32, 40],
});

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ABI: Option<Abi> = None;

/// What a traced argument is; the number is its position (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// A signed 32-bit number: a descriptor, an id (-1 leaves it).
    Int(usize),
    /// Flags or a mode.
    Bits(usize),
    /// A path in the caller's memory.
    Path(usize),
    /// A `struct sockaddr`: its family, and the port (inet) or the path
    /// (unix) after it.
    SocketAddress(usize),
}

/// What a system call does to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// open, openat, creat: read, write or create, by the flags.
    Open,
    Mkdir,
    Remove,
    Rename,
    Chown,
    Chmod,
    /// A new name: link, symlink, mknod.
    Link,
    Truncate,
    Bind,
    SetUid,
    SetGid,
    SetGroups,
    Chroot,
    Chdir,
    Kill,
}

/// One traced system call.
#[derive(Debug, PartialEq, Eq)]
pub struct Syscall {
    pub name: &'static str,
    pub effect: Effect,
    /// The arguments, by the names trace lines give them. A path comes
    /// last: a string value runs to the end of its line.
    args: &'static [(&'static str, Arg)],
}

use Arg::{Bits, Int, Path, SocketAddress};
use Effect as E;

/// The traced calls. Architectures without the old calls (open, mkdir…)
/// simply lack their entry points, which are then left out.
pub const SYSCALLS: &[Syscall] = &[
    call("open", E::Open, &[("flags", Bits(1)), ("path", Path(0))]),
    call(
        "openat",
        E::Open,
        &[("dfd", Int(0)), ("flags", Bits(2)), ("path", Path(1))],
    ),
    call("creat", E::Open, &[("path", Path(0))]),
    call("mkdir", E::Mkdir, &[("path", Path(0))]),
    call("mkdirat", E::Mkdir, &[("dfd", Int(0)), ("path", Path(1))]),
    call("unlink", E::Remove, &[("path", Path(0))]),
    call("rmdir", E::Remove, &[("path", Path(0))]),
    call("unlinkat", E::Remove, &[("dfd", Int(0)), ("path", Path(1))]),
    call("rename", E::Rename, &[("path", Path(1))]),
    call("renameat", E::Rename, &[("dfd", Int(2)), ("path", Path(3))]),
    call(
        "renameat2",
        E::Rename,
        &[("dfd", Int(2)), ("path", Path(3))],
    ),
    call(
        "chown",
        E::Chown,
        &[("uid", Int(1)), ("gid", Int(2)), ("path", Path(0))],
    ),
    call(
        "lchown",
        E::Chown,
        &[("uid", Int(1)), ("gid", Int(2)), ("path", Path(0))],
    ),
    call(
        "fchownat",
        E::Chown,
        &[
            ("dfd", Int(0)),
            ("uid", Int(2)),
            ("gid", Int(3)),
            ("path", Path(1)),
        ],
    ),
    call(
        "fchown",
        E::Chown,
        &[("fd", Int(0)), ("uid", Int(1)), ("gid", Int(2))],
    ),
    call("chmod", E::Chmod, &[("mode", Bits(1)), ("path", Path(0))]),
    call(
        "fchmodat",
        E::Chmod,
        &[("dfd", Int(0)), ("mode", Bits(2)), ("path", Path(1))],
    ),
    call("link", E::Link, &[("path", Path(1))]),
    call("linkat", E::Link, &[("dfd", Int(2)), ("path", Path(3))]),
    call("symlink", E::Link, &[("path", Path(1))]),
    call("symlinkat", E::Link, &[("dfd", Int(1)), ("path", Path(2))]),
    call("mknod", E::Link, &[("path", Path(0))]),
    call("mknodat", E::Link, &[("dfd", Int(0)), ("path", Path(1))]),
    call("truncate", E::Truncate, &[("path", Path(0))]),
    call(
        "bind",
        E::Bind,
        &[("fd", Int(0)), ("address", SocketAddress(1))],
    ),
    call("setuid", E::SetUid, &[("uid", Int(0))]),
    call("setreuid", E::SetUid, &[("ruid", Int(0)), ("uid", Int(1))]),
    call(
        "setresuid",
        E::SetUid,
        &[("ruid", Int(0)), ("uid", Int(1)), ("suid", Int(2))],
    ),
    call("setgid", E::SetGid, &[("gid", Int(0))]),
    call("setregid", E::SetGid, &[("rgid", Int(0)), ("gid", Int(1))]),
    call(
        "setresgid",
        E::SetGid,
        &[("rgid", Int(0)), ("gid", Int(1)), ("sgid", Int(2))],
    ),
    call("setgroups", E::SetGroups, &[("size", Int(0))]),
    call("chroot", E::Chroot, &[("path", Path(0))]),
    call("chdir", E::Chdir, &[("path", Path(0))]),
    call("kill", E::Kill, &[("target", Int(0)), ("signal", Int(1))]),
];

const fn call(name: &'static str, effect: Effect, args: &'static [(&'static str, Arg)]) -> Syscall {
    Syscall { name, effect, args }
}

/// Kernel functions that receive the kernel's copy of a path argument
/// (`struct filename *`, whose first two fields are the copy and the
/// caller's pointer), with the argument's position (1-based). Their
/// signatures are those of Linux 5.15 and later.
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

/// The event name of a path-copy probe on `function`.
pub const NAME_EVENT_PREFIX: &str = "name_";

/// The probes that see the kernel's copies of path arguments, as `(kernel
/// function, kprobe_events line)`: the functions above at entry, and
/// `getname_flags` at return (the calls that look a path up: chown, chmod,
/// chroot, chdir, truncate).
pub fn name_probe_definitions(group: &str) -> Vec<(&'static str, String)> {
    let fields = |at: &str| format!("uptr=+8({at}):x64 path=+0(+0({at})):string");
    let mut out: Vec<(&'static str, String)> = NAME_RECEIVERS
        .iter()
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

/// The traced call named `name`.
pub fn by_name(name: &str) -> Option<&'static Syscall> {
    SYSCALLS.iter().find(|s| s.name == name)
}

/// Whether this architecture's system calls can be traced this way.
pub fn supported() -> bool {
    ABI.is_some()
}

impl Syscall {
    /// The kernel function the probes attach to.
    pub fn entry_point(&self) -> Option<String> {
        ABI.as_ref()
            .map(|abi| format!("{}{}", abi.prefix, self.name))
    }

    /// The event names of the entry and return probes.
    pub fn events(&self) -> [String; 2] {
        [format!("{}_in", self.name), format!("{}_out", self.name)]
    }

    /// The `kprobe_events` lines that define the entry probe (with the
    /// arguments) and the return probe (with the result).
    pub fn kprobe_definitions(&self, group: &str) -> Option<[String; 2]> {
        let abi = ABI.as_ref()?;
        let entry = self.entry_point()?;
        let [event_in, event_out] = self.events();
        let mut fetch = String::new();
        for (label, arg) in self.args {
            let regs = |n: usize| format!("+{}($arg1)", abi.offsets[n]);
            match arg {
                Int(n) => fetch.push_str(&format!(" {label}={}:s32", regs(*n))),
                Bits(n) => fetch.push_str(&format!(" {label}={}:x32", regs(*n))),
                // The pointer too: a string the kernel cannot read here
                // (a page not yet faulted in) is matched by it with the
                // kernel's own copy (`name_probe_definitions`).
                Path(n) => fetch.push_str(&format!(
                    " pointer={r}:x64 {label}=+0({r}):ustring",
                    r = regs(*n)
                )),
                // The family, the port (network order) of an inet address,
                // and, last, the path of a unix one.
                SocketAddress(n) => fetch.push_str(&format!(
                    " family=+u0({r}):u16 port=+u2({r}):u16 path=+2({r}):ustring",
                    r = regs(*n)
                )),
            }
        }
        Some([
            format!("p:{group}/{event_in} {entry}{fetch}"),
            format!("r:{group}/{event_out} {entry} ret=$retval:s64"),
        ])
    }
}

/// One traced call, as its entry probe saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub syscall: &'static Syscall,
    /// The numeric arguments by name (`dfd`, `flags`, `uid`…).
    pub numbers: Vec<(&'static str, i64)>,
    /// The path argument (or a unix socket's path), when it could be read.
    pub path: Option<String>,
    /// Where the path argument is in the caller's memory.
    pub pointer: Option<u64>,
}

impl Call {
    /// Reads an entry probe's fields.
    pub fn parse(syscall: &'static Syscall, body: &str) -> Call {
        let fields = fields(body);
        let value = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let number = |text: &str| match text.strip_prefix("0x") {
            Some(hex) => i64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        };
        let mut numbers = Vec::new();
        for (label, arg) in syscall.args {
            match arg {
                Int(_) | Bits(_) => {
                    if let Some(n) = value(label).and_then(number) {
                        numbers.push((*label, n));
                    }
                }
                Path(_) => {}
                SocketAddress(_) => {
                    for label in ["family", "port"] {
                        if let Some(n) = value(label).and_then(number) {
                            numbers.push((label, n));
                        }
                    }
                }
            }
        }
        // A string the kernel could not read shows as `(fault)`, unquoted.
        let quoted = body.contains("path=\"");
        let path = value("path").filter(|_| quoted).map(str::to_string);
        let pointer = value("pointer")
            .and_then(|p| p.strip_prefix("0x"))
            .and_then(|p| u64::from_str_radix(p, 16).ok());
        Call {
            syscall,
            numbers,
            path,
            pointer,
        }
    }

    pub fn number(&self, name: &str) -> Option<i64> {
        self.numbers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
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
    #[cfg(target_arch = "x86_64")]
    fn probes_read_arguments_from_the_saved_registers() {
        let [entry, exit] = by_name("openat")
            .unwrap()
            .kprobe_definitions("capcheck_9")
            .unwrap();
        assert_eq!(
            entry,
            "p:capcheck_9/openat_in __x64_sys_openat dfd=+112($arg1):s32 flags=+96($arg1):x32 pointer=+104($arg1):x64 path=+0(+104($arg1)):ustring"
        );
        let names = name_probe_definitions("g");
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
        assert_eq!(
            exit,
            "r:capcheck_9/openat_out __x64_sys_openat ret=$retval:s64"
        );
        let [bind, _] = by_name("bind").unwrap().kprobe_definitions("g").unwrap();
        assert!(
            bind.ends_with(" family=+u0(+104($arg1)):u16 port=+u2(+104($arg1)):u16 path=+2(+104($arg1)):ustring"),
            "{bind}"
        );
    }

    #[test]
    fn every_path_comes_last() {
        for s in SYSCALLS {
            let last = s.args.len() - 1;
            for (i, (_, arg)) in s.args.iter().enumerate() {
                if matches!(arg, Path(_) | SocketAddress(_)) {
                    assert_eq!(i, last, "{}", s.name);
                }
            }
        }
    }

    #[test]
    fn fields_of_a_line() {
        assert_eq!(
            fields(" dfd=-100 flags=0x80241 path=\"/run/a b \"quoted\".pid\""),
            [
                ("dfd", "-100"),
                ("flags", "0x80241"),
                ("path", "/run/a b \"quoted\".pid")
            ]
        );
        assert_eq!(fields("ret=-13"), [("ret", "-13")]);
    }
}

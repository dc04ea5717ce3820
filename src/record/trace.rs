//! Reading the trace: `cap_capable` events with their kernel stacks, and
//! `sched_process_exec`/`sched_process_fork` events for attribution; then
//! separating need from noise.

use super::access::{self, Access};
use super::syscalls::{self, Call};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One capability check the kernel made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub pid: u32,
    pub cap: u8,
    pub granted: bool,
    /// Kernel functions, innermost first (from the stacktrace trigger).
    pub stack: Vec<String>,
}

/// A trace line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Check(Check),
    Exec {
        pid: u32,
        filename: String,
    },
    Fork {
        parent: u32,
        child: u32,
    },
    /// A traced system call begins (its arguments).
    Call {
        pid: u32,
        call: Call,
    },
    /// A traced system call returns (`ret`: the result, or -errno).
    Return {
        pid: u32,
        ret: i64,
    },
    /// The kernel's copy of a path the caller passed at `pointer`.
    Name {
        pid: u32,
        pointer: u64,
        path: String,
    },
    /// The socket address a bind names: its family, the port of an inet
    /// address, the path of a unix one.
    Address {
        pid: u32,
        family: u16,
        port: Option<u16>,
        path: Option<String>,
    },
}

/// Parses the text of a trace (trace or trace_pipe) into events; stack
/// lines (` => fn`) attach to the check before them.
#[derive(Default)]
pub struct Parser {
    events: Vec<Event>,
    partial: String,
    /// Kprobe fallback: checks seen at `cap_capable` entry, per pid, waiting
    /// for the return probe's result.
    pending: HashMap<u32, Check>,
    /// Where stack lines go: the pending check of this pid, or else the
    /// last event.
    stack_of_pending: Option<u32>,
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(name)? + name.len();
    let rest = &text[start..];
    Some(rest.split([' ', ',']).next().unwrap_or(rest))
}

/// The pid of a trace line's task column (`comm-pid [cpu] ...`).
fn task_pid(line: &str) -> Option<u32> {
    let head = line[..line.find(" [")?].trim();
    head.rsplit('-').next()?.parse().ok()
}

/// What follows a trace line's task, cpu, flags and timestamp columns
/// (`comm-pid [cpu] flags ts: REST`).
fn event_text(line: &str) -> Option<&str> {
    let after_cpu = &line[line.find("] ")? + 2..];
    Some(&after_cpu[after_cpu.find(": ")? + 2..])
}

/// A kprobe's event (`name: (function+0x0/0x70) fields`): the name and
/// the fields after the location.
fn probe_event(text: &str) -> Option<(&str, &str)> {
    let (name, body) = text.split_once(": (")?;
    Some((name, &body[body.find(") ")? + 2..]))
}

/// A system call tracepoint's event: `sys_openat(dfd: 0xffffff9c, ...)` at
/// entry, `sys_openat -> 0x3` at exit.
enum SyscallEvent<'a> {
    Entry(&'static syscalls::Syscall, &'a str),
    Exit(&'a str),
}

fn syscall_event(text: &str) -> Option<SyscallEvent<'_>> {
    let rest = text.strip_prefix("sys_")?;
    if let Some((name, ret)) = rest.split_once(" -> ") {
        syscalls::by_name(name)?;
        return Some(SyscallEvent::Exit(ret));
    }
    let (name, args) = rest.split_once('(')?;
    let args = args.strip_suffix(')').unwrap_or(args);
    Some(SyscallEvent::Entry(syscalls::by_name(name)?, args))
}

impl Parser {
    /// Feeds more trace text (it may end in the middle of a line).
    pub fn feed(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end());
        }
    }

    fn line(&mut self, line: &str) {
        if let Some(frame) = line.trim_start().strip_prefix("=> ") {
            let check = match self.stack_of_pending {
                Some(pid) => self.pending.get_mut(&pid),
                None => match self.events.last_mut() {
                    Some(Event::Check(check)) => Some(check),
                    _ => None,
                },
            };
            if let Some(check) = check {
                check.stack.push(frame.trim().to_string());
            }
            return;
        }
        if line.ends_with(": <stack trace>") {
            return;
        }
        self.stack_of_pending = None;
        if line.starts_with('#') {
            return;
        }
        if let (Some(pid), Some(text)) = (task_pid(line), event_text(line)) {
            match syscall_event(text) {
                Some(SyscallEvent::Entry(syscall, args)) => {
                    let call = Call::parse(syscall, args);
                    self.events.push(Event::Call { pid, call });
                    return;
                }
                Some(SyscallEvent::Exit(ret)) => {
                    if let Some(ret) = syscalls::parse_return(ret) {
                        self.events.push(Event::Return { pid, ret });
                    }
                    return;
                }
                None => {}
            }
            if let Some((name, fields)) = probe_event(text) {
                let fields = syscalls::fields(fields);
                let value = |n: &str| fields.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
                // A string the kernel could not read shows as `(fault)`.
                let path = value("path")
                    .filter(|p| *p != "(fault)")
                    .map(str::to_string);
                if name.starts_with(syscalls::NAME_EVENT_PREFIX) {
                    let pointer = value("uptr")
                        .and_then(|p| p.strip_prefix("0x"))
                        .and_then(|p| u64::from_str_radix(p, 16).ok());
                    if let (Some(pointer), Some(path)) = (pointer, path) {
                        self.events.push(Event::Name { pid, pointer, path });
                    }
                    return;
                }
                if name == syscalls::ADDRESS_EVENT {
                    let number = |n: &str| value(n).and_then(|v| v.parse::<u16>().ok());
                    if let Some(family) = number("family") {
                        self.events.push(Event::Address {
                            pid,
                            family,
                            port: number("port").map(u16::from_be),
                            path,
                        });
                    }
                    return;
                }
            }
        }
        // The kprobe fallback: `cap_capable: (cap_capable+0x0/0x..) cap=13`
        // at entry, `cap_capable_ret: (caller+0x.. <- cap_capable) ret=0`.
        if let Some(at) = line.find("cap_capable_ret: (") {
            let ret = field(&line[at..], "ret=").and_then(|r| r.parse::<i64>().ok());
            if let (Some(pid), Some(ret)) = (task_pid(line), ret) {
                if let Some(mut check) = self.pending.remove(&pid) {
                    check.granted = ret == 0;
                    self.events.push(Event::Check(check));
                }
            }
        } else if let Some(at) = line.find("cap_capable: (") {
            let cap = field(&line[at..], "cap=").and_then(|c| c.parse::<u8>().ok());
            if let (Some(pid), Some(cap)) = (task_pid(line), cap) {
                self.pending.insert(
                    pid,
                    Check {
                        pid,
                        cap,
                        granted: false,
                        stack: Vec::new(),
                    },
                );
                self.stack_of_pending = Some(pid);
            }
        } else if let Some(at) = line.find("cap_capable: ") {
            let body = &line[at..];
            let cap = field(body, "cap ").and_then(|c| c.parse::<u8>().ok());
            let ret = field(body, "ret ").and_then(|r| r.parse::<i64>().ok());
            if let (Some(pid), Some(cap), Some(ret)) = (task_pid(line), cap, ret) {
                self.events.push(Event::Check(Check {
                    pid,
                    cap,
                    granted: ret == 0,
                    stack: Vec::new(),
                }));
            }
        } else if let Some(at) = line.find("sched_process_exec: ") {
            let body = &line[at..];
            if let (Some(filename), Some(pid)) = (
                field(body, "filename="),
                field(body, " pid=").and_then(|p| p.parse().ok()),
            ) {
                self.events.push(Event::Exec {
                    pid,
                    filename: filename.to_string(),
                });
            }
        } else if let Some(at) = line.find("sched_process_fork: ") {
            let body = &line[at..];
            let parent = field(body, " pid=").and_then(|p| p.parse().ok());
            let child = field(body, "child_pid=").and_then(|p| p.parse().ok());
            if let (Some(parent), Some(child)) = (parent, child) {
                self.events.push(Event::Fork { parent, child });
            }
        }
    }

    pub fn finish(mut self) -> Vec<Event> {
        let rest = std::mem::take(&mut self.partial);
        self.line(rest.trim_end());
        self.events
    }

    pub fn checks_seen(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Check(_)))
            .count()
    }
}

/// Why a check is not evidence of need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Noise {
    /// Made by capcheck's launcher, or inside execve before the program.
    Launcher,
    /// CAP_SYS_ADMIN probes of memory accounting (`security_vm_enough_memory_mm`).
    MemoryAccounting,
    /// Probes of capset(2) (libcap growing the inheritable set).
    Capset,
    /// setuid/setgid to the process's own ids, refused and then allowed.
    SetidToSelf,
    /// CAP_NET_ADMIN probes of the mode of /proc/sys/net files
    /// (`net_ctl_permissions`).
    NetSysctlMode,
}

/// Kernel helpers between the caller and `cap_capable`: skipped when
/// naming a call site.
const HELPERS: [&str; 14] = [
    "trace_event_raw_event_cap_capable",
    "cap_capable",
    "security_capable",
    "ns_capable_common",
    "ns_capable",
    "ns_capable_noaudit",
    "ns_capable_setid",
    "capable",
    "has_ns_capability",
    "has_ns_capability_noaudit",
    "has_capability_noaudit",
    "file_ns_capable",
    "capable_wrt_inode_uidgid",
    "sk_ns_capable",
];

fn call_site(stack: &[String]) -> Option<String> {
    // Frames above `cap_capable` are the tracing machinery (the tracepoint,
    // or kprobe_dispatcher and its trampoline).
    let callers = stack
        .iter()
        .position(|f| f.split('+').next() == Some("cap_capable"))
        .map_or(stack, |at| &stack[at + 1..]);
    callers
        .iter()
        .map(|f| f.split('+').next().unwrap_or(f))
        .find(|f| !HELPERS.contains(f) && !f.starts_with("bpf_") && !f.starts_with("__traceiter"))
        .map(str::to_string)
}

fn noise(check: &Check) -> Option<Noise> {
    let has = |name: &str| check.stack.iter().any(|f| f.starts_with(name));
    if check.cap == 21 && has("security_vm_enough_memory_mm") {
        return Some(Noise::MemoryAccounting);
    }
    if has("cap_capset") {
        return Some(Noise::Capset);
    }
    // net/sysctl_net.c: net_ctl_permissions() asks
    // ns_capable_noaudit(CAP_NET_ADMIN) for every stat or open of a
    // /proc/sys/net file, and a grant only copies the owner's mode bits to
    // group and other. The tables belong to root, so root has the owner's
    // bits anyway, and the common 0644 tables are readable by all: the
    // check decides nothing for root nor for a reader. (A non-root process
    // that writes a network sysctl does depend on it; such daemons, e.g.
    // systemd-networkd, need CAP_NET_ADMIN for their netlink calls too.)
    if check.cap == 12 && has("net_ctl_permissions") {
        return Some(Noise::NetSysctlMode);
    }
    let setid = [
        "__sys_setuid",
        "__sys_setgid",
        "__sys_setreuid",
        "__sys_setregid",
        "__sys_setresuid",
        "__sys_setresgid",
        "__sys_setfsuid",
        "__sys_setfsgid",
    ];
    if (check.cap == 6 || check.cap == 7) && !check.granted && setid.iter().any(|s| has(s)) {
        return Some(Noise::SetidToSelf);
    }
    None
}

/// What the recording says about one capability.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub granted: u64,
    pub denied: u64,
    pub binaries: BTreeSet<String>,
    pub call_sites: BTreeSet<String>,
}

/// The result of a recording.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub caps: BTreeMap<u8, Observed>,
    pub noise: BTreeMap<Noise, u64>,
    pub checks: u64,
    /// The trace showed the started process's exec: without it the trace
    /// is blind to the process (a PID namespace hides its host pid).
    pub exec_seen: bool,
    /// What the program did to what (files, ports, users), when the
    /// kernel let capcheck trace system calls.
    pub accesses: Vec<Access>,
    /// Accesses beyond what a recording keeps.
    pub accesses_dropped: u64,
}

/// A process known when tracing starts: its program (None for capcheck's
/// launcher before it execs the program) and effective uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub program: Option<String>,
    pub uid: u32,
}

/// Attributes checks to the programs that made them and drops the noise.
/// `root_pid` is the process capcheck started as `uid`: its checks before
/// its first exec are the launcher's.
pub fn summarize(events: &[Event], root_pid: u32, uid: u32) -> Summary {
    let seed = Seed { program: None, uid };
    let mut summary = summarize_from(events, HashMap::from([(root_pid, seed)]));
    summary.exec_seen = events
        .iter()
        .any(|e| matches!(e, Event::Exec { pid, .. } if *pid == root_pid));
    summary
}

/// Summarizes the checks and accesses of processes known at the start.
pub fn summarize_from(events: &[Event], seeds: HashMap<u32, Seed>) -> Summary {
    let mut summary = Summary::default();
    let mut tracker = access::Tracker::default();
    let mut binary: HashMap<u32, Option<String>> = HashMap::new();
    for (pid, seed) in seeds {
        tracker.seed(pid, seed.uid);
        binary.insert(pid, seed.program);
    }
    for event in events {
        match event {
            Event::Fork { parent, child } => {
                let inherited = binary.get(parent).cloned().flatten();
                binary.insert(*child, inherited);
                tracker.fork(*parent, *child);
            }
            Event::Exec { pid, filename } => {
                binary.insert(*pid, Some(filename.clone()));
            }
            Event::Call { pid, call } => tracker.begin(*pid, call.clone()),
            Event::Name { pid, pointer, path } => tracker.name(*pid, *pointer, path),
            Event::Address {
                pid,
                family,
                port,
                path,
            } => tracker.address(*pid, *family, *port, path.as_deref()),
            Event::Return { pid, ret } => {
                let program = binary.get(pid).cloned().flatten();
                tracker.end(*pid, *ret, program.as_deref());
            }
            Event::Check(check) => {
                summary.checks += 1;
                let program = binary.get(&check.pid).cloned().flatten();
                let class = if program.is_none() {
                    Some(Noise::Launcher)
                } else {
                    noise(check)
                };
                if let Some(class) = class {
                    *summary.noise.entry(class).or_default() += 1;
                    continue;
                }
                tracker.check(check.pid, check.cap, check.granted);
                let observed = summary.caps.entry(check.cap).or_default();
                if check.granted {
                    observed.granted += 1;
                } else {
                    observed.denied += 1;
                }
                observed.binaries.extend(program);
                observed.call_sites.extend(call_site(&check.stack));
            }
        }
    }
    summary.accesses_dropped = tracker.dropped;
    summary.accesses = tracker.finish();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "\
# tracer: nop
            wrap-100   [000] .....  1.0: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 7, ret 0
            wrap-100   [000] .....  1.1: <stack trace>
 => trace_event_raw_event_cap_capable
 => cap_capable
 => __sys_setresuid
            ping-100   [001] .....  1.2: sched_process_exec: filename=/usr/bin/ping pid=100 old_pid=100
            ping-100   [001] .....  1.3: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 13, ret 0
            ping-100   [001] .....  1.3: <stack trace>
 => cap_capable
 => security_capable
 => ns_capable
 => inet_create
            ping-100   [001] .....  1.4: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 21, ret 0
 => cap_capable
 => security_vm_enough_memory_mm
            ping-100   [001] .....  1.5: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 7, ret -1
 => cap_capable
 => ns_capable_setid
 => __sys_setuid
            ping-100   [001] .....  1.6: sched_process_fork: comm=ping pid=100 child_comm=ping child_pid=101
        my-comm-101   [000] .....  1.7: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 34, ret -1
 => cap_capable
 => devkmsg_open
            ping-100   [001] .....  1.8: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 12, ret 0
 => cap_capable
 => security_capable
 => ns_capable_noaudit
 => net_ctl_permissions
 => proc_sys_permission
";

    /// The same checks as TRACE, as the kprobe fallback shows them: the
    /// capability at entry (with the stack), the result at return.
    const KPROBE_TRACE: &str = "\
            wrap-100   [000] d....  1.0: cap_capable: (cap_capable+0x0/0x90) cap=7
            wrap-100   [000] d....  1.0: <stack trace>
 => cap_capable
 => __sys_setresuid
            wrap-100   [000] d....  1.0: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=0
            ping-100   [001] .....  1.2: sched_process_exec: filename=/usr/bin/ping pid=100 old_pid=100
            ping-100   [001] d....  1.3: cap_capable: (cap_capable+0x0/0x90) cap=13
            ping-100   [001] d....  1.3: <stack trace>
 => kprobe_trace_func
 => kprobe_dispatcher
 => kprobe_ftrace_handler
 => 0xffffffffc04600c8
 => cap_capable
 => security_capable
 => ns_capable
 => inet_create
            ping-100   [001] d....  1.3: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=0
            ping-100   [001] d....  1.4: cap_capable: (cap_capable+0x0/0x90) cap=21
 => cap_capable
 => security_vm_enough_memory_mm
            ping-100   [001] d....  1.4: cap_capable_ret: (security_vm_enough_memory_mm+0x3d/0x60 <- cap_capable) ret=0
            ping-100   [001] d....  1.5: cap_capable: (cap_capable+0x0/0x90) cap=7
 => cap_capable
 => ns_capable_setid
 => __sys_setuid
            ping-100   [001] .....  1.6: sched_process_fork: comm=ping pid=100 child_comm=ping child_pid=101
        my-comm-101   [000] d....  1.7: cap_capable: (cap_capable+0x0/0x90) cap=34
 => cap_capable
 => devkmsg_open
            ping-100   [001] d....  1.7: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=-1
        my-comm-101   [000] d....  1.8: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=-1
            ping-100   [001] d....  1.8: cap_capable: (cap_capable+0x0/0x90) cap=12
 => cap_capable
 => security_capable
 => ns_capable_noaudit
 => net_ctl_permissions
 => proc_sys_permission
            ping-100   [001] d....  1.8: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=0
";

    /// A daemon's start as the syscall tracepoints and the path and
    /// address kprobes show it (Linux 6.1, kprobe fallback for the checks).
    const OBJECT_TRACE: &str = "\
           nginx-200   [000] .....  2.0: sched_process_exec: filename=/usr/sbin/nginx pid=200 old_pid=200
           nginx-200   [000] .....  2.1: sys_openat(dfd: ffffff9c, filename: 55d0c0ffee10, flags: 241, mode: 1a4)
           nginx-200   [000] d....  2.1: name_do_filp_open: (do_filp_open+0x0/0x120) uptr=0x55d0c0ffee10 path=\"/run/nginx.pid\"
           nginx-200   [000] .....  2.1: sys_openat -> 0x6
           nginx-200   [000] .....  2.2: sys_bind(fd: 6, umyaddr: 7ffd00001000, addrlen: 1c)
           nginx-200   [000] d....  2.2: bind_address: (__x64_sys_bind+0x0/0x20) family=10 port=20480 path=\"\"
           nginx-200   [000] d....  2.2: cap_capable: (cap_capable+0x0/0x90) cap=10
 => cap_capable
 => __inet6_bind
           nginx-200   [000] d....  2.2: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=0
           nginx-200   [000] .....  2.2: sys_bind -> 0x0
           nginx-200   [000] .....  2.3: sched_process_fork: comm=nginx pid=200 child_comm=nginx child_pid=201
           nginx-201   [001] .....  2.4: sys_setresuid(ruid: 21, euid: 21, suid: 21)
           nginx-201   [001] d....  2.4: cap_capable: (cap_capable+0x0/0x90) cap=7
 => cap_capable
 => __sys_setresuid
           nginx-201   [001] d....  2.4: cap_capable_ret: (ns_capable_common+0x3d/0x60 <- cap_capable) ret=0
           nginx-201   [001] .....  2.4: sys_setresuid -> 0x0
           nginx-201   [001] .....  2.5: sys_openat(dfd: ffffff9c, filename: 55d0c0ffee80, flags: 0, mode: 0)
           nginx-201   [001] .....  2.5: sys_openat -> 0xfffffffffffffff3
";

    #[test]
    fn each_check_is_for_the_call_in_flight() {
        let mut parser = Parser::default();
        parser.feed(OBJECT_TRACE);
        let summary = summarize(&parser.finish(), 200, 0);
        let found: Vec<_> = summary
            .accesses
            .iter()
            .map(|a| {
                (
                    a.what,
                    a.path.as_deref(),
                    a.port,
                    a.id,
                    a.uid,
                    a.error,
                    a.granted.iter().copied().collect::<Vec<_>>(),
                )
            })
            .collect();
        use super::access::What;
        assert_eq!(
            found,
            [
                // The worker's open that failed: no path (no copy was made).
                (What::Read, None, None, None, 33, 13, vec![]),
                (
                    What::Create,
                    Some("/run/nginx.pid"),
                    None,
                    None,
                    0,
                    0,
                    vec![]
                ),
                (What::Bind, None, Some(80), None, 0, 0, vec![10]),
                (What::Setuid, None, None, Some(33), 0, 0, vec![7]),
            ]
        );
    }

    #[test]
    fn separates_need_from_noise() {
        for trace in [TRACE, KPROBE_TRACE] {
            separates_need_from_noise_in(trace);
        }
    }

    fn separates_need_from_noise_in(trace: &str) {
        let mut parser = Parser::default();
        parser.feed(&trace[..300]);
        parser.feed(&trace[300..]);
        let summary = summarize(&parser.finish(), 100, 0);
        assert!(summary.exec_seen);
        assert!(!summarize(&[], 100, 0).exec_seen, "no exec: blind");
        assert_eq!(summary.checks, 6);
        assert_eq!(summary.caps.keys().copied().collect::<Vec<_>>(), [13, 34]);
        let raw = &summary.caps[&13];
        assert_eq!((raw.granted, raw.denied), (1, 0));
        assert_eq!(raw.call_sites.iter().collect::<Vec<_>>(), ["inet_create"]);
        assert_eq!(raw.binaries.iter().collect::<Vec<_>>(), ["/usr/bin/ping"]);
        assert_eq!(
            summary.caps[&34].denied, 1,
            "a forked child inherits the program"
        );
        assert_eq!(summary.noise[&Noise::Launcher], 1);
        assert_eq!(summary.noise[&Noise::MemoryAccounting], 1);
        assert_eq!(summary.noise[&Noise::SetidToSelf], 1);
        assert_eq!(summary.noise[&Noise::NetSysctlMode], 1);
    }
}

//! A private tracefs instance: its own buffer, event switches, pid filter
//! and triggers, so recording never touches the global tracing settings.
//! Removing the instance restores everything; a tracefs capcheck had to
//! mount is unmounted again.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const MOUNT_POINTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Why recording cannot start here.
#[derive(Debug)]
pub struct Unavailable(pub String);

/// An instance under `<tracefs>/instances/`, removed on drop.
pub struct Instance {
    pub dir: PathBuf,
    mounted: Option<PathBuf>,
    pipe: Option<std::fs::File>,
    probe: Probe,
    /// The kprobes this instance defined in the global `kprobe_events`,
    /// under a group of capcheck's own (removed again on drop).
    kprobes: Option<Kprobes>,
    /// The system call tracepoints enabled (`syscalls/sys_enter_openat`…).
    syscall_events: Vec<String>,
    /// Why what each check was for is not traced (None: it is).
    pub objects_missing: Option<String>,
}

/// How capability checks are seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The `capability:cap_capable` tracepoint (Linux 6.14 and later).
    Tracepoint,
    /// Older kernels: a kprobe and a kretprobe on `cap_capable`.
    Kprobe,
}

/// Kprobes defined by one capcheck process.
struct Kprobes {
    tracefs: PathBuf,
    group: String,
    /// Event names within the group.
    events: Vec<String>,
}

impl Instance {
    /// The event that gets the stacktrace trigger (`group/event`).
    fn check_event(&self) -> String {
        match (&self.probe, &self.kprobes) {
            (Probe::Kprobe, Some(k)) => format!("{}/cap_capable", k.group),
            _ => "capability/cap_capable".to_string(),
        }
    }

    /// Every event to enable besides exec and fork.
    fn events(&self) -> Vec<String> {
        let mut events = Vec::new();
        if self.probe == Probe::Tracepoint {
            events.push(self.check_event());
        }
        if let Some(k) = &self.kprobes {
            events.extend(k.events.iter().map(|e| format!("{}/{e}", k.group)));
        }
        events.extend(self.syscall_events.iter().cloned());
        events
    }
}

/// The kprobe group of the capcheck process `pid`.
fn kprobe_group(pid: u32) -> String {
    format!("capcheck_{pid}")
}

/// The `kprobe_events` lines that define the fallback probes: the checked
/// capability at entry (`cap_capable(cred, ns, cap, opts)`, third argument)
/// and the result at return. `$argN` needs Linux 4.20 or later.
pub fn kprobe_definitions(group: &str) -> [String; 2] {
    [
        format!("p:{group}/cap_capable cap_capable cap=$arg3:s32"),
        format!("r:{group}/cap_capable_ret cap_capable ret=$retval:s32"),
    ]
}

/// The `kprobe_events` lines that remove the probes of capcheck processes
/// that are gone, given the file's current text.
pub fn stale_kprobe_removals(defined: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    defined
        .lines()
        .filter_map(|line| {
            let event = line.split_whitespace().next()?.split_once(':')?.1;
            let pid = event
                .strip_prefix("capcheck_")?
                .split('/')
                .next()?
                .parse()
                .ok()?;
            (!alive(pid)).then(|| format!("-:{event}"))
        })
        .collect()
}

/// True when the process `pid` exists.
fn alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    i32::try_from(pid).is_ok_and(|p| unsafe { libc::kill(p, 0) } == 0)
}

/// Appends lines to `kprobe_events` (writing without O_APPEND would clear
/// every probe defined there, capcheck's or not).
fn append_kprobe_events(tracefs: &Path, lines: &[String]) -> Result<(), Unavailable> {
    use std::io::Write;
    let path = tracefs.join("kprobe_events");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| Unavailable(format!("cannot open {}: {e}", path.display())))?;
    for line in lines {
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| {
                let log = std::fs::read_to_string(tracefs.join("error_log")).unwrap_or_default();
                let last = log.lines().rev().take(3).collect::<Vec<_>>();
                Unavailable(format!(
                    "cannot define the kprobe '{line}' in {}: {e}{}",
                    path.display(),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(" (error_log: {})", last.join(" / "))
                    }
                ))
            })?;
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<(), Unavailable> {
    std::fs::write(path, value)
        .map_err(|e| Unavailable(format!("cannot write {}: {e}", path.display())))
}

/// The tracefs mount point, mounting it if needed (then `true`).
fn tracefs() -> Result<(PathBuf, bool), Unavailable> {
    if let Some(p) = MOUNT_POINTS
        .iter()
        .map(Path::new)
        .find(|p| p.join("instances").is_dir())
    {
        return Ok((p.to_path_buf(), false));
    }
    let target = Path::new(MOUNT_POINTS[0]);
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (source, fstype, dir) = (c("nodev"), c("tracefs"), c(MOUNT_POINTS[0]));
    // SAFETY: mount(2) with valid NUL-terminated strings and no data.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            dir.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Unavailable(format!(
            "tracefs is not mounted and cannot be mounted on {}: {e}",
            target.display()
        )));
    }
    Ok((target.to_path_buf(), true))
}

impl Instance {
    /// Creates the instance with the capability tracepoint, its stacktrace
    /// trigger and the exec/fork events enabled, tracing still off.
    pub fn create() -> Result<Instance, Unavailable> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Unavailable(
                "recording needs root (tracefs and the credentials of the recorded program)"
                    .to_string(),
            ));
        }
        let (root, mounted) = tracefs()?;
        let mounted = mounted.then(|| root.clone());
        let unmount_on_error = |e: Unavailable| {
            if let Some(m) = &mounted {
                let dir = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).expect("no NUL");
                // SAFETY: umount of the path we mounted.
                unsafe { libc::umount(dir.as_ptr()) };
            }
            e
        };
        // Remove instances, then kprobes, a killed capcheck left behind.
        if let Ok(entries) = std::fs::read_dir(root.join("instances")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name
                    .strip_prefix("capcheck-")
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    if !alive(pid) {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
        }
        let kprobe_events = root.join("kprobe_events");
        if let Ok(defined) = std::fs::read_to_string(&kprobe_events) {
            let _ = append_kprobe_events(&root, &stale_kprobe_removals(&defined, alive));
        }
        let group = kprobe_group(std::process::id());
        let mut kprobes = Kprobes {
            tracefs: root.clone(),
            group: group.clone(),
            events: Vec::new(),
        };
        let probe = if root.join("events/capability/cap_capable").is_dir() {
            Probe::Tracepoint
        } else if kprobe_events.exists() {
            append_kprobe_events(&root, &kprobe_definitions(&group)).map_err(|e| {
                unmount_on_error(Unavailable(format!(
                    "this kernel has no capability:cap_capable tracepoint (Linux 6.14+) and {}",
                    e.0
                )))
            })?;
            kprobes
                .events
                .extend(["cap_capable".to_string(), "cap_capable_ret".to_string()]);
            Probe::Kprobe
        } else {
            return Err(unmount_on_error(Unavailable(
                "this kernel has no capability:cap_capable tracepoint (Linux 6.14+), \
                 and kprobe_events is missing too (CONFIG_KPROBE_EVENTS), so capability \
                 checks cannot be traced"
                    .to_string(),
            )));
        };
        let (syscall_events, objects_missing) = define_syscall_probes(&root, &mut kprobes);
        let kprobes = (!kprobes.events.is_empty()).then_some(kprobes);
        let dir = root
            .join("instances")
            .join(format!("capcheck-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir(&dir) {
            if let Some(k) = &kprobes {
                remove_kprobes(k);
            }
            return Err(unmount_on_error(Unavailable(format!(
                "cannot create {}: {e}",
                dir.display()
            ))));
        }
        let instance = Instance {
            dir,
            mounted,
            pipe: None,
            probe,
            kprobes,
            syscall_events,
            objects_missing,
        };
        instance.setup()?;
        Ok(instance)
    }

    fn setup(&self) -> Result<(), Unavailable> {
        let d = &self.dir;
        write(&d.join("tracing_on"), "0")?;
        write(&d.join("buffer_size_kb"), "8192")?;
        write(&d.join("options/event-fork"), "1")?;
        let events = d.join("events");
        write(
            &events.join(self.check_event()).join("trigger"),
            "stacktrace",
        )?;
        for event in self
            .events()
            .iter()
            .map(String::as_str)
            .chain(["sched/sched_process_exec", "sched/sched_process_fork"])
        {
            write(&events.join(event).join("enable"), "1")?;
        }
        Ok(())
    }

    /// How checks are seen, for the profile's `source`: "tracepoint" or
    /// "kprobe".
    pub fn source(&self) -> &'static str {
        match self.probe {
            Probe::Tracepoint => "tracepoint",
            Probe::Kprobe => "kprobe",
        }
    }

    /// The files a child writes to start tracing itself: its pid goes to
    /// `set_event_pid`, then `1` to `tracing_on`.
    pub fn control_files(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("set_event_pid"), self.dir.join("tracing_on"))
    }

    /// Reads what the trace has now, without waiting.
    pub fn read_available(&mut self) -> String {
        if self.pipe.is_none() {
            self.pipe = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(self.dir.join("trace_pipe"))
                .ok();
        }
        let mut out = Vec::new();
        if let Some(pipe) = &mut self.pipe {
            let mut buf = [0u8; 65536];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Removes the kprobes (once no instance has them enabled).
fn remove_kprobes(kprobes: &Kprobes) {
    let removals: Vec<String> = kprobes
        .events
        .iter()
        .map(|e| format!("-:{}/{e}", kprobes.group))
        .collect();
    let _ = append_kprobe_events(&kprobes.tracefs, &removals);
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (major, minor)
}

/// The system call tracepoints to enable (`syscalls/sys_enter_openat`…)
/// and the kprobes that read paths and socket addresses (defined into
/// `kprobes`); with why what each check was for is not traced, if it is
/// not. A call whose tracepoint this kernel lacks (an architecture
/// without `open`) is left out.
fn define_syscall_probes(tracefs: &Path, kprobes: &mut Kprobes) -> (Vec<String>, Option<String>) {
    let events = tracefs.join("events");
    let tracepoints: Vec<String> = super::syscalls::SYSCALLS
        .iter()
        .flat_map(|s| s.events())
        .filter(|e| events.join(e).is_dir())
        .collect();
    if tracepoints.is_empty() {
        return (
            Vec::new(),
            Some("this kernel has no system call tracepoints (CONFIG_FTRACE_SYSCALLS)".to_string()),
        );
    }
    if !tracefs.join("kprobe_events").exists() {
        return (
            tracepoints,
            Some(
                "this kernel has no kprobe events (CONFIG_KPROBE_EVENTS): the calls are traced, not their paths"
                    .to_string(),
            ),
        );
    }
    let event_of = |definition: &str| {
        definition
            .split_whitespace()
            .next()
            .and_then(|d| d.rsplit('/').next())
            .unwrap_or_default()
            .to_string()
    };
    let mut first_error = None;
    let definitions =
        super::syscalls::name_probe_definitions(&kprobes.group, kernel_at_least(5, 15))
            .into_iter()
            .map(|(_, d)| d)
            .chain(super::syscalls::address_probe_definition(&kprobes.group).map(|(_, d)| d));
    for definition in definitions {
        // A kernel without one of these functions (inlined, renamed) lacks
        // what it reads; the others still do.
        match append_kprobe_events(tracefs, std::slice::from_ref(&definition)) {
            Ok(()) => kprobes.events.push(event_of(&definition)),
            Err(e) => {
                first_error.get_or_insert(e.0);
            }
        }
    }
    let paths = kprobes
        .events
        .iter()
        .any(|e| e == &format!("{}do_filp_open", super::syscalls::NAME_EVENT_PREFIX));
    let missing = (!paths).then(|| {
        format!(
            "the paths of system calls cannot be read here: {}",
            first_error.unwrap_or_else(|| "no probe on do_filp_open".to_string())
        )
    });
    (tracepoints, missing)
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.pipe = None;
        let d = &self.dir;
        let _ = std::fs::write(d.join("tracing_on"), "0");
        let _ = std::fs::write(
            d.join("events").join(self.check_event()).join("trigger"),
            "!stacktrace",
        );
        let _ = std::fs::write(d.join("events/enable"), "0");
        let _ = std::fs::remove_dir(d);
        if let Some(k) = &self.kprobes {
            remove_kprobes(k);
        }
        if let Some(m) = &self.mounted {
            let dir = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).expect("no NUL");
            // SAFETY: umount of the path we mounted.
            unsafe { libc::umount(dir.as_ptr()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kprobes_are_defined_and_removed_by_group() {
        let [entry, exit] = kprobe_definitions("capcheck_42");
        assert_eq!(entry, "p:capcheck_42/cap_capable cap_capable cap=$arg3:s32");
        assert_eq!(
            exit,
            "r:capcheck_42/cap_capable_ret cap_capable ret=$retval:s32"
        );
        // kprobe_events as the kernel lists it: only dead capcheck groups go.
        let defined = "p:capcheck_42/cap_capable cap_capable cap=$arg3:s32\n\
                       r:capcheck_42/cap_capable_ret cap_capable ret=$retval:s32\n\
                       p:capcheck_7/cap_capable cap_capable cap=$arg3:s32\n\
                       p:kprobes/do_sys_open do_sys_open\n\
                       p:capcheck_x/y z\n";
        assert_eq!(
            stale_kprobe_removals(defined, |pid| pid == 7),
            ["-:capcheck_42/cap_capable", "-:capcheck_42/cap_capable_ret"]
        );
    }
}

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
        if !root.join("events/capability/cap_capable").is_dir() {
            let kprobes = if root.join("kprobe_events").exists() {
                "kprobe_events exists, but the kprobe fallback is not implemented yet"
            } else {
                "and kprobe_events is missing too (CONFIG_KPROBE_EVENTS)"
            };
            return Err(unmount_on_error(Unavailable(format!(
                "this kernel has no capability:cap_capable tracepoint (Linux 6.14+), {kprobes}"
            ))));
        }
        // Remove instances a killed capcheck left behind.
        if let Ok(entries) = std::fs::read_dir(root.join("instances")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name
                    .strip_prefix("capcheck-")
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    // SAFETY: kill with signal 0 only checks for existence.
                    if unsafe { libc::kill(pid, 0) } != 0 {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
        }
        let dir = root
            .join("instances")
            .join(format!("capcheck-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| {
            unmount_on_error(Unavailable(format!("cannot create {}: {e}", dir.display())))
        })?;
        let instance = Instance {
            dir,
            mounted,
            pipe: None,
        };
        instance.setup()?;
        Ok(instance)
    }

    fn setup(&self) -> Result<(), Unavailable> {
        let d = &self.dir;
        write(&d.join("tracing_on"), "0")?;
        write(&d.join("buffer_size_kb"), "8192")?;
        write(&d.join("options/event-fork"), "1")?;
        write(
            &d.join("events/capability/cap_capable/trigger"),
            "stacktrace",
        )?;
        for event in [
            "capability/cap_capable",
            "sched/sched_process_exec",
            "sched/sched_process_fork",
        ] {
            write(&d.join("events").join(event).join("enable"), "1")?;
        }
        Ok(())
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

impl Drop for Instance {
    fn drop(&mut self) {
        self.pipe = None;
        let d = &self.dir;
        let _ = std::fs::write(d.join("tracing_on"), "0");
        let _ = std::fs::write(
            d.join("events/capability/cap_capable/trigger"),
            "!stacktrace",
        );
        let _ = std::fs::write(d.join("events/enable"), "0");
        let _ = std::fs::remove_dir(d);
        if let Some(m) = &self.mounted {
            let dir = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).expect("no NUL");
            // SAFETY: umount of the path we mounted.
            unsafe { libc::umount(dir.as_ptr()) };
        }
    }
}

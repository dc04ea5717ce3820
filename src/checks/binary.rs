//! What checks need to know about an Exec binary: its setuid/setgid bits
//! and its file capabilities (the `security.capability` xattr).

use crate::caps::CapSet;
use crate::model::exec;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// File capabilities decoded from `security.capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    /// The single effective bit (`=ep` rather than `=p`).
    pub effective: bool,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    /// Revision 3 only: the namespace root the capabilities apply to.
    pub rootid: Option<u32>,
}

impl FileCaps {
    /// Decodes a `vfs_cap_data` value (revision 1, 2 or 3; little-endian).
    pub fn decode(raw: &[u8]) -> Option<FileCaps> {
        let word = |i: usize| -> Option<u32> {
            raw.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        };
        let magic = word(0)?;
        let effective = magic & 1 != 0;
        let (permitted, inheritable, rootid) = match (magic >> 24, raw.len()) {
            (1, 12) => (word(1)? as u64, word(2)? as u64, None),
            (2, 20) => (
                word(1)? as u64 | (word(3)? as u64) << 32,
                word(2)? as u64 | (word(4)? as u64) << 32,
                None,
            ),
            (3, 24) => (
                word(1)? as u64 | (word(3)? as u64) << 32,
                word(2)? as u64 | (word(4)? as u64) << 32,
                Some(word(5)?),
            ),
            _ => return None,
        };
        Some(FileCaps {
            effective,
            permitted: CapSet(permitted),
            inheritable: CapSet(inheritable),
            rootid,
        })
    }

    /// setcap-style text: `cap_net_raw=ep`.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self
            .permitted
            .iter()
            .map(|c| c.name.to_lowercase())
            .collect();
        format!(
            "{}={}",
            names.join(","),
            if self.effective { "ep" } else { "p" }
        )
    }
}

/// What an executable is, as far as privileges go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryInfo {
    /// The file that was read (under the root, symlinks followed).
    pub path: PathBuf,
    pub setuid: bool,
    pub setgid: bool,
    pub file_caps: Option<FileCaps>,
}

impl BinaryInfo {
    /// A "privileged file" to the kernel: it clears ambient capabilities
    /// at exec and is cut back by no_new_privs.
    pub fn is_privileged(&self) -> bool {
        self.setuid || self.setgid || self.file_caps.is_some()
    }
}

/// Looks binaries up; tests substitute a fake.
pub trait BinaryInspector: Sync {
    /// Information on the executable of an Exec command; None when it does
    /// not exist here (not an error: the unit may be for another machine).
    fn inspect(&self, exec_path: &str) -> Option<BinaryInfo>;

    /// The shell a `|` command of `user` runs: the user's login shell, or
    /// `/bin/sh` when it is a placeholder or unknown.
    fn shell(&self, _user: &str) -> String {
        exec::SHELL.to_string()
    }
}

/// Reads binaries from the host, or from a `--root` tree. Each path is
/// read once per run: a fleet's units run the same few programs.
pub struct HostInspector {
    root: PathBuf,
    seen: std::sync::Mutex<std::collections::HashMap<String, Option<BinaryInfo>>>,
}

impl HostInspector {
    pub fn new(root: PathBuf) -> HostInspector {
        HostInspector {
            root,
            seen: Default::default(),
        }
    }

    fn resolve(&self, exec_path: &str) -> Option<PathBuf> {
        let candidates: Vec<String> = if exec_path.starts_with('/') {
            vec![exec_path.to_string()]
        } else {
            crate::model::exec::DEFAULT_PATH
                .iter()
                .map(|d| format!("{d}/{exec_path}"))
                .collect()
        };
        candidates
            .iter()
            .filter_map(|c| crate::load::paths::under_root(&self.root, c).ok())
            .find(|p| p.is_file())
    }

    fn read(&self, exec_path: &str) -> Option<BinaryInfo> {
        let path = self.resolve(exec_path)?;
        let mode = std::fs::metadata(&path).ok()?.permissions().mode();
        Some(BinaryInfo {
            setuid: mode & 0o4000 != 0,
            setgid: mode & 0o2000 != 0,
            file_caps: read_capability_xattr(&path).and_then(|raw| FileCaps::decode(&raw)),
            path,
        })
    }
}

impl BinaryInspector for HostInspector {
    /// From the system's `/etc/passwd`.
    fn shell(&self, user: &str) -> String {
        let passwd = crate::load::paths::under_root(&self.root, "/etc/passwd")
            .and_then(std::fs::read_to_string)
            .unwrap_or_default();
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|fields| fields.len() == 7 && (fields[0] == user || fields[2] == user))
            .map(|fields| fields[6])
            .filter(|shell| !shell.is_empty() && !exec::NOLOGIN_SHELLS.contains(shell))
            .unwrap_or(exec::SHELL)
            .to_string()
    }

    fn inspect(&self, exec_path: &str) -> Option<BinaryInfo> {
        if let Some(known) = self.seen.lock().expect("not poisoned").get(exec_path) {
            return known.clone();
        }
        let info = self.read(exec_path);
        self.seen
            .lock()
            .expect("not poisoned")
            .insert(exec_path.to_string(), info.clone());
        info
    }
}

/// The raw `security.capability` xattr of a file, if it has one.
fn read_capability_xattr(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let name = c"security.capability";
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and the buffer length is passed.
    let n = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| buf[..n as usize].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_command_runs_the_login_shell_or_sh() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nwww:x:33:33::/var/www:/usr/sbin/nologin\n",
        )
        .unwrap();
        let inspector = HostInspector::new(root.path().to_path_buf());
        assert_eq!(inspector.shell("root"), "/bin/bash");
        assert_eq!(inspector.shell("0"), "/bin/bash");
        assert_eq!(inspector.shell("www"), "/bin/sh");
        assert_eq!(inspector.shell("nobody-here"), "/bin/sh");
    }

    #[test]
    fn decodes_the_documented_xattrs() {
        // setcap cap_net_bind_service=+ep
        let x = FileCaps::decode(&[1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .unwrap();
        assert!(x.effective);
        assert_eq!(x.permitted, CapSet::single(10));
        assert_eq!(x.describe(), "cap_net_bind_service=ep");
        // setcap cap_net_bind_service,cap_net_raw=p
        let y = FileCaps::decode(&[
            0, 0, 0, 2, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ])
        .unwrap();
        assert!(!y.effective);
        assert_eq!(
            y.permitted.sorted_names(),
            ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
        );
        // cap_bpf,cap_perfmon=ep: high word
        let v = FileCaps::decode(&[
            1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0,
        ])
        .unwrap();
        assert_eq!(v.permitted.sorted_names(), ["CAP_BPF", "CAP_PERFMON"]);
        // revision 3 with rootid 100000
        let mut n3 = vec![1, 0, 0, 3, 0, 4, 0, 0];
        n3.extend_from_slice(&[0; 12]);
        n3.extend_from_slice(&100000u32.to_le_bytes());
        assert_eq!(FileCaps::decode(&n3).unwrap().rootid, Some(100000));
        assert!(FileCaps::decode(&[9, 9, 9]).is_none());
    }
}

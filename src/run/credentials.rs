//! What a process must start with, as systemd's exec path would give it,
//! and applying that to the current process (in a child, before exec).

use crate::caps::{CapSet, LAST_CAP};
use crate::model::exec::Prefix;
use crate::model::Command;
use crate::model::Privileges;
use std::ffi::CString;

/// The credentials of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Switch user and groups (false for `!` and `+`).
    pub setuid: bool,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Apply the sandbox: bounding set, ambient set, securebits, NNP
    /// (false for `+`).
    pub sandbox: bool,
    pub bounding: CapSet,
    pub ambient: CapSet,
    pub secure_bits: u8,
    pub no_new_privileges: bool,
}

/// A user from the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Looks a user up by name or number in the password database.
pub fn account(name: &str) -> Result<Account, String> {
    let c = CString::new(name).map_err(|_| format!("invalid user name {name:?}"))?;
    // SAFETY: getpwnam/getpwuid take valid arguments; the entry is copied at once.
    let pw = unsafe {
        match name.parse::<u32>() {
            Ok(uid) => libc::getpwuid(uid),
            Err(_) => libc::getpwnam(c.as_ptr()),
        }
    };
    if pw.is_null() {
        return Err(format!(
            "no such user: {name} (create it, e.g. with the sysusers.d line capcheck fix prints)"
        ));
    }
    let text = |p: *const libc::c_char| {
        // SAFETY: passwd strings are NUL-terminated.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: pw is a valid passwd entry until the next getpw* call.
    unsafe {
        Ok(Account {
            name: text((*pw).pw_name),
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
            home: text((*pw).pw_dir),
            shell: text((*pw).pw_shell),
        })
    }
}

/// Looks a user up: (uid, primary gid); a number without an entry is its
/// own gid.
pub fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    match (account(name), name.parse::<u32>()) {
        (Ok(a), _) => Ok((a.uid, a.gid)),
        (Err(_), Ok(uid)) => Ok((uid, uid)),
        (Err(e), Err(_)) => Err(e),
    }
}

/// The environment systemd gives a service's processes: its default PATH,
/// and for a User= the account's HOME, USER, LOGNAME and SHELL.
pub fn service_environment(uid: u32) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    if let Ok(a) = account(&uid.to_string()) {
        env.push(("HOME".to_string(), a.home));
        env.push(("USER".to_string(), a.name.clone()));
        env.push(("LOGNAME".to_string(), a.name));
        env.push(("SHELL".to_string(), a.shell));
    }
    env
}

/// Looks a group up: a name in the group database, or a number.
pub fn lookup_group(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let c = CString::new(name).map_err(|_| format!("invalid group name {name:?}"))?;
    // SAFETY: as for getpwnam.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        return Err(format!("no such group: {name}"));
    }
    // SAFETY: gr is valid until the next getgr* call.
    Ok(unsafe { (*gr).gr_gid })
}

/// The credentials systemd would give `command` of a unit with `model`.
pub fn for_command(model: &Privileges, command: &Command) -> Result<Credentials, String> {
    let c = &command.command;
    let full = c.has(Prefix::FullyPrivileged);
    let setuid = !full && !c.has(Prefix::NoSetuid);
    let (uid, primary) = match (&model.user.value, model.dynamic_user.value) {
        (Some(u), _) if u != "root" && u != "0" => match lookup_user(u) {
            Ok(ids) => ids,
            Err(_) if model.dynamic_user.value => lookup_user("nobody")?,
            Err(e) => return Err(e),
        },
        (None, true) => lookup_user("nobody")?,
        _ => (0, 0),
    };
    let gid = match &model.group.value {
        Some(g) if !(model.dynamic_user.value && Some(g) == model.user.value.as_ref()) => {
            lookup_group(g)?
        }
        _ => primary,
    };
    let groups = model
        .supplementary_groups
        .value
        .iter()
        .map(|g| lookup_group(g))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Credentials {
        setuid,
        uid: if setuid { uid } else { 0 },
        gid: if setuid { gid } else { 0 },
        groups,
        sandbox: !full,
        bounding: model.capability_bounding_set.value,
        ambient: model.ambient_capabilities.value.intersection(CapSet::KNOWN),
        secure_bits: model.secure_bits.value,
        no_new_privileges: !full
            && (model.no_new_privileges()
                || (setuid
                    && uid != 0
                    && !model.no_new_privileges.implied_at_runtime_by.is_empty())),
    })
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const PR_CAP_AMBIENT: libc::c_int = 47;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const SECBIT_KEEP_CAPS: u8 = 1 << 4;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn check(ret: libc::c_long, what: &str) -> std::io::Result<()> {
    if ret < 0 {
        let e = errno();
        return Err(std::io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// Adds `caps` to the inheritable set (required before raising ambient).
fn add_inheritable(caps: CapSet) -> std::io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are valid for the kernel's v3 layout.
    check(
        unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) },
        "capget",
    )?;
    data[0].inheritable |= caps.0 as u32;
    data[1].inheritable |= (caps.0 >> 32) as u32;
    // SAFETY: as above.
    check(
        unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) },
        "capset",
    )
}

fn raise_ambient(caps: CapSet) -> std::io::Result<()> {
    for cap in caps.iter() {
        // SAFETY: prctl with integer arguments.
        let r = unsafe {
            libc::prctl(
                PR_CAP_AMBIENT,
                PR_CAP_AMBIENT_RAISE,
                cap.number as libc::c_ulong,
                0,
                0,
            )
        };
        check(r as libc::c_long, &format!("raising ambient {}", cap.name))?;
    }
    Ok(())
}

impl Credentials {
    /// Applies the credentials to the calling process, in systemd's order:
    /// groups, gid, bounding set, inheritable+ambient, keep-caps and uid,
    /// ambient again, securebits, no_new_privs. Call in a child before exec.
    pub fn apply(&self) -> std::io::Result<()> {
        if self.setuid {
            // SAFETY: plain syscalls with valid arguments.
            check(
                unsafe { libc::setgroups(self.groups.len(), self.groups.as_ptr()) } as libc::c_long,
                "setgroups",
            )?;
            check(
                unsafe { libc::setresgid(self.gid, self.gid, self.gid) } as libc::c_long,
                "setresgid",
            )?;
        }
        if !self.sandbox {
            return Ok(());
        }
        // Bits the kernel does not know cannot be dropped; ambient caps
        // outside the bounding set are skipped, as systemd does.
        let ambient = self.ambient.intersection(self.bounding);
        if !self.bounding.has_all_known() {
            for n in 0..=LAST_CAP {
                if !self.bounding.contains(n) {
                    // SAFETY: prctl with integer arguments.
                    let r =
                        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
                    check(r as libc::c_long, "dropping from the bounding set")?;
                }
            }
        }
        if !ambient.is_empty() {
            add_inheritable(ambient)?;
            raise_ambient(ambient)?;
        }
        if self.setuid && self.uid != 0 {
            let bits = self.secure_bits
                | if ambient.is_empty() {
                    0
                } else {
                    SECBIT_KEEP_CAPS
                };
            if bits != 0 {
                // SAFETY: prctl with integer arguments.
                check(
                    unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0, 0, 0) }
                        as libc::c_long,
                    "securebits",
                )?;
            }
            // SAFETY: a plain syscall.
            check(
                unsafe { libc::setresuid(self.uid, self.uid, self.uid) } as libc::c_long,
                "setresuid",
            )?;
            raise_ambient(ambient)?;
        } else if self.secure_bits != 0 {
            // SAFETY: prctl with integer arguments.
            check(
                unsafe {
                    libc::prctl(
                        libc::PR_SET_SECUREBITS,
                        self.secure_bits as libc::c_ulong,
                        0,
                        0,
                        0,
                    )
                } as libc::c_long,
                "securebits",
            )?;
        }
        if self.no_new_privileges {
            // SAFETY: prctl with integer arguments.
            check(
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as libc::c_long,
                "no_new_privs",
            )?;
        }
        Ok(())
    }
}

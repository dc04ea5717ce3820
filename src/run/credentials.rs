//! What a process must start with, as systemd's exec path would give it,
//! and applying that to the current process (in a child, before exec).

use crate::caps::{CapSet, LAST_CAP};
use crate::model::environment::Login;
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
    pub secure_bits: u16,
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

/// The name of group `gid` in the group database.
pub fn group_name(gid: u32) -> Option<String> {
    // SAFETY: getgrgid takes any gid; the entry is copied at once.
    let gr = unsafe { libc::getgrgid(gid) };
    if gr.is_null() {
        return None;
    }
    // SAFETY: gr_name is NUL-terminated, valid until the next getgr* call.
    let name = unsafe { std::ffi::CStr::from_ptr((*gr).gr_name) };
    Some(name.to_string_lossy().into_owned())
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

/// The shell systemd gives root (`default_root_shell()`: meson's
/// `default-user-shell`, /bin/bash).
const ROOT_SHELL: &str = "/bin/bash";

/// systemd's range for DynamicUser= ids (`DYNAMIC_UID_MIN`..`MAX`).
pub const DYNAMIC_UIDS: std::ops::RangeInclusive<u32> = 61184..=65519;

/// The user a unit's processes run as, resolved once for all its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitUser {
    pub uid: u32,
    pub gid: u32,
    /// The user's groups (`initgroups()`) and SupplementaryGroups=.
    pub groups: Vec<u32>,
    /// USER, HOME, SHELL (None without User=).
    pub login: Option<Login>,
    /// A DynamicUser= id capcheck picked.
    pub dynamic: bool,
}

impl UnitUser {
    /// The user's name, or `uid N` for a dynamic id, for messages.
    pub fn display(&self) -> String {
        match &self.login {
            _ if self.dynamic => format!("uid {}", self.uid),
            Some(login) => login.name.clone(),
            None => "root".to_string(),
        }
    }
}

/// The login variables `get_user_creds(USER_CREDS_CLEAN)` gives: root's
/// are fixed, nobody has neither HOME nor SHELL, others have HOME unless it
/// is `/` or relative and SHELL unless it is a nologin shell.
fn login_of(account: &Account) -> Login {
    if account.uid == 0 {
        return Login {
            name: "root".to_string(),
            home: Some("/root".to_string()),
            shell: Some(ROOT_SHELL.to_string()),
        };
    }
    let nobody = account.uid == 65534;
    let home = &account.home;
    let shell = &account.shell;
    Login {
        name: account.name.clone(),
        home: (!nobody && home.starts_with('/') && home != "/").then(|| home.clone()),
        shell: (!nobody
            && shell.starts_with('/')
            && !crate::model::exec::NOLOGIN_SHELLS.contains(&shell.as_str()))
        .then(|| shell.clone()),
    }
}

/// The groups `initgroups(name, gid)` gives: `gid` and every group that
/// lists the user.
pub fn member_groups(name: &str, gid: u32) -> Vec<u32> {
    let Ok(c) = CString::new(name) else {
        return vec![gid];
    };
    let mut count: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; count as usize];
        // SAFETY: the buffer holds `count` entries; getgrouplist updates it.
        let r = unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if r >= 0 {
            groups.truncate(count as usize);
            return groups;
        }
        if count as usize <= groups.len() {
            return vec![gid];
        }
    }
}

/// A user from the password database, as `record --user NAME` runs a
/// program: its ids, groups and login variables; a number without an
/// entry is its own gid.
pub fn named_user(name: &str) -> Result<UnitUser, String> {
    let account = match (account(name), name.parse::<u32>()) {
        (Ok(a), _) => a,
        (Err(_), Ok(uid)) => Account {
            name: name.to_string(),
            uid,
            gid: uid,
            home: String::new(),
            shell: String::new(),
        },
        (Err(e), Err(_)) => return Err(e),
    };
    Ok(user_of(account))
}

/// The user a unit's `User=` names. Unlike `--user`, a number must be in
/// the user database too: systemd 252 fails the start with 217/USER
/// ("Failed to determine user credentials"), checked in the real-systemd
/// lane with `systemd-run -p User=4242`.
fn unit_named_user(name: &str) -> Result<UnitUser, String> {
    account(name)
        .map(user_of)
        .map_err(|e| format!("{e}; systemd would fail the start with status 217/USER"))
}

fn user_of(account: Account) -> UnitUser {
    UnitUser {
        uid: account.uid,
        gid: account.gid,
        groups: if account.gid == 0 {
            Vec::new()
        } else {
            member_groups(&account.name, account.gid)
        },
        login: Some(login_of(&account)),
        dynamic: false,
    }
}

/// True when no user and no group has the id `id`.
fn id_unused(id: u32) -> bool {
    // SAFETY: getpwuid/getgrgid with any id; only null-ness is read.
    unsafe { libc::getpwuid(id).is_null() && libc::getgrgid(id).is_null() }
}

/// The id systemd would allocate a DynamicUser= of this name: a free one in
/// its range, first trying one derived from the name (as `pick_uid()`
/// does), then the next ones.
pub fn dynamic_id(name: &str) -> Result<u32, String> {
    let span = DYNAMIC_UIDS.end() - DYNAMIC_UIDS.start() + 1;
    let hash = crate::model::siphash::siphash24(name.as_bytes(), &[0; 16]);
    let first = (hash % u64::from(span)) as u32;
    (0..span)
        .map(|i| DYNAMIC_UIDS.start() + (first + i) % span)
        .find(|&id| id_unused(id))
        .ok_or_else(|| "no free id in the DynamicUser= range 61184-65519".to_string())
}

/// The user systemd runs the unit's processes as: User= (root without
/// it), Group=, the user's groups and SupplementaryGroups=; a DynamicUser=
/// whose name is no existing user gets a free dynamic id.
pub fn unit_user(model: &Privileges) -> Result<UnitUser, String> {
    let dynamic = model.dynamic_user.value;
    let mut user = match model.user.value.as_deref() {
        None | Some("root") | Some("0") => unit_named_user("root")?,
        Some(name) => match unit_named_user(name) {
            Ok(u) => u,
            Err(_) if dynamic => {
                let id = dynamic_id(name)?;
                UnitUser {
                    uid: id,
                    gid: id,
                    groups: Vec::new(),
                    login: Some(Login {
                        name: name.to_string(),
                        home: None,
                        shell: None,
                    }),
                    dynamic: true,
                }
            }
            Err(e) => return Err(e),
        },
    };
    if model.user.value.is_none() {
        user.login = None;
    }
    match &model.group.value {
        // A dynamic user's group is its own (same name, same id).
        Some(g) if !(dynamic && Some(g) == model.user.value.as_ref()) => {
            user.gid = lookup_group(g)?;
            if let Some(login) = user
                .login
                .as_ref()
                .filter(|_| !user.dynamic && user.gid != 0)
            {
                user.groups = member_groups(&login.name, user.gid);
            }
        }
        _ => {}
    }
    for group in &model.supplementary_groups.value {
        let gid = lookup_group(group)?;
        if !user.groups.contains(&gid) {
            user.groups.push(gid);
        }
    }
    Ok(user)
}

/// The credentials systemd gives `command` of a unit with `model` running
/// as `user`: `+` keeps root and skips the sandbox, `!` keeps root.
pub fn for_command(model: &Privileges, user: &UnitUser, command: &Command) -> Credentials {
    let c = &command.command;
    let full = c.has(Prefix::FullyPrivileged);
    let setuid = !full && !c.has(Prefix::NoSetuid);
    Credentials {
        setuid,
        uid: if setuid { user.uid } else { 0 },
        gid: if setuid { user.gid } else { 0 },
        groups: user.groups.clone(),
        sandbox: !full,
        bounding: model.capability_bounding_set.value,
        ambient: model.ambient_capabilities.value.intersection(CapSet::KNOWN),
        secure_bits: model.secure_bits.value,
        no_new_privileges: !full
            && (model.no_new_privileges()
                || (setuid
                    && user.uid != 0
                    && !model.no_new_privileges.implied_at_runtime_by.is_empty())),
    }
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const PR_CAP_AMBIENT: libc::c_int = 47;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const SECBIT_KEEP_CAPS: u16 = 1 << 4;

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

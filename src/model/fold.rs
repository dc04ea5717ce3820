//! Folds a unit's assignments, in systemd's order (fragment, then drop-ins
//! by file name), into [`Privileges`]. The merge rules live here.

use super::capset::{CapAssignment, CapList, Merge};
use super::directories;
use super::environment;
use super::exec::{parse_exec, ExecAssignment, Prefix};
use super::seccomp::SyscallFilter;
use super::siphash::siphash24;
use super::specifier::SpecifierContext;
use super::values::{parse_secure_bits, valid_user_group_name};
use super::words::{words, Unescape};
use super::{Command, NoNewPrivileges, Origin, Privileges, Problem, ProblemKind, Setting};
use crate::load::{Fragment, Unit};
use crate::semantics::{KnownIn, PrivateUsers, ProtectHostname, Semantics};
use crate::syntax::boolean::parse_boolean;
use crate::syntax::logical::{Assignment, UnitFile};
use crate::unit_name::UnitType;

/// Boolean sandboxing options that take capabilities out of the bounding
/// set after loading (`unit_patch_contexts()`), with what they take.
pub const BOUNDING_REMOVALS: [(&str, &[&str]); 4] = [
    ("PrivateDevices", &["CAP_MKNOD", "CAP_SYS_RAWIO"]),
    ("ProtectKernelModules", &["CAP_SYS_MODULE"]),
    ("ProtectKernelLogs", &["CAP_SYSLOG"]),
    ("ProtectClock", &["CAP_SYS_TIME", "CAP_WAKE_ALARM"]),
];

/// Boolean options that make systemd set no_new_privs at exec time for a
/// process without an effective CAP_SYS_ADMIN (`context_has_seccomp()`;
/// ProtectHostname=, which also takes `private`, is read on its own).
const RUNTIME_NNP_BOOLEANS: [&str; 9] = [
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "PrivateDevices",
    "ProtectClock",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "RestrictRealtime",
    "RestrictSUIDSGID",
];

/// List options that imply no_new_privs when set to anything (an empty
/// assignment resets them).
const RUNTIME_NNP_LISTS: [&str; 5] = [
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallLog",
];

/// Options that, besides those above, make a unit of the user manager run
/// in a user namespace (`exec_context_need_unprivileged_private_users()`,
/// systemd 257): set to anything but `no` or empty.
const USER_NAMESPACE_OPTIONS: [&str; 22] = [
    "PrivateTmp",
    "PrivateNetwork",
    "NetworkNamespacePath",
    "PrivateIPC",
    "IPCNamespacePath",
    "PrivateMounts",
    "MountAPIVFS",
    "BindLogSockets",
    "BindPaths",
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "RootDirectory",
    "ExtensionDirectories",
    "ProtectSystem",
    "ProtectHome",
    "PrivatePIDs",
    "ProtectControlGroups",
    "ReadWritePaths",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "ExecPaths",
    "NoExecPaths",
];

/// systemd's key for naming DynamicUser= accounts (`user_from_unit_name()`).
const DYNAMIC_USER_HASH_KEY: [u8; 16] = [
    0x58, 0x1a, 0xaf, 0xe6, 0x28, 0x58, 0x4e, 0x96, 0xb4, 0x4e, 0xf5, 0x3b, 0x8c, 0x92, 0x07, 0xec,
];

/// Computes the effective privileges of a loaded unit.
pub fn privileges(unit: &Unit) -> Privileges {
    let mut fold = Fold::new(unit);
    match &unit.fragment {
        Fragment::File(_) => {}
        Fragment::Masked(path) => {
            fold.p.masked = true;
            fold.refuse(Problem::load(path, "unit is masked".to_string()));
        }
        Fragment::NotFound => {
            let message = format!("unit {} not found in the search path", unit.name);
            fold.refuse(Problem::load(std::path::Path::new(""), message));
        }
        Fragment::Unreadable(path, error) => fold.refuse(Problem::load(
            path,
            format!("cannot read unit file: {error}"),
        )),
    }
    for (file_index, file) in unit.files().enumerate() {
        let is_fragment = file_index == 0 && matches!(unit.fragment, Fragment::File(_));
        fold.file(file_index, file, is_fragment);
        if !fold.p.loaded && is_fragment {
            break;
        }
    }
    for dropin in &unit.dropins {
        if let Some(error) = &dropin.error {
            let problem = Problem::load(&dropin.path, format!("drop-in skipped: {error}"));
            fold.p.warnings.push(problem);
        }
    }
    fold.finish();
    fold.p
}

struct Fold<'u> {
    unit: &'u Unit,
    p: Privileges,
    exec_section: Option<&'static str>,
    /// Sandboxing booleans as parsed, with the assignment that set them.
    booleans: Vec<(&'static str, Setting<bool>)>,
    protect_hostname: Setting<ProtectHostname>,
    /// List options that imply no_new_privs, with their last assignment.
    lists: Vec<(&'static str, Option<Origin>)>,
    syscall_filter: SyscallFilter,
    /// [`USER_NAMESPACE_OPTIONS`] that are set, with their last assignment.
    namespacing: Vec<(&'static str, Option<Origin>)>,
    /// WorkingDirectory=~ (the user's home).
    home_directory: bool,
    /// PAMName= is set.
    pam: bool,
    private_pids: bool,
    remain_after_exit: bool,
    has_success_action: bool,
    has_bus_name: bool,
}

impl<'u> Fold<'u> {
    fn new(unit: &'u Unit) -> Fold<'u> {
        let unit_type = unit.name.unit_type;
        let semantics = unit.semantics;
        let booleans = RUNTIME_NNP_BOOLEANS
            .iter()
            .map(|k| (*k, Setting::new(false)))
            .collect();
        Fold {
            unit,
            p: Privileges {
                unit: unit.name.name.clone(),
                semantics,
                path: unit.fragment_path().map(Into::into),
                loaded: true,
                masked: false,
                errors: Vec::new(),
                warnings: Vec::new(),
                has_exec_context: unit_type.has_exec_context(),
                user: Setting::new(None),
                group: Setting::new(None),
                dynamic_user: Setting::new(false),
                supplementary_groups: Setting::new(Vec::new()),
                capability_bounding_set: Setting::new(CapList::Bounding.unset(semantics)),
                removed_from_bounding_set: Vec::new(),
                ambient_capabilities: Setting::new(CapList::Ambient.unset(semantics)),
                no_new_privileges: NoNewPrivileges {
                    explicit: Setting::new(false),
                    implied_by_dynamic_user: false,
                    implied_at_runtime_by: Vec::new(),
                    not_implied_by: Vec::new(),
                },
                secure_bits: Setting::new(0),
                private_users: Setting::new(PrivateUsers::No),
                commands: Vec::new(),
                environment: Default::default(),
                directories: Vec::new(),
                service_type: None,
            },
            exec_section: unit_type
                .has_exec_context()
                .then(|| unit_type.own_section())
                .flatten(),
            booleans,
            protect_hostname: Setting::new(ProtectHostname::No),
            lists: RUNTIME_NNP_LISTS.iter().map(|k| (*k, None)).collect(),
            syscall_filter: SyscallFilter::default(),
            namespacing: USER_NAMESPACE_OPTIONS.iter().map(|k| (*k, None)).collect(),
            home_directory: false,
            pam: false,
            private_pids: false,
            remain_after_exit: false,
            has_success_action: false,
            has_bus_name: false,
        }
    }

    fn refuse(&mut self, problem: Problem) {
        self.p.loaded = false;
        self.p.errors.push(problem);
    }

    /// A value problem at an assignment.
    fn value_problem(&self, file_index: usize, a: &Assignment, message: String) -> Problem {
        Problem {
            file: self
                .unit
                .files()
                .nth(file_index)
                .map(|f| f.path.clone())
                .unwrap_or_default(),
            line: a.line,
            message,
            kind: ProblemKind::Value,
            fatal: false,
            key: Some(a.key.clone()),
            at: Some((file_index, a.span.clone())),
        }
    }

    fn file(&mut self, file_index: usize, file: &UnitFile, is_fragment: bool) {
        for issue in &file.issues {
            let mut problem = Problem {
                file: file.path.clone(),
                line: issue.line,
                message: issue.message.clone(),
                kind: ProblemKind::Syntax,
                fatal: issue.kind.is_fatal(),
                key: None,
                at: Some((file_index, issue.span.clone())),
            };
            if issue.kind.is_fatal() && is_fragment {
                self.refuse(problem);
            } else {
                if issue.kind.is_fatal() {
                    problem
                        .message
                        .push_str("; the rest of this drop-in is skipped");
                }
                self.p.warnings.push(problem);
            }
        }
        for (index, a) in file.assignments.iter().enumerate() {
            let section = file.section_of(a);
            if !section.known {
                continue;
            }
            if let Some(message) = self.other_release_directive(&section.name, &a.key) {
                // The whole line is ignored: a syntax matter (CAP002).
                let problem = Problem {
                    kind: ProblemKind::Syntax,
                    ..self.value_problem(file_index, a, message)
                };
                self.p.warnings.push(problem);
                continue;
            }
            let origin = Origin::of(file, file_index, index);
            let result = if Some(section.name.as_str()) == self.exec_section {
                self.exec_assignment(a, origin)
            } else {
                Ok(self.other_assignment(&section.name, a))
            };
            match result {
                Ok(None) => {}
                Ok(Some(warning)) => {
                    let problem = self.value_problem(file_index, a, warning);
                    self.p.warnings.push(problem);
                }
                Err(message) if is_fragment => {
                    let mut problem = self.value_problem(file_index, a, message);
                    problem.fatal = true;
                    self.refuse(problem);
                    return;
                }
                Err(message) => {
                    let message = format!("{message}; the rest of this drop-in is skipped");
                    let mut problem = self.value_problem(file_index, a, message);
                    problem.fatal = true;
                    self.p.warnings.push(problem);
                    return;
                }
            }
        }
    }

    /// For a key another release knows and this one does not, why systemd
    /// ignores the line ("Unknown key").
    fn other_release_directive(&self, section: &str, key: &str) -> Option<String> {
        let semantics = self.unit.semantics;
        if semantics.knows_directive(section, key) {
            return None;
        }
        Some(match Semantics::directive_known_in(section, key)? {
            KnownIn::Since(since) | KnownIn::Between([since, _]) if since > semantics.release() => {
                format!("{key}= is not known to {semantics} (it came with systemd {since}); systemd ignores this line")
            }
            _ => format!("{key}= was dropped before {semantics}; systemd ignores this line"),
        })
    }

    /// Settings outside the exec section that decide whether a service
    /// loads; the warning when systemd ignores the value.
    fn other_assignment(&mut self, section: &str, a: &Assignment) -> Option<String> {
        if section != "Unit" || a.key != "SuccessAction" {
            return None;
        }
        // A value the release does not know is ignored (the previous one
        // stays); in the user manager, system actions become exit-force,
        // an action all the same.
        if !self.unit.semantics.is_success_action(&a.value) {
            return Some(format!(
                "failed to parse SuccessAction=, ignoring: {}",
                a.value
            ));
        }
        self.has_success_action = a.value != "none";
        None
    }

    fn specifiers(&self) -> SpecifierContext<'u> {
        SpecifierContext {
            name: &self.unit.name,
            fragment: match &self.unit.fragment {
                Fragment::File(f) => Some(&f.path),
                _ => None,
            },
            user_manager: self.unit.user_manager,
            root: &self.unit.root,
        }
    }

    /// One assignment in [Service]/[Socket]/[Mount]/[Swap]: `Err` when
    /// systemd treats it as fatal, `Ok(Some(warning))` when it ignores it.
    fn exec_assignment(
        &mut self,
        a: &Assignment,
        mut origin: Origin,
    ) -> Result<Option<String>, String> {
        let key = a.key.as_str();
        let value = a.value.as_str();
        match key {
            "User" | "Group" => {
                let setting = if key == "User" {
                    &mut self.p.user
                } else {
                    &mut self.p.group
                };
                if value.is_empty() {
                    setting.replace(None, origin);
                    return Ok(None);
                }
                let expanded = self.specifiers().expand(value).map_err(|e| {
                    format!("failed to resolve unit specifier %{} in {key}={value}", e.0)
                })?;
                if !valid_user_group_name(&expanded) {
                    return Err(format!("invalid user/group name or numeric ID: {expanded}"));
                }
                let setting = if key == "User" {
                    &mut self.p.user
                } else {
                    &mut self.p.group
                };
                setting.replace(Some(expanded), origin);
            }
            "DynamicUser" => {
                let v = parse_boolean(value)
                    .ok_or_else(|| format!("failed to parse boolean value: {value}"))?;
                self.p.dynamic_user.replace(v, origin);
            }
            "SupplementaryGroups" => {
                if value.is_empty() {
                    self.p.supplementary_groups.replace(Vec::new(), origin);
                    return Ok(None);
                }
                let mut groups = self.p.supplementary_groups.value.clone();
                for word in words(value, Unescape::Literal).0 {
                    let g = self.specifiers().expand(&word).map_err(|e| {
                        format!("failed to resolve unit specifier %{} in {word}", e.0)
                    })?;
                    if !valid_user_group_name(&g) {
                        return Err(format!("invalid user/group name or numeric ID: {g}"));
                    }
                    groups.push(g);
                }
                self.p.supplementary_groups.merge(groups, origin);
            }
            "CapabilityBoundingSet" | "AmbientCapabilities" => {
                let (list, setting) = if key == "CapabilityBoundingSet" {
                    (CapList::Bounding, &mut self.p.capability_bounding_set)
                } else {
                    (CapList::Ambient, &mut self.p.ambient_capabilities)
                };
                let semantics = self.unit.semantics;
                let parsed = CapAssignment::parse(value, semantics);
                origin.dropped = parsed.dropped.clone();
                match parsed.apply(setting.value, list, semantics) {
                    (set, Merge::Replaced) => setting.replace(set, origin),
                    (set, Merge::Merged) => setting.merge(set, origin),
                }
            }
            "NoNewPrivileges" => match parse_boolean(value) {
                Some(v) => self.p.no_new_privileges.explicit.replace(v, origin),
                None => {
                    return Ok(Some(format!(
                        "failed to parse boolean value, ignoring: {value}"
                    )))
                }
            },
            "SecureBits" => {
                let (bits, dropped) = parse_secure_bits(value, self.unit.semantics);
                origin.dropped = dropped;
                self.p.secure_bits.replace(bits, origin);
            }
            _ if self
                .unit
                .semantics
                .exec_directives(self.unit.name.unit_type)
                .any(|d| d == key) =>
            {
                return self.exec_command(a, origin);
            }
            "Type" if self.unit.name.unit_type == UnitType::Service => {
                self.p.service_type = Some(value.to_string());
            }
            "RemainAfterExit" => {
                if let Some(v) = parse_boolean(value) {
                    self.remain_after_exit = v;
                }
            }
            "BusName" => self.has_bus_name = !value.is_empty(),
            "Environment" | "EnvironmentFile" | "PassEnvironment" | "UnsetEnvironment" => {
                self.environment_assignment(a, origin)
            }
            _ if directories::Kind::of(key).is_some() => return Ok(self.directory_assignment(a)),
            _ => return Ok(self.sandboxing_assignment(a, origin)),
        }
        Ok(None)
    }

    fn exec_command(&mut self, a: &Assignment, origin: Origin) -> Result<Option<String>, String> {
        let semantics = self.unit.semantics;
        match parse_exec(&a.value, &self.specifiers(), semantics) {
            ExecAssignment::Reset => self.p.commands.retain(|c| c.directive != a.key),
            ExecAssignment::Commands(commands, problem) => {
                let ignored_prefix = semantics.ambient_magic_ignored()
                    && commands.iter().any(|c| c.has(Prefix::AmbientMagic));
                for command in commands {
                    self.p.commands.push(Command {
                        directive: a.key.clone(),
                        command,
                        origin: origin.clone(),
                    });
                }
                if let Some(problem) = problem {
                    return if problem.fatal {
                        Err(problem.message)
                    } else {
                        Ok(Some(problem.message))
                    };
                }
                if ignored_prefix {
                    return Ok(Some(format!(
                        "the !! prefix is ignored from systemd {} on",
                        crate::semantics::AMBIENT_MAGIC_IGNORED.since
                    )));
                }
            }
        }
        Ok(None)
    }

    /// The environment settings (each merges into its list or resets it).
    /// What systemd ignores is kept with the settings, for `run` and
    /// `record` to show, not reported by lint: it is no privilege matter.
    fn environment_assignment(&mut self, a: &Assignment, origin: Origin) {
        let specifiers = self.specifiers();
        let settings = &mut self.p.environment;
        let setting = match a.key.as_str() {
            "Environment" => &mut settings.assignments,
            "EnvironmentFile" => &mut settings.files,
            "PassEnvironment" => &mut settings.pass,
            _ => &mut settings.unset,
        };
        let mut list = setting.value.clone();
        let warnings = match a.key.as_str() {
            "Environment" => environment::parse_environment(&a.value, &specifiers, &mut list),
            "EnvironmentFile" => {
                environment::parse_environment_file(&a.value, &specifiers, &mut list)
                    .into_iter()
                    .collect()
            }
            key => environment::parse_name_list(key, &a.value, &specifiers, &mut list),
        };
        let at = format!("{}:{}: {}=", origin.file.display(), origin.line, a.key);
        if a.value.is_empty() {
            setting.replace(list, origin);
        } else {
            setting.merge(list, origin);
        }
        settings
            .ignored
            .extend(warnings.into_iter().map(|w| format!("{at}: {w}")));
    }

    /// RuntimeDirectory= and its kin, and their modes.
    fn directory_assignment(&mut self, a: &Assignment) -> Option<String> {
        let (kind, is_mode) = directories::Kind::of(&a.key).expect("checked by the caller");
        let specifiers = self.specifiers();
        let list = &mut self.p.directories;
        let at = match list.iter().position(|(k, _)| *k == kind) {
            Some(at) => at,
            None => {
                list.push((kind, directories::Directories::default()));
                list.len() - 1
            }
        };
        let dirs = &mut list[at].1;
        let warnings = if is_mode {
            directories::parse_mode(&a.value, dirs)
                .into_iter()
                .collect()
        } else {
            directories::parse_paths(&a.value, &specifiers, dirs)
        };
        (!warnings.is_empty()).then(|| warnings.join("; "))
    }

    /// Options that matter for NoNewPrivileges= at run time, for the
    /// bounding set and for the user namespace.
    fn sandboxing_assignment(&mut self, a: &Assignment, origin: Origin) -> Option<String> {
        let key = a.key.as_str();
        let value = a.value.as_str();
        let semantics = self.unit.semantics;
        let ignored = || Some(format!("failed to parse boolean value, ignoring: {value}"));
        if let Some((_, setting)) = self.booleans.iter_mut().find(|(k, _)| *k == key) {
            match parse_boolean(value) {
                Some(v) => setting.replace(v, origin),
                None => return ignored(),
            }
            return None;
        }
        match key {
            "ProtectHostname" => {
                match semantics.protect_hostname(value) {
                    Some(v) => self.protect_hostname.replace(v, origin),
                    None => return ignored(),
                }
                return None;
            }
            "PrivateUsers" => {
                match semantics.private_users(value) {
                    Some(v) => self.p.private_users.replace(v, origin),
                    None => return ignored(),
                }
                return None;
            }
            "SystemCallFilter" => self.syscall_filter.assign(value),
            "WorkingDirectory" => {
                self.home_directory = value.strip_prefix('-').unwrap_or(value) == "~";
            }
            "PAMName" => self.pam = !value.is_empty(),
            // Unknown to releases before it (and then ignored).
            "PrivatePIDs" if semantics.knows_private_pids() => match parse_boolean(value) {
                Some(v) => self.private_pids = v,
                None => return ignored(),
            },
            _ => {}
        }
        // RestrictNamespaces=yes or a list restricts; `no` or empty does not.
        // The list options imply NNP whenever they are set at all.
        let implies = match key {
            "RestrictNamespaces" => parse_boolean(value).unwrap_or(!value.is_empty()),
            _ => !value.is_empty(),
        };
        if let Some((_, last)) = self.lists.iter_mut().find(|(k, _)| *k == key) {
            *last = implies.then_some(origin.clone());
        }
        if let Some((_, last)) = self.namespacing.iter_mut().find(|(k, _)| *k == key) {
            let set = !value.is_empty() && parse_boolean(value) != Some(false);
            *last = set.then_some(origin);
        }
        None
    }

    /// The assignments that turned the tracked sandboxing booleans on.
    fn booleans_on(&self) -> Vec<Origin> {
        self.booleans
            .iter()
            .filter(|(_, s)| s.value)
            .flat_map(|(_, s)| s.origins.clone())
            .collect()
    }

    fn boolean(&self, key: &str) -> &Setting<bool> {
        &self
            .booleans
            .iter()
            .find(|(k, _)| *k == key)
            .expect("tracked boolean")
            .1
    }

    /// What systemd does after loading: DynamicUser= defaults, bounding-set
    /// removals, runtime NNP, and the service sanity checks.
    fn finish(&mut self) {
        if self.p.dynamic_user.value {
            if self.p.user.value.is_none() {
                self.p.user.value = Some(dynamic_user_name(&self.unit.name.prefix));
            }
            if self.p.group.value.is_none() {
                self.p.group.value = self.p.user.value.clone();
            }
            self.p.no_new_privileges.implied_by_dynamic_user = true;
        }
        for (option, names) in BOUNDING_REMOVALS {
            if !self.boolean(option).value {
                continue;
            }
            let removes = crate::caps::set_of(names);
            let bounding = &mut self.p.capability_bounding_set;
            let taken = bounding.value.intersection(removes);
            bounding.value = bounding.value.difference(removes);
            if !taken.is_empty() {
                self.p
                    .removed_from_bounding_set
                    .push((option.to_string(), taken));
            }
        }
        let mut implied = self.booleans_on();
        // Only `yes` installs a seccomp filter; `private` does not.
        if self.protect_hostname.value == ProtectHostname::Yes {
            implied.extend(self.protect_hostname.origins.clone());
        }
        implied.extend(self.lists.iter().filter_map(|(_, o)| o.clone()));
        if self.p.dynamic_user.value && !self.boolean("RestrictSUIDSGID").value {
            // DynamicUser= also forces RestrictSUIDSGID=yes.
            implied.extend(self.p.dynamic_user.origins.clone());
        }
        let nnp = &mut self.p.no_new_privileges;
        if self.unit.semantics.seccomp_keeps_privileges()
            && self.syscall_filter.allows_dropping_privileges()
        {
            nnp.not_implied_by = implied;
        } else {
            nnp.implied_at_runtime_by = implied;
        }
        self.imply_private_users();
        if self.p.loaded && self.unit.name.unit_type.has_exec_context() {
            self.verify_exec_context();
        }
        if self.p.loaded && self.unit.name.unit_type == UnitType::Service {
            self.verify_service();
        }
    }

    /// From 254, a unit of the user manager with sandboxing options runs
    /// in a user namespace (PrivateUsers=self) even when it does not ask.
    fn imply_private_users(&mut self) {
        if !self.unit.user_manager
            || !self.unit.semantics.user_units_imply_private_users()
            || self.p.private_users.value != PrivateUsers::No
        {
            return;
        }
        let mut by = self.booleans_on();
        if self.protect_hostname.value != ProtectHostname::No {
            by.extend(self.protect_hostname.origins.clone());
        }
        by.extend(self.namespacing.iter().filter_map(|(_, o)| o.clone()));
        if !by.is_empty() {
            self.p.private_users = Setting {
                value: PrivateUsers::SelfOnly,
                origins: by,
            };
        }
    }

    /// systemd's `unit_verify_contexts()` checks that refuse a unit with
    /// an exec context, as the release has them.
    fn verify_exec_context(&mut self) {
        let semantics = self.unit.semantics;
        let dynamic = self.p.dynamic_user.value;
        let message = if dynamic
            && self.unit.user_manager
            && semantics.refuses_dynamic_user_in_user_units()
        {
            "DynamicUser= enabled for user unit, which is not supported"
        } else if dynamic
            && self.home_directory
            && semantics.refuses_home_directory_with_dynamic_user()
        {
            "WorkingDirectory=~ is not allowed under DynamicUser=yes"
        } else if self.private_pids && self.unit.name.unit_type != UnitType::Service {
            "PrivatePIDs= setting is only supported for service units"
        } else if self.p.private_users.value == PrivateUsers::Managed
            && (self.p.user.value.is_some() || self.p.group.value.is_some() || dynamic || self.pam)
        {
            "PrivateUsers=managed may not be used in combination with User=/DynamicUser=/Group=/PAMName="
        } else {
            return;
        };
        self.refuse_unit(message);
    }

    /// systemd's `service_verify()` checks that refuse a service.
    fn verify_service(&mut self) {
        let starts = self
            .p
            .commands
            .iter()
            .filter(|c| c.directive == "ExecStart")
            .count();
        let has_stop = self.p.commands.iter().any(|c| c.directive == "ExecStop");
        let oneshot = match self.p.service_type.as_deref() {
            Some(t) => t == "oneshot",
            None => !self.has_bus_name && starts == 0,
        };
        let message = if starts == 0 && !has_stop && !self.has_success_action {
            Some("service has no ExecStart=, ExecStop=, or SuccessAction=")
        } else if !oneshot && starts == 0 {
            Some("service has no ExecStart= setting, which is only allowed for Type=oneshot services")
        } else if !self.remain_after_exit && starts == 0 && !self.has_success_action {
            Some("service has no ExecStart= and no SuccessAction= settings and does not have RemainAfterExit=yes set")
        } else if !oneshot && starts > 1 {
            Some("service has more than one ExecStart= setting, which is only allowed for Type=oneshot services")
        } else {
            None
        };
        if let Some(message) = message {
            self.refuse_unit(message);
        }
    }

    /// Refuses the unit as a whole (not for one of its lines).
    fn refuse_unit(&mut self, message: &str) {
        self.refuse(Problem {
            file: self.p.path.clone().unwrap_or_default(),
            line: 0,
            message: message.to_string(),
            kind: ProblemKind::Service,
            fatal: true,
            key: None,
            at: None,
        });
    }
}

impl Problem {
    fn load(path: &std::path::Path, message: String) -> Problem {
        Problem {
            file: path.to_path_buf(),
            line: 0,
            message,
            kind: ProblemKind::Load,
            fatal: true,
            key: None,
            at: None,
        }
    }
}

/// The user name DynamicUser= picks when User= is unset: the unit prefix if
/// it is a valid (strict) user name, otherwise `_du` and a hash of it.
pub fn dynamic_user_name(prefix: &str) -> String {
    let strict = prefix.len() <= 31
        && prefix
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if strict {
        prefix.to_string()
    } else {
        format!(
            "_du{:016x}",
            siphash24(prefix.as_bytes(), &DYNAMIC_USER_HASH_KEY)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::dynamic_user_name;

    #[test]
    fn dynamic_user_names_match_systemd() {
        assert_eq!(dynamic_user_name("capt"), "capt");
        // Both values read from systemd-analyze 252 on this machine.
        assert_eq!(dynamic_user_name("foo.bar"), "_du10649011993341eb");
        assert_eq!(dynamic_user_name("9abc"), "_due2b22207e1771214");
    }
}

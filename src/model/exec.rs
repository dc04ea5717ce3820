//! Exec command lines (`ExecStart=` and friends) as systemd's
//! `config_parse_exec()` reads them: prefixes (which depend on the
//! release), path, argv.

/// systemd's default PATH, where bare executable names are looked up.
pub const DEFAULT_PATH: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

use super::specifier::SpecifierContext;
use super::words::{next_word, Unescape};
use crate::semantics::Semantics;
use serde::Serialize;

/// What a `|` command is stored as: the shell placeholder that systemd
/// replaces with the user's shell at exec (`_PATH_BSHELL`), and the shell
/// it runs for a user whose shell is a placeholder.
pub const SHELL: &str = "/bin/sh";

/// Shells that only refuse a login (systemd's `is_nologin_shell()`).
pub const NOLOGIN_SHELLS: [&str; 8] = [
    "/bin/nologin",
    "/sbin/nologin",
    "/usr/bin/nologin",
    "/usr/sbin/nologin",
    "/bin/false",
    "/usr/bin/false",
    "/bin/true",
    "/usr/bin/true",
];

/// A special executable prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Prefix {
    /// `-`: a failure exit status is ignored.
    #[serde(rename = "-")]
    IgnoreFailure,
    /// `@`: the second word is argv[0].
    #[serde(rename = "@")]
    SeparateArgv0,
    /// `:`: no environment variable expansion.
    #[serde(rename = ":")]
    NoEnvExpand,
    /// `+`: full privileges, no sandboxing, no User=.
    #[serde(rename = "+")]
    FullyPrivileged,
    /// `!`: sandboxing, but no user or group change.
    #[serde(rename = "!")]
    NoSetuid,
    /// `!!`: like no prefix on kernels with ambient capabilities (and
    /// ignored from systemd 258 on).
    #[serde(rename = "!!")]
    AmbientMagic,
    /// `|` (systemd 258 on): the command line runs with the user's shell.
    #[serde(rename = "|")]
    ViaShell,
}

impl Prefix {
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::IgnoreFailure => "-",
            Prefix::SeparateArgv0 => "@",
            Prefix::NoEnvExpand => ":",
            Prefix::FullyPrivileged => "+",
            Prefix::NoSetuid => "!",
            Prefix::AmbientMagic => "!!",
            Prefix::ViaShell => "|",
        }
    }
}

/// One command of an Exec* setting.
#[derive(Debug, Clone, Serialize)]
pub struct ExecCommand {
    pub prefixes: Vec<Prefix>,
    /// The executable: an absolute path, or a name looked up in PATH
    /// ([`SHELL`] for `|`, which runs the user's shell).
    pub path: String,
    /// For `|`: `sh` (`-sh` with `@`) and the words of the command line.
    pub argv: Vec<String>,
}

impl ExecCommand {
    pub fn has(&self, prefix: Prefix) -> bool {
        self.prefixes.contains(&prefix)
    }

    /// True when the command runs as root with full capabilities whatever
    /// User= and the capability settings say (`+`), or keeps uid 0 (`!`).
    pub fn escapes_user(&self) -> bool {
        self.has(Prefix::FullyPrivileged) || self.has(Prefix::NoSetuid)
    }

    /// What `shell` is given for a `|` command after `$VAR` expansion of
    /// `argv`: argv[0] (`sh` or `-sh`), `-c` and the command line, its
    /// words joined with spaces.
    pub fn via_shell_argv(argv: &[String]) -> Vec<String> {
        vec![argv[0].clone(), "-c".to_string(), argv[1..].join(" ")]
    }

    /// The command as its unit writes it: prefixes, then the executable
    /// (for `|`, the shell command line).
    pub fn display(&self) -> String {
        let prefixes: String = self.prefixes.iter().map(|p| p.as_str()).collect();
        if self.has(Prefix::ViaShell) {
            format!("{prefixes}{}", self.argv[1..].join(" "))
        } else {
            format!("{prefixes}{}", self.path)
        }
    }
}

/// What one Exec* assignment did.
#[derive(Debug, Clone)]
pub enum ExecAssignment {
    /// An empty value: the list is emptied.
    Reset,
    /// Commands to append, and the problem that stopped reading, if any.
    Commands(Vec<ExecCommand>, Option<ExecProblem>),
}

/// A problem in an Exec* line.
#[derive(Debug, Clone)]
pub struct ExecProblem {
    pub message: String,
    /// True when systemd refuses the unit; false when the `-` prefix turned
    /// the error into a warning and the command was dropped.
    pub fatal: bool,
}

/// Reads one Exec* value as `semantics` does.
pub fn parse_exec(
    value: &str,
    specifiers: &SpecifierContext,
    semantics: Semantics,
) -> ExecAssignment {
    let mut rest = value.trim_start_matches(super::words::is_separator);
    if rest.is_empty() {
        return ExecAssignment::Reset;
    }
    let mut commands = Vec::new();
    loop {
        let first = match next_word(&mut rest, Unescape::CEscapes) {
            Ok(Some(word)) => word,
            Ok(None) => break,
            // systemd logs the bad word and drops the rest of the line,
            // keeping the commands before it: never fatal.
            Err(e) => {
                let problem = ExecProblem {
                    message: format!("invalid command line, ignoring the rest: {e:?}"),
                    fatal: false,
                };
                return ExecAssignment::Commands(commands, Some(problem));
            }
        };
        if first == ";" {
            continue;
        }
        let (prefixes, path) = split_prefixes(&first, semantics);
        let ignore = prefixes.contains(&Prefix::IgnoreFailure);
        let fail = |message: String| ExecProblem {
            message: if ignore {
                format!("{message}, ignoring")
            } else {
                message
            },
            fatal: !ignore,
        };
        let mut argv = Vec::new();
        let path = if prefixes.contains(&Prefix::ViaShell) {
            // The shell's argv[0], then the first word as written: neither
            // expanded nor checked, the shell reads it. `@` asks for a
            // login shell.
            let login = prefixes.contains(&Prefix::SeparateArgv0);
            argv.push(if login { "-sh" } else { "sh" }.to_string());
            if !path.is_empty() {
                argv.push(path.to_string());
            }
            SHELL.to_string()
        } else {
            let path = match specifiers.expand(path) {
                Ok(p) => p,
                Err(e) => {
                    let problem = fail(format!("failed to resolve specifier %{} in '{path}'", e.0));
                    return ExecAssignment::Commands(commands, Some(problem));
                }
            };
            if let Some(message) = invalid_executable(&path) {
                return ExecAssignment::Commands(commands, Some(fail(message)));
            }
            if !prefixes.contains(&Prefix::SeparateArgv0) {
                argv.push(path.clone());
            }
            path
        };
        let mut separated = false;
        loop {
            rest = rest.trim_start_matches(super::words::is_separator);
            if rest.is_empty() {
                break;
            }
            if let Some(after) = lone_token(rest, ";") {
                rest = after;
                separated = true;
                break;
            }
            if let Some(after) = lone_token(rest, "\\;") {
                rest = after;
                argv.push(";".to_string());
                continue;
            }
            match next_word(&mut rest, Unescape::CEscapes) {
                Ok(Some(word)) => match specifiers.expand(&word) {
                    Ok(w) => argv.push(w),
                    Err(e) => {
                        let problem =
                            fail(format!("failed to resolve specifier %{} in '{word}'", e.0));
                        return ExecAssignment::Commands(commands, Some(problem));
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    let problem = fail(format!("invalid command line: {e:?}"));
                    return ExecAssignment::Commands(commands, Some(problem));
                }
            }
        }
        if argv.is_empty() {
            let problem = fail("empty executable name or zeroeth argument".to_string());
            return ExecAssignment::Commands(commands, Some(problem));
        }
        commands.push(ExecCommand {
            prefixes,
            path,
            argv,
        });
        if !separated {
            break;
        }
    }
    ExecAssignment::Commands(commands, None)
}

/// `rest` starts with `token` standing alone (followed by white space or
/// the end): returns what follows.
fn lone_token<'a>(rest: &'a str, token: &str) -> Option<&'a str> {
    let after = rest.strip_prefix(token)?;
    (after.is_empty() || after.starts_with(super::words::is_separator)).then_some(after)
}

/// Reads the prefix characters the way systemd's loop does: each of `-`,
/// `@`, `:` (and, from 258, `|`) once, and one of `+`, `!`, `!!`; the
/// first character that does not fit ends the prefix and stays in the path.
fn split_prefixes(word: &str, semantics: Semantics) -> (Vec<Prefix>, &str) {
    let mut prefixes: Vec<Prefix> = Vec::new();
    let privilege = |p: &[Prefix]| {
        p.iter().any(|x| {
            matches!(
                x,
                Prefix::FullyPrivileged | Prefix::NoSetuid | Prefix::AmbientMagic
            )
        })
    };
    let mut rest = word;
    loop {
        let next = match rest.as_bytes().first() {
            Some(b'-') if !prefixes.contains(&Prefix::IgnoreFailure) => Prefix::IgnoreFailure,
            Some(b'@') if !prefixes.contains(&Prefix::SeparateArgv0) => Prefix::SeparateArgv0,
            Some(b':') if !prefixes.contains(&Prefix::NoEnvExpand) => Prefix::NoEnvExpand,
            Some(b'|') if semantics.exec_via_shell() && !prefixes.contains(&Prefix::ViaShell) => {
                Prefix::ViaShell
            }
            Some(b'+') if !privilege(&prefixes) => Prefix::FullyPrivileged,
            Some(b'!') if !privilege(&prefixes) => Prefix::NoSetuid,
            Some(b'!')
                if prefixes.contains(&Prefix::NoSetuid)
                    && !prefixes.contains(&Prefix::FullyPrivileged)
                    && !prefixes.contains(&Prefix::AmbientMagic) =>
            {
                prefixes.retain(|p| *p != Prefix::NoSetuid);
                Prefix::AmbientMagic
            }
            _ => break,
        };
        prefixes.push(next);
        rest = &rest[1..];
    }
    (prefixes, rest)
}

/// systemd's checks on the executable path; the message when it fails.
fn invalid_executable(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("empty path in command line".to_string());
    }
    if path
        .chars()
        .any(|c| (c as u32) < 0x20 || c == '\u{7f}' || matches!(c, '"' | '\'' | '\\'))
    {
        return Some(format!(
            "executable name contains special characters: {path}"
        ));
    }
    if path.ends_with('/') {
        return Some(format!("executable path specifies a directory: {path}"));
    }
    let valid_file_name = path != "." && path != ".." && !path.contains('/') && path.len() <= 255;
    if !path.starts_with('/') && !valid_file_name {
        return Some(format!(
            "neither a valid executable name nor an absolute path: {path}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit_name::UnitName;

    fn parse(value: &str) -> ExecAssignment {
        parse_as(value, Semantics::OLDEST)
    }

    fn parse_as(value: &str, semantics: Semantics) -> ExecAssignment {
        let name = UnitName::parse("x.service").unwrap();
        let cx = SpecifierContext {
            name: &name,
            fragment: None,
            user_manager: false,
            root: std::path::Path::new("/"),
        };
        parse_exec(value, &cx, semantics)
    }

    fn commands(value: &str) -> Vec<(String, String, Vec<String>)> {
        commands_as(value, Semantics::OLDEST)
    }

    fn commands_as(value: &str, semantics: Semantics) -> Vec<(String, String, Vec<String>)> {
        match parse_as(value, semantics) {
            ExecAssignment::Commands(c, None) => c
                .into_iter()
                .map(|c| {
                    let p: String = c.prefixes.iter().map(|p| p.as_str()).collect();
                    (p, c.path, c.argv)
                })
                .collect(),
            other => panic!("{value}: {other:?}"),
        }
    }

    fn problem(value: &str) -> ExecProblem {
        match parse(value) {
            ExecAssignment::Commands(_, Some(p)) => p,
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn prefixes_combine_as_in_systemd() {
        assert_eq!(commands("-@:+/bin/true argv0 x")[0].0, "-@:+");
        assert_eq!(commands("-@:+/bin/true argv0 x")[0].2, ["argv0", "x"]);
        assert_eq!(commands("!!/bin/true")[0].0, "!!");
        assert!(problem("+!/bin/true").fatal);
        assert!(problem("!!!/bin/true").fatal);
        assert!(problem("|/bin/true").fatal);
        assert_eq!(commands("|true")[0].1, "|true");
        assert!(!problem("--/bin/true").fatal);
        // A first word that cannot be read drops the rest of the line.
        assert!(!problem("\"unterminated").fatal);
        assert_eq!(commands("true")[0].1, "true");
        assert_eq!(commands("/bin/%n")[0].1, "/bin/x.service");
    }

    /// Measured with 262's systemd-analyze (docs/semantics-releases.md).
    #[test]
    fn via_shell_from_258() {
        let s258 = Semantics::new(258).unwrap();
        let shell = |v| commands_as(v, s258);
        let argv = |v| shell(v).remove(0).2;
        assert_eq!(shell("|echo hi")[0].0, "|");
        assert_eq!(shell("|echo hi")[0].1, SHELL);
        assert_eq!(argv("|echo hi"), ["sh", "echo", "hi"]);
        assert_eq!(argv("|/bin/%z x"), ["sh", "/bin/%z", "x"]);
        assert_eq!(argv("@|true x"), ["-sh", "true", "x"]);
        assert_eq!(argv("|"), ["sh"]);
        assert_eq!(argv("||true"), ["sh", "|true"]);
        assert_eq!(shell("+|true")[0].0, "+|");
        assert_eq!(shell("|!true")[0].0, "|!");
        assert!(
            matches!(parse_as("|echo %z", s258), ExecAssignment::Commands(_, Some(p)) if p.fatal)
        );
    }

    #[test]
    fn semicolons_separate_commands() {
        let c = commands("/bin/a 1 ; /bin/b \\; x");
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].2, ["/bin/b", ";", "x"]);
        assert!(matches!(parse(""), ExecAssignment::Reset));
    }
}

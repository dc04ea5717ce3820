//! The environment systemd 252 gives a service's processes, and the `$VAR`
//! expansion of its Exec command lines.
//!
//! Loading (src/core/load-fragment.c): `config_parse_environ()`,
//! `config_parse_unit_env_file()`, `config_parse_pass_environ()`,
//! `config_parse_unset_environ()`. At exec (src/core/execute.c):
//! `exec_context_load_environment()` reads the files, `exec_child()` merges
//! the sources, `replace_env_argv()` (src/basic/env-util.c) expands the
//! argv. The file syntax is `parse_env_file_internal()`
//! (src/basic/env-file.c).

use super::specifier::SpecifierContext;
use super::words::{next_word, words_relaxed, Unescape};
use super::Setting;
use serde::Serialize;
use std::path::Path;

/// The environment settings of a unit, as loaded.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentSettings {
    /// Environment=: `NAME=value` assignments, one per name, in the order
    /// systemd keeps them.
    pub assignments: Setting<Vec<String>>,
    /// EnvironmentFile=: absolute paths (glob patterns), `-` first when a
    /// missing file is fine.
    pub files: Setting<Vec<String>>,
    /// PassEnvironment=: names taken from the manager's own environment.
    pub pass: Setting<Vec<String>>,
    /// UnsetEnvironment=: names, or exact `NAME=value` assignments.
    pub unset: Setting<Vec<String>>,
    /// What systemd ignores in these settings, with file and line.
    pub ignored: Vec<String>,
}

impl Default for EnvironmentSettings {
    fn default() -> Self {
        EnvironmentSettings {
            assignments: Setting::new(Vec::new()),
            files: Setting::new(Vec::new()),
            pass: Setting::new(Vec::new()),
            unset: Setting::new(Vec::new()),
            ignored: Vec::new(),
        }
    }
}

impl EnvironmentSettings {
    /// True when the unit sets none of the four.
    pub fn is_empty(&self) -> bool {
        [&self.assignments, &self.files, &self.pass, &self.unset]
            .iter()
            .all(|s| s.value.is_empty())
    }
}

/// `env_name_is_valid()`: bash's rules, letters, digits and `_`, not
/// starting with a digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `env_assignment_is_valid()`: a valid name, `=`, any value (a Rust string
/// is valid UTF-8 already; control characters are allowed).
pub fn valid_assignment(assignment: &str) -> bool {
    assignment
        .split_once('=')
        .is_some_and(|(name, _)| valid_name(name))
}

/// The name part of an assignment (all of it when there is no `=`).
fn name_of(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(name, _)| name)
}

/// `strv_env_replace_consume()`: replaces the first entry with the same
/// name (dropping later ones) or appends.
fn replace_or_append(list: &mut Vec<String>, assignment: String) {
    let name = name_of(&assignment).to_string();
    match list
        .iter()
        .position(|e| name_of(e) == name && e.contains('='))
    {
        Some(at) => {
            list[at] = assignment;
            let mut index = 0;
            list.retain(|e| {
                index += 1;
                index - 1 <= at || name_of(e) != name
            });
        }
        None => list.push(assignment),
    }
}

/// A word of a list setting after specifiers; the warning when systemd
/// skips it.
fn expand_word(word: &str, specifiers: &SpecifierContext) -> Result<String, String> {
    specifiers
        .expand(word)
        .map_err(|e| format!("failed to resolve specifier %{} in {word}, ignoring", e.0))
}

/// Environment=: quoted words, C escapes, specifiers; each a `NAME=value`
/// that replaces an earlier one of the same name; empty resets. Returns
/// the warnings for what systemd ignores.
pub fn parse_environment(
    value: &str,
    specifiers: &SpecifierContext,
    list: &mut Vec<String>,
) -> Vec<String> {
    if value.is_empty() {
        list.clear();
        return Vec::new();
    }
    let mut warnings = Vec::new();
    let mut rest = value;
    loop {
        let word = match next_word(&mut rest, Unescape::CEscapesStrict) {
            Ok(Some(word)) => word,
            Ok(None) => break,
            // The words before the error stay; the rest of the line goes.
            Err(_) => {
                warnings.push(format!("invalid syntax, ignoring: {value}"));
                break;
            }
        };
        match expand_word(&word, specifiers) {
            Ok(assignment) if valid_assignment(&assignment) => replace_or_append(list, assignment),
            Ok(assignment) => warnings.push(format!(
                "invalid environment assignment, ignoring: {assignment}"
            )),
            Err(warning) => warnings.push(warning),
        }
    }
    warnings
}

/// PassEnvironment= (`EXTRACT_UNQUOTE`, names) and UnsetEnvironment=
/// (`EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`, names or assignments): words are
/// added unless already listed; empty resets; a syntax error keeps the
/// words read before it.
pub fn parse_name_list(
    key: &str,
    value: &str,
    specifiers: &SpecifierContext,
    list: &mut Vec<String>,
) -> Vec<String> {
    if value.is_empty() {
        list.clear();
        return Vec::new();
    }
    let (unescape, accepts): (Unescape, fn(&str) -> bool) = if key == "UnsetEnvironment" {
        (Unescape::CEscapesStrict, |w| {
            valid_assignment(w) || valid_name(w)
        })
    } else {
        (Unescape::Literal, valid_name)
    };
    let mut warnings = Vec::new();
    let mut rest = value;
    loop {
        let word = match next_word(&mut rest, unescape) {
            Ok(Some(word)) => word,
            Ok(None) => break,
            Err(_) => {
                warnings.push(format!("trailing garbage in {key}, ignoring: {value}"));
                break;
            }
        };
        match expand_word(&word, specifiers) {
            Ok(word) if accepts(&word) => {
                if !list.contains(&word) {
                    list.push(word);
                }
            }
            Ok(word) => warnings.push(format!(
                "invalid environment name for {key}, ignoring: {word}"
            )),
            Err(warning) => warnings.push(warning),
        }
    }
    warnings
}

/// EnvironmentFile=: one path (specifiers expanded), absolute after an
/// optional `-`; empty resets. The warning when systemd ignores the line.
pub fn parse_environment_file(
    value: &str,
    specifiers: &SpecifierContext,
    list: &mut Vec<String>,
) -> Option<String> {
    if value.is_empty() {
        list.clear();
        return None;
    }
    let path = match specifiers.expand(value) {
        Ok(p) => p,
        Err(e) => {
            return Some(format!(
                "failed to resolve unit specifiers in '{value}', ignoring: %{}",
                e.0
            ))
        }
    };
    if !path.strip_prefix('-').unwrap_or(&path).starts_with('/') {
        return Some(format!("path is not absolute, ignoring: {path}"));
    }
    list.push(path);
    None
}

/// The assignments of an environment file, as `load_env_file()` reads
/// them, with `strv_env_clean()` applied (invalid names such as
/// `export FOO` are dropped: systemd 252 has no `export` keyword, and a
/// later assignment of a name wins).
pub fn parse_env_file(text: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum State {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuote,
        DoubleQuote,
        DoubleQuoteEscape,
        Comment,
        CommentEscape,
    }
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let is_newline = |c: char| matches!(c, '\n' | '\r');
    let mut out = Vec::new();
    let mut state = State::PreKey;
    let (mut key, mut value) = (String::new(), String::new());
    // Where trailing white space of the key or an unquoted value starts.
    let (mut key_space, mut value_space): (Option<usize>, Option<usize>) = (None, None);
    let mut push = |key: &mut String, value: &mut String, key_space: Option<usize>| {
        if let Some(at) = key_space {
            key.truncate(at);
        }
        replace_or_append(&mut out, format!("{key}={value}"));
        key.clear();
        value.clear();
    };
    for c in text.chars() {
        match state {
            State::PreKey => {
                if c == '#' || c == ';' {
                    state = State::Comment;
                } else if !is_space(c) {
                    state = State::Key;
                    key_space = None;
                    key.push(c);
                }
            }
            State::Key => {
                if is_newline(c) {
                    // A line without `=` is dropped.
                    state = State::PreKey;
                    key.clear();
                } else if c == '=' {
                    state = State::PreValue;
                    value_space = None;
                } else {
                    if !is_space(c) {
                        key_space = None;
                    } else if key_space.is_none() {
                        key_space = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if is_newline(c) {
                    state = State::PreKey;
                    push(&mut key, &mut value, key_space);
                } else if c == '\'' {
                    state = State::SingleQuote;
                } else if c == '"' {
                    state = State::DoubleQuote;
                } else if c == '\\' {
                    state = State::ValueEscape;
                } else if !is_space(c) {
                    state = State::Value;
                    value.push(c);
                }
            }
            State::Value => {
                if is_newline(c) {
                    state = State::PreKey;
                    if let Some(at) = value_space {
                        value.truncate(at);
                    }
                    push(&mut key, &mut value, key_space);
                } else if c == '\\' {
                    state = State::ValueEscape;
                    value_space = None;
                } else {
                    if !is_space(c) {
                        value_space = None;
                    } else if value_space.is_none() {
                        value_space = Some(value.len());
                    }
                    value.push(c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                // An escaped newline continues the line.
                if !is_newline(c) {
                    value.push(c);
                }
            }
            State::SingleQuote => {
                if c == '\'' {
                    state = State::PreValue;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuote => {
                if c == '"' {
                    state = State::PreValue;
                } else if c == '\\' {
                    state = State::DoubleQuoteEscape;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteEscape => {
                state = State::DoubleQuote;
                // SHELL_NEED_ESCAPE loses its backslash, a newline goes,
                // anything else keeps it, as a shell does.
                if matches!(c, '"' | '\\' | '`' | '$') {
                    value.push(c);
                } else if c != '\n' {
                    value.push('\\');
                    value.push(c);
                }
            }
            State::Comment => {
                if c == '\\' {
                    state = State::CommentEscape;
                } else if is_newline(c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => state = State::Comment,
        }
    }
    match state {
        State::Value => {
            if let Some(at) = value_space {
                value.truncate(at);
            }
            push(&mut key, &mut value, key_space);
        }
        State::PreValue
        | State::ValueEscape
        | State::SingleQuote
        | State::DoubleQuote
        | State::DoubleQuoteEscape => push(&mut key, &mut value, key_space),
        _ => {}
    }
    clean(out)
}

/// `strv_env_clean()`: drops invalid assignments, and of several with one
/// name keeps the last.
fn clean(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let name = name_of(entry);
        let later = list[i + 1..]
            .iter()
            .any(|e| e.contains('=') && name_of(e) == name);
        if valid_assignment(entry) && !later {
            out.push(entry.clone());
        }
    }
    out
}

/// `strv_env_merge()`: each later list's entries replace an earlier one of
/// the same name in place, or are appended.
fn merge(lists: &[&[String]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in lists.iter().flat_map(|l| l.iter()) {
        match out.iter_mut().find(|e| name_of(e) == name_of(entry)) {
            Some(existing) => *existing = entry.clone(),
            None => out.push(entry.clone()),
        }
    }
    out
}

/// `env_match()`: a name matches any assignment of it; an assignment only
/// itself.
fn unset_matches(entry: &str, pattern: &str) -> bool {
    entry == pattern || (!pattern.contains('=') && name_of(entry) == pattern && entry.contains('='))
}

/// Who the process runs as, for HOME, USER, LOGNAME and SHELL: what
/// `get_fixed_user()` finds with `USER_CREDS_CLEAN` (no HOME of `/`, no
/// nologin SHELL), or only the name of a dynamic user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login {
    pub name: String,
    pub home: Option<String>,
    pub shell: Option<String>,
}

/// The inputs of one exec that do not come from the unit file.
pub struct ExecContext<'a> {
    /// User= as looked up (None without User=: systemd then sets none of
    /// HOME, USER, LOGNAME, SHELL).
    pub login: Option<&'a Login>,
    /// Where /etc is read (the locale and the environment files): `/` or
    /// the `--root` tree.
    pub root: &'a Path,
    /// The manager's own environment, for PassEnvironment=.
    pub manager_environment: &'a dyn Fn(&str) -> Option<String>,
    /// `INVOCATION_ID=`: 32 hex digits.
    pub invocation_id: String,
}

/// The locale the system manager passes on (`locale_setup()`): LANG,
/// LANGUAGE and LC_* from /etc/locale.conf, or on Debian (its patch "Use
/// Debian specific config files") /etc/default/locale; `LANG=C.UTF-8`
/// when neither sets anything.
fn locale(root: &Path) -> Vec<String> {
    let read = |p: &str| {
        crate::load::paths::under_root(root, p)
            .and_then(std::fs::read_to_string)
            .ok()
    };
    let text = read("/etc/locale.conf")
        .or_else(|| read("/etc/default/locale"))
        .unwrap_or_default();
    let set: Vec<String> = parse_env_file(&text)
        .into_iter()
        .filter(|e| {
            let (name, value) = e.split_once('=').unwrap_or_default();
            !value.is_empty() && (name == "LANG" || name == "LANGUAGE" || name.starts_with("LC_"))
        })
        .collect();
    if set.is_empty() {
        vec!["LANG=C.UTF-8".to_string()]
    } else {
        set
    }
}

/// Reads the environment files in order (`exec_context_load_environment()`):
/// a pattern matching nothing or a file that cannot be read fails the
/// start, unless the path had `-`.
fn load_files(files: &[String], root: &Path) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for file in files {
        let (ignore, pattern) = match file.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, file.as_str()),
        };
        // The directory is resolved inside the root (an image's links lead
        // nowhere else); the file name may be a pattern.
        let pattern = Path::new(pattern);
        let dir = pattern.parent().unwrap_or(Path::new("/"));
        let rooted = crate::load::paths::under_root(root, &dir.to_string_lossy())
            .map(|d| d.join(pattern.file_name().unwrap_or_default()))
            .unwrap_or_else(|_| root.join("nonexistent"));
        let paths = glob(&rooted.to_string_lossy());
        if paths.is_empty() {
            if ignore {
                continue;
            }
            return Err(format!(
                "failed to load environment files: {}: no such file",
                rooted.display()
            ));
        }
        for path in paths {
            let inside = crate::load::paths::resolve(root, Path::new(&path));
            match inside.and_then(std::fs::read) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    out = merge(&[&out, &parse_env_file(&text)]);
                }
                Err(_) if ignore => {}
                Err(e) => return Err(format!("failed to load environment files: {path}: {e}")),
            }
        }
    }
    Ok(out)
}

/// glob(3) with no flags, as `safe_glob()` calls it: sorted matches.
fn glob(pattern: &str) -> Vec<String> {
    let Ok(c) = std::ffi::CString::new(pattern) else {
        return Vec::new();
    };
    // SAFETY: glob fills a zeroed glob_t; globfree releases it; the paths
    // are copied out before that.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        if libc::glob(c.as_ptr(), 0, None, &mut g) != 0 {
            libc::globfree(&mut g);
            return Vec::new();
        }
        let paths = (0..g.gl_pathc)
            .map(|i| {
                std::ffi::CStr::from_ptr(*g.gl_pathv.add(i))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        libc::globfree(&mut g);
        paths
    }
}

/// The environment of one exec, as `exec_child()` builds it: the
/// manager's (PATH, locale), then the service's own variables (HOME,
/// LOGNAME, USER, SHELL, INVOCATION_ID), PassEnvironment=, Environment=,
/// the environment files, each overriding the ones before; invalid and
/// duplicate entries dropped; then UnsetEnvironment=.
///
/// Left out, since capcheck does not provide what they describe: the
/// socket-activation, watchdog, journal-stream, directory and credential
/// variables, and SYSTEMD_EXEC_PID.
pub fn build(settings: &EnvironmentSettings, cx: &ExecContext) -> Result<Vec<String>, String> {
    let manager: Vec<String> =
        std::iter::once(format!("PATH={}", super::exec::DEFAULT_PATH.join(":")))
            .chain(locale(cx.root))
            .collect();
    let mut own = Vec::new();
    if let Some(login) = cx.login {
        if let Some(home) = &login.home {
            own.push(format!("HOME={home}"));
        }
        own.push(format!("LOGNAME={}", login.name));
        own.push(format!("USER={}", login.name));
        if let Some(shell) = &login.shell {
            own.push(format!("SHELL={shell}"));
        }
    }
    own.push(format!("INVOCATION_ID={}", cx.invocation_id));
    let passed: Vec<String> = settings
        .pass
        .value
        .iter()
        .filter_map(|name| (cx.manager_environment)(name).map(|v| format!("{name}={v}")))
        .collect();
    let files = load_files(&settings.files.value, cx.root)?;
    let merged = merge(&[&manager, &own, &passed, &settings.assignments.value, &files]);
    Ok(clean(merged)
        .into_iter()
        .filter(|e| !settings.unset.value.iter().any(|p| unset_matches(e, p)))
        .collect())
}

/// The value of `name` in `env` (`strv_env_get()`).
fn lookup<'e>(env: &'e [String], name: &str) -> Option<&'e str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
}

/// `replace_env()` without flags, for one word: `${NAME}` is replaced by
/// the value (nothing when unset), `$$` is `$`; `$NAME` without braces,
/// `${NAME:-x}` and an unclosed `${` stay as written.
pub fn replace_in_word(word: &str, env: &[String]) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            match body.find(['}', ':']) {
                Some(end) if body.as_bytes()[end] == b'}' => {
                    out.push_str(lookup(env, &body[..end]).unwrap_or_default());
                    rest = &body[end + 1..];
                }
                // `:` is the extended syntax this call does not allow: the
                // text stays, and scanning goes on after the `:`.
                Some(colon) => {
                    out.push_str(&rest[at..at + 2 + colon + 1]);
                    rest = &body[colon + 1..];
                }
                None => {
                    out.push_str(&rest[at..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `replace_env_argv()`: a word that starts with `$` (not `${` or `$$`)
/// names a variable with the rest of the word, whose value is split into
/// words (none when unset or empty); any other word has its `${NAME}`
/// replaced in place.
pub fn expand_argv(argv: &[String], env: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for word in argv {
        match word.strip_prefix('$') {
            Some(name) if !name.starts_with(['{', '$']) => {
                out.extend(lookup(env, name).map(words_relaxed).unwrap_or_default())
            }
            _ => out.push(replace_in_word(word, env)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit_name::UnitName;

    fn with_specifiers<T>(f: impl FnOnce(&SpecifierContext) -> T) -> T {
        let name = UnitName::parse("web@blue.service").unwrap();
        f(&SpecifierContext {
            name: &name,
            fragment: None,
            user_manager: false,
            root: Path::new("/"),
        })
    }

    fn environment(lines: &[&str]) -> (Vec<String>, Vec<String>) {
        with_specifiers(|cx| {
            let mut list = Vec::new();
            let warnings = lines
                .iter()
                .flat_map(|l| parse_environment(l, cx, &mut list))
                .collect();
            (list, warnings)
        })
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn environment_lines_hold_quoted_words_and_replace_by_name() {
        let (list, warnings) = environment(&[
            r#"A=1 "B=two words" 'C=x y'"#,
            r"D=a\tb A=3 E=%i",
            "F=1 9X=bad G",
        ]);
        assert_eq!(
            list,
            ["A=3", "B=two words", "C=x y", "D=a\tb", "E=blue", "F=1"]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(environment(&["A=1", "", "B=2"]).0, ["B=2"], "empty resets");
    }

    #[test]
    fn an_environment_syntax_error_keeps_the_words_before_it() {
        let (list, warnings) = environment(&[r"A=1 B=\q C=3", r#"D=4 "E=5"#]);
        assert_eq!(list, ["A=1", "D=4"]);
        assert_eq!(warnings.len(), 2);
        let (list, _) = environment(&["A=%z B=2"]);
        assert_eq!(list, ["B=2"], "an unknown specifier skips only its word");
    }

    #[test]
    fn pass_and_unset_lists() {
        with_specifiers(|cx| {
            let mut pass = Vec::new();
            parse_name_list("PassEnvironment", "TERM LANG TERM 1X", cx, &mut pass);
            assert_eq!(pass, ["TERM", "LANG"]);
            parse_name_list("PassEnvironment", "", cx, &mut pass);
            assert!(pass.is_empty());
            let mut unset = Vec::new();
            let w = parse_name_list("UnsetEnvironment", "A B=1 'C=x y' =z", cx, &mut unset);
            assert_eq!(unset, ["A", "B=1", "C=x y"]);
            assert_eq!(w.len(), 1);
        });
    }

    #[test]
    fn environment_file_paths() {
        with_specifiers(|cx| {
            let mut files = Vec::new();
            assert!(parse_environment_file("-/etc/default/%i", cx, &mut files).is_none());
            assert!(parse_environment_file("relative", cx, &mut files).is_some());
            assert!(parse_environment_file("/etc/x", cx, &mut files).is_none());
            assert_eq!(files, ["-/etc/default/blue", "/etc/x"]);
            parse_environment_file("", cx, &mut files);
            assert!(files.is_empty());
        });
    }

    #[test]
    fn env_file_syntax_as_systemd_reads_it() {
        let text = concat!(
            "# comment \\\n",
            "still comment\n",
            "; also a comment\n",
            "  A = spaced value  \n",
            "B='single $x' \"and double \\$y \\q\"\n",
            "C=con\\\n",
            "tinued\n",
            "export D=no\n",
            "E\n",
            "F=\n",
            "G=\"multi\n",
            "line\"\n",
            "H=trailing\\ \n",
            "A=again\n",
            "I=last",
        );
        assert_eq!(
            parse_env_file(text),
            strings(&[
                "A=again",
                "B=single $xand double $y \\q",
                "C=continued",
                "F=",
                "G=multi\nline",
                "H=trailing ",
                "I=last",
            ])
        );
    }

    fn context<'a>(login: Option<&'a Login>, root: &'a Path) -> ExecContext<'a> {
        ExecContext {
            login,
            root,
            manager_environment: &|name| (name == "TERM").then(|| "vt100".to_string()),
            invocation_id: "0123456789abcdef0123456789abcdef".to_string(),
        }
    }

    #[test]
    fn sources_override_in_systemds_order() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc/default");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("locale"), "LANG=de_DE.UTF-8\n").unwrap();
        std::fs::write(etc.join("web1"), "FILE=1\nBOTH=file\n").unwrap();
        std::fs::write(etc.join("web2"), "FILE=2\nexport X=1\n").unwrap();
        let mut settings = EnvironmentSettings::default();
        settings.assignments.value = strings(&["BOTH=unit", "HOME=/override", "GONE=1"]);
        settings.files.value = strings(&["/etc/default/web*", "-/etc/missing"]);
        settings.pass.value = strings(&["TERM", "NOT_SET"]);
        settings.unset.value = strings(&["GONE", "USER=other"]);
        let login = Login {
            name: "www".to_string(),
            home: Some("/var/www".to_string()),
            shell: None,
        };
        let env = build(&settings, &context(Some(&login), root.path())).unwrap();
        assert_eq!(
            env,
            strings(&[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=de_DE.UTF-8",
                "HOME=/override",
                "LOGNAME=www",
                "USER=www",
                "INVOCATION_ID=0123456789abcdef0123456789abcdef",
                "TERM=vt100",
                "BOTH=file",
                "FILE=2",
            ])
        );
        settings.files.value = strings(&["/etc/missing"]);
        assert!(build(&settings, &context(None, root.path())).is_err());
    }

    #[test]
    fn a_root_service_gets_no_user_variables_and_the_default_locale() {
        let root = tempfile::tempdir().unwrap();
        let env = build(&EnvironmentSettings::default(), &context(None, root.path())).unwrap();
        let names: Vec<&str> = env.iter().map(|e| name_of(e)).collect();
        assert_eq!(names, ["PATH", "LANG", "INVOCATION_ID"]);
        assert_eq!(env[1], "LANG=C.UTF-8");
    }

    #[test]
    fn argv_expansion() {
        let env = strings(&["OPTS=-D  -o 'A B'", "EMPTY=", "X=x", "SPACED=a b"]);
        let argv = |words: &[&str]| expand_argv(&strings(words), &env);
        assert_eq!(
            argv(&["/bin/d", "$OPTS", "$EMPTY", "$UNSET", "--x=${X}"]),
            ["/bin/d", "-D", "-o", "A B", "--x=x"]
        );
        assert_eq!(argv(&["${SPACED}"]), ["a b"], "braces keep one word");
        assert_eq!(
            argv(&["$X/y"]),
            Vec::<String>::new(),
            "the whole rest names it"
        );
        assert_eq!(
            argv(&["a$Xb", "$$X", "a$$b", "${X"]),
            ["a$Xb", "$X", "a$b", "${X"]
        );
        assert_eq!(argv(&["${X:-d}${X}", "${UNSET}z", "$"]), ["${X:-d}x", "z"]);
    }
}

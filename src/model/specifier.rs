//! `%` specifiers as systemd 252 expands them in User=, Group= and Exec
//! command lines (`unit_full_printf()`). Capability lists are not expanded.

use crate::unit_name::{unescape, UnitName};
use std::path::Path;

/// What the specifiers of one unit expand to.
#[derive(Debug, Clone)]
pub struct SpecifierContext<'a> {
    pub name: &'a UnitName,
    /// The fragment's path (`%y`), if any.
    pub fragment: Option<&'a Path>,
    /// True for the user manager (changes `%t`, `%S`, `%h`…).
    pub user_manager: bool,
    /// The system the unit is for: `/` for the host, or an image
    /// (`--root`), whose files give %H, %m and %o. A machine that is not
    /// running has no boot id or kernel: %b and %v are empty for it.
    pub root: &'a Path,
}

/// An unknown `%x` specifier: systemd fails with "Invalid slot".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSpecifier(pub char);

impl SpecifierContext<'_> {
    /// Expands every specifier in `text`.
    pub fn expand(&self, text: &str) -> Result<String, UnknownSpecifier> {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some('%') => {
                    chars.next();
                    out.push('%');
                }
                Some(s) if s.is_ascii_alphanumeric() => {
                    chars.next();
                    out.push_str(&self.value(s).ok_or(UnknownSpecifier(s))?);
                }
                // A `%` before anything else, or at the end, stays as it is.
                _ => out.push('%'),
            }
        }
        Ok(out)
    }

    fn value(&self, specifier: char) -> Option<String> {
        let n = self.name;
        let instance = n.instance.clone().unwrap_or_default();
        let system = !self.user_manager;
        Some(match specifier {
            'n' => n.name.clone(),
            'N' => n.stem().to_string(),
            'p' => n.prefix.clone(),
            'P' => unescape(&n.prefix),
            'i' => instance,
            'I' => unescape(&instance),
            'j' => n.prefix.rsplit('-').next().unwrap_or_default().to_string(),
            'J' => unescape(n.prefix.rsplit('-').next().unwrap_or_default()),
            'f' => {
                let stem = if n.is_instance() {
                    &instance
                } else {
                    &n.prefix
                };
                let unescaped = unescape(stem);
                if unescaped.starts_with('/') {
                    unescaped
                } else {
                    format!("/{unescaped}")
                }
            }
            'y' => self.fragment?.display().to_string(),
            'Y' => self.fragment?.parent()?.display().to_string(),
            'c' | 'r' | 'R' => String::new(),
            'C' => pick(system, "/var/cache", "/root/.cache"),
            'd' => format!("/run/credentials/{}", n.name),
            'E' => pick(system, "/etc", "/root/.config"),
            'L' => pick(system, "/var/log", "/root/.local/state/log"),
            'S' => pick(system, "/var/lib", "/root/.local/share"),
            't' => pick(system, "/run", "/run/user/0"),
            'h' => "/root".to_string(),
            's' => "/bin/sh".to_string(),
            'T' => "/tmp".to_string(),
            'V' => "/var/tmp".to_string(),
            'u' | 'g' => "root".to_string(),
            'U' | 'G' => "0".to_string(),
            'a' => std::env::consts::ARCH.replace('_', "-"),
            'H' | 'q' => self.hostname(),
            'l' => self
                .hostname()
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string(),
            'm' => self.system_file("/etc/machine-id"),
            'b' => self
                .running_file("/proc/sys/kernel/random/boot_id")
                .replace('-', ""),
            'v' => self.running_file("/proc/sys/kernel/osrelease"),
            'o' => self.os_release("ID"),
            'w' => self.os_release("VERSION_ID"),
            'W' => self.os_release("VARIANT_ID"),
            'B' => self.os_release("BUILD_ID"),
            'M' => self.os_release("IMAGE_ID"),
            'A' => self.os_release("IMAGE_VERSION"),
            _ => return None,
        })
    }
}

fn pick(system: bool, system_value: &str, user_value: &str) -> String {
    if system { system_value } else { user_value }.to_string()
}

impl SpecifierContext<'_> {
    fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    /// A file of the system, read inside the root for an image; empty when
    /// it cannot be read.
    fn system_file(&self, path: &str) -> String {
        crate::load::paths::under_root(self.root, path)
            .and_then(std::fs::read_to_string)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// A fact of the running kernel: the host's, none for an image.
    fn running_file(&self, path: &str) -> String {
        if self.is_host() {
            self.system_file(path)
        } else {
            String::new()
        }
    }

    fn hostname(&self) -> String {
        if self.is_host() {
            self.system_file("/proc/sys/kernel/hostname")
        } else {
            self.system_file("/etc/hostname")
        }
    }

    fn os_release(&self, key: &str) -> String {
        let mut text = self.system_file("/etc/os-release");
        if text.is_empty() {
            text = self.system_file("/usr/lib/os-release");
        }
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim_matches(['"', '\'']).to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_systemd() {
        let name = UnitName::parse("t@root.service").unwrap();
        let cx = SpecifierContext {
            name: &name,
            fragment: None,
            user_manager: false,
            root: Path::new("/"),
        };
        assert_eq!(cx.expand("%i").unwrap(), "root");
        assert_eq!(cx.expand("a%%b").unwrap(), "a%b");
        assert_eq!(cx.expand("a%!b").unwrap(), "a%!b");
        assert_eq!(cx.expand("x%").unwrap(), "x%");
        assert_eq!(cx.expand("%u").unwrap(), "root");
        assert_eq!(cx.expand("/bin/%n").unwrap(), "/bin/t@root.service");
        assert_eq!(cx.expand("%z"), Err(UnknownSpecifier('z')));
    }
}

//! Finding the files of a unit the way systemd does: the fragment (with
//! masks, aliases and templates) and its drop-ins, in systemd's order.
//!
//! Knows nothing about capabilities; it only reads files.

pub mod chase;
pub mod instances;
mod listings;
pub mod paths;
mod read;
pub mod release;
pub mod targets;

pub use listings::{Listing, Listings};
pub use paths::SearchPath;
pub use read::{read_unit_bytes, read_within_limit, ReadError};

use crate::semantics::Semantics;
use crate::syntax::logical::UnitFile;
use crate::unit_name::{UnitName, UnitType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How a unit's fragment was found.
#[derive(Debug, Clone)]
pub enum Fragment {
    /// A unit file that systemd reads.
    File(UnitFile),
    /// A symlink to /dev/null, a character device or an empty file.
    Masked(PathBuf),
    /// No file of that name (or template) in the search path.
    NotFound,
    /// A file was found but could not be read (a FIFO, a directory, a
    /// dangling symlink, no permission…).
    Unreadable(PathBuf, ReadError),
}

/// A drop-in file, in the order systemd applies it.
#[derive(Debug, Clone)]
pub struct DropIn {
    pub path: PathBuf,
    /// None when the drop-in is masked (a /dev/null symlink or empty file):
    /// listed by systemd, contributing nothing.
    pub file: Option<UnitFile>,
    /// Set when the drop-in could not be read; systemd skips it.
    pub error: Option<ReadError>,
}

/// A unit and all the files that make it.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The name analysed, e.g. `getty@tty1.service` (for an alias, the name
    /// of the unit it points to).
    pub name: UnitName,
    /// The other names that led here (aliases).
    pub aliases: Vec<String>,
    pub fragment: Fragment,
    /// The symlink the fragment was reached through, when it was (the
    /// fragment's own path is the file the links lead to).
    pub fragment_link: Option<PathBuf>,
    pub dropins: Vec<DropIn>,
    /// True when this unit belongs to the user manager.
    pub user_manager: bool,
    /// The system it was loaded from: `/`, or an image (`--root`).
    pub root: PathBuf,
    /// The systemd release that system runs: how its files are read.
    pub semantics: Semantics,
}

impl Unit {
    /// Every file that was read, fragment first.
    pub fn files(&self) -> impl Iterator<Item = &UnitFile> {
        let fragment = match &self.fragment {
            Fragment::File(f) => Some(f),
            _ => None,
        };
        fragment
            .into_iter()
            .chain(self.dropins.iter().filter_map(|d| d.file.as_ref()))
    }

    /// The assignments of the unit type's own section (`[Service]`), in
    /// every file, in the order systemd reads them.
    pub fn own_assignments(&self) -> impl Iterator<Item = &crate::syntax::logical::Assignment> {
        let own = self.name.unit_type.own_section();
        self.files().flat_map(move |f| {
            f.assignments.iter().filter(move |a| {
                let section = f.section_of(a);
                section.known && Some(section.name.as_str()) == own
            })
        })
    }

    /// Whether a generator wrote this unit (into /run/systemd/generator*):
    /// systemd writes it anew at each boot and `daemon-reload`.
    pub fn is_generated(&self) -> bool {
        self.fragment_path()
            .is_some_and(|path| paths::is_generated(path, &self.root))
    }

    /// The file the unit was made from, as its `SourcePath=` says
    /// (`/etc/init.d/exim4` for systemd-sysv-generator's units,
    /// `/etc/fstab` for mounts).
    pub fn source_path(&self) -> Option<&str> {
        let Fragment::File(file) = &self.fragment else {
            return None;
        };
        file.assignments
            .iter()
            .rfind(|a| a.key == "SourcePath" && file.section_of(a).name == "Unit")
            .map(|a| a.value.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn fragment_path(&self) -> Option<&Path> {
        match &self.fragment {
            Fragment::File(f) => Some(&f.path),
            Fragment::Masked(p) | Fragment::Unreadable(p, _) => Some(p),
            Fragment::NotFound => None,
        }
    }
}

/// Loads units from a search path.
#[derive(Debug, Clone)]
pub struct Loader {
    pub search: SearchPath,
    /// The root that absolute symlink targets are resolved under.
    pub root: PathBuf,
    pub user_manager: bool,
    /// The release the units are read as.
    pub semantics: Semantics,
    /// Directory listings shared with the other loaders of the run.
    listings: Arc<Listings>,
    /// The listing of each search directory, in `search.dirs` order: every
    /// unit asks each of them for a dozen names.
    search_listings: OnceLock<Vec<Arc<Listing>>>,
}

/// What a name resolves to in the search path.
enum Located {
    /// A file (or anything else that is not a symlink), with its metadata.
    File {
        path: PathBuf,
        name: String,
        /// Its type: a regular file is opened, anything else refused.
        file_type: std::fs::FileType,
        /// The first link followed to get here, if any.
        link: Option<PathBuf>,
    },
    Masked(PathBuf),
    Broken(PathBuf, ReadError),
}

impl Loader {
    pub fn new(
        search: SearchPath,
        root: &Path,
        user_manager: bool,
        semantics: Semantics,
        listings: Arc<Listings>,
    ) -> Loader {
        Loader {
            search,
            root: root.to_path_buf(),
            user_manager,
            semantics,
            listings,
            search_listings: OnceLock::new(),
        }
    }

    /// Each search directory with its listing.
    fn search_dirs(&self) -> impl Iterator<Item = (&PathBuf, &Listing)> {
        let listings = self.search_listings.get_or_init(|| {
            self.search
                .dirs
                .iter()
                .map(|dir| self.listings.listing(dir))
                .collect()
        });
        self.search.dirs.iter().zip(listings.iter().map(|l| &**l))
    }

    /// Loads the unit `name` with its drop-ins.
    pub fn load(&self, name: &UnitName) -> Unit {
        let mut aliases = Vec::new();
        let mut located = self.locate(&name.name);
        if located.is_none() {
            if let Some(template) = name.template() {
                located = self.locate(&template);
            }
        }
        let mut unit_name = name.clone();
        let mut fragment_link = None;
        let fragment = match located {
            None => Fragment::NotFound,
            Some(Located::Masked(path)) => Fragment::Masked(path),
            Some(Located::Broken(path, error)) => Fragment::Unreadable(path, error),
            Some(Located::File {
                path,
                name: target,
                file_type,
                link,
            }) => {
                // A symlink with another unit name is an alias: the unit
                // takes the target's name (an instance keeps its instance).
                if let Some(target) = UnitName::parse(&target) {
                    let resolved = match (&name.instance, target.is_template()) {
                        (Some(i), true) if !i.is_empty() => {
                            UnitName::parse(&target.with_instance(i))
                        }
                        _ => Some(target),
                    };
                    if let Some(resolved) = resolved {
                        if resolved.name != name.name
                            && name.template().as_deref() != Some(resolved.name.as_str())
                        {
                            aliases.push(name.name.clone());
                            unit_name = resolved;
                        }
                    }
                }
                fragment_link = link;
                self.read_file(&path, file_type, unit_name.unit_type)
            }
        };
        let dropins = self.dropins(&unit_name, &aliases);
        Unit {
            name: unit_name,
            aliases,
            fragment,
            fragment_link,
            dropins,
            user_manager: self.user_manager,
            root: self.root.clone(),
            semantics: self.semantics,
        }
    }

    /// Loads `name` with the fragment given as bytes (standard input)
    /// instead of read from the search path; drop-ins are still found.
    pub fn load_with_fragment(&self, name: &UnitName, path: &Path, bytes: Vec<u8>) -> Unit {
        let fragment = if bytes.is_empty() {
            Fragment::Masked(path.to_path_buf())
        } else {
            Fragment::File(UnitFile::parse(path, bytes, name.unit_type))
        };
        Unit {
            name: name.clone(),
            aliases: Vec::new(),
            fragment,
            fragment_link: None,
            dropins: self.dropins(name, &[]),
            user_manager: self.user_manager,
            root: self.root.clone(),
            semantics: self.semantics,
        }
    }

    /// Reads a fragment; an empty regular file is a mask.
    fn read_file(
        &self,
        path: &Path,
        file_type: std::fs::FileType,
        unit_type: UnitType,
    ) -> Fragment {
        match read_unit_bytes(path, file_type) {
            Ok(bytes) if bytes.is_empty() => Fragment::Masked(path.to_path_buf()),
            Ok(bytes) => Fragment::File(UnitFile::parse(path, bytes, unit_type)),
            Err(ReadError::CharacterDevice) => Fragment::Masked(path.to_path_buf()),
            Err(e) => Fragment::Unreadable(path.to_path_buf(), e),
        }
    }

    /// The first file called `name` in the search path, symlinks followed.
    fn locate(&self, name: &str) -> Option<Located> {
        self.search_dirs().find_map(|(dir, listing)| {
            let listed = listing.file_type(name)?;
            Some(self.follow(dir.join(name), name, Some(listed)))
        })
    }

    /// Follows symlinks from `path`; the name is the last link target's
    /// file name (an alias changes it). `listed` is the type a directory
    /// listing gave `path`: anything but a symlink needs no stat.
    fn follow(&self, start: PathBuf, name: &str, listed: Option<std::fs::FileType>) -> Located {
        if let Some(file_type) = listed.filter(|t| !t.is_symlink()) {
            return Located::File {
                path: start,
                name: name.to_string(),
                file_type,
                link: None,
            };
        }
        let mut name = name.to_string();
        let mut path = start.clone();
        for _ in 0..chase::MAX_SYMLINK_HOPS {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                return Located::Broken(start, ReadError::DanglingSymlink);
            };
            if !meta.file_type().is_symlink() {
                // Not a symlink, so this is the file's own type.
                let link = (path != start).then_some(start);
                return Located::File {
                    path,
                    name,
                    file_type: meta.file_type(),
                    link,
                };
            }
            let Ok(target) = std::fs::read_link(&path) else {
                return Located::Broken(start, ReadError::DanglingSymlink);
            };
            if target == Path::new("/dev/null") {
                return Located::Masked(path);
            }
            if let Some(file_name) = target.file_name() {
                name = file_name.to_string_lossy().into_owned();
            }
            path = match paths::link_destination(&self.root, &path, &target) {
                Ok(next) => next,
                Err(_) => return Located::Broken(start, ReadError::SymlinkLoop),
            };
        }
        Located::Broken(start, ReadError::SymlinkLoop)
    }

    /// The drop-in directories of a unit, in systemd's search order.
    fn dropin_dirs(&self, name: &UnitName, aliases: &[String]) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let mut add = |dir: &Path, listing: &Listing, candidate: &str| {
            if let Some(d) = self.directory(dir, listing, candidate) {
                if !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
        };
        for unit in std::iter::once(&name.name).chain(aliases) {
            let candidates = dropin_dir_names(unit);
            for (dir, listing) in self.search_dirs() {
                for candidate in &candidates {
                    add(dir, listing, candidate);
                }
            }
        }
        let type_wide = format!("{}.d", name.unit_type.suffix());
        for (dir, listing) in self.search_dirs() {
            add(dir, listing, &type_wide);
        }
        dirs
    }

    /// The directory `name` of a search directory, if it is one: a link to
    /// a directory is followed, inside the root for an image.
    fn directory(&self, dir: &Path, listing: &Listing, name: &str) -> Option<PathBuf> {
        match listing.file_type(name)? {
            t if t.is_dir() => Some(dir.join(name)),
            t if t.is_symlink() => {
                let real = paths::resolve(&self.root, &dir.join(name)).ok()?;
                real.is_dir().then_some(real)
            }
            _ => None,
        }
    }

    /// The `*.conf` files of all drop-in directories: the first directory
    /// wins for a file name, and the result is ordered by file name.
    fn dropins(&self, name: &UnitName, aliases: &[String]) -> Vec<DropIn> {
        let mut by_name: BTreeMap<String, (PathBuf, std::fs::FileType)> = BTreeMap::new();
        for dir in self.dropin_dirs(name, aliases) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if !file_name.ends_with(".conf") || is_hidden_or_backup(&file_name) {
                    continue;
                }
                match entry.file_type() {
                    Ok(t) if t.is_file() || t.is_symlink() => {
                        by_name
                            .entry(file_name)
                            .or_insert_with(|| (entry.path(), t));
                    }
                    _ => {}
                }
            }
        }
        by_name
            .into_values()
            .map(|(path, listed)| self.read_dropin(path, listed, name.unit_type))
            .collect()
    }

    fn read_dropin(&self, path: PathBuf, listed: std::fs::FileType, unit_type: UnitType) -> DropIn {
        let located = self.follow(path.clone(), "", Some(listed));
        let (real, file_type) = match located {
            Located::Masked(_) => {
                return DropIn {
                    path,
                    file: None,
                    error: None,
                }
            }
            Located::Broken(_, error) => {
                return DropIn {
                    path,
                    file: None,
                    error: Some(error),
                }
            }
            Located::File {
                path, file_type, ..
            } => (path, file_type),
        };
        match read_unit_bytes(&real, file_type) {
            Ok(bytes) => DropIn {
                file: (!bytes.is_empty()).then(|| UnitFile::parse(&path, bytes, unit_type)),
                path,
                error: None,
            },
            Err(ReadError::CharacterDevice) => DropIn {
                path,
                file: None,
                error: None,
            },
            Err(error) => DropIn {
                path,
                file: None,
                error: Some(error),
            },
        }
    }

    /// Every unit of the search path, for loading a whole system: each
    /// name found (the first occurrence wins) but aliases, which systemd
    /// loads as the unit they name; a template through the instances the
    /// system has, or its test instance ([`instances::units_of`]); sorted.
    pub fn units_in_search_path(&self) -> Vec<(UnitName, Option<instances::TemplateCheck>)> {
        let mut names = BTreeMap::new();
        let mut links = Vec::new();
        let mut existing = Vec::new();
        for (dir, listing) in self.search_dirs() {
            for (entry, file_type) in listing.entries() {
                let Some(name) = entry.to_str().and_then(UnitName::parse) else {
                    continue;
                };
                if !names.contains_key(&name.name) {
                    if file_type.is_symlink() {
                        links.push(dir.join(&name.name));
                    }
                    names.insert(name.name.clone(), name);
                }
            }
            existing.extend(instances::instances_in(dir, listing));
        }
        for link in links {
            let name = link
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(unit) = names.get(name) else {
                continue;
            };
            if let Some(target) = alias_target(&link, unit) {
                let target_known = names.contains_key(&target.name)
                    || target.template().is_some_and(|t| names.contains_key(&t));
                if target_known {
                    names.remove(name);
                }
            }
        }
        instances::units_of(names.into_values(), existing)
    }
}

/// The unit an alias symlink names (`dbus-org.freedesktop.timedate1.service`
/// → `systemd-timedated.service`); None for a link that keeps the name (a
/// linked unit file, a mask) or an instance's link to its own template.
fn alias_target(link: &Path, name: &UnitName) -> Option<UnitName> {
    let target = std::fs::read_link(link).ok()?;
    let target = UnitName::parse(target.file_name()?.to_str()?)?;
    let own_template = name.template().as_deref() == Some(target.name.as_str());
    (target.name != name.name && !own_template).then_some(target)
}

/// `foo-bar@x.service` → `foo-bar@x.service.d`, `foo-bar@.service.d`,
/// `foo-@x.service.d`, `foo-@.service.d`: the unit's own directory, its
/// template's, then those of each dashed prefix (systemd's
/// `unit_file_find_dirs()` order).
pub fn dropin_dir_names(unit: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = unit.to_string();
    loop {
        let Some(name) = UnitName::parse(&current) else {
            return out;
        };
        out.push(format!("{current}.d"));
        if let Some(template) = name.template() {
            out.push(format!("{template}.d"));
        }
        let Some(prefix) = chop_dashed_prefix(&name.prefix) else {
            return out;
        };
        current = match &name.instance {
            Some(i) => format!("{prefix}@{i}.{}", name.unit_type.suffix()),
            None => format!("{prefix}.{}", name.unit_type.suffix()),
        };
    }
}

/// `a-b-c` → `a-b-`, `a-b-` → `a-`, `a-` → none: cut after the last dash,
/// dropping one trailing dash first.
fn chop_dashed_prefix(prefix: &str) -> Option<String> {
    let base = prefix.strip_suffix('-').unwrap_or(prefix);
    let dash = base.rfind('-')?;
    (dash > 0).then(|| base[..=dash].to_string())
}

/// systemd skips hidden files and package-manager backups in conf dirs.
fn is_hidden_or_backup(name: &str) -> bool {
    const BACKUP_SUFFIXES: [&str; 11] = [
        "~",
        ".rpmnew",
        ".rpmsave",
        ".rpmorig",
        ".dpkg-old",
        ".dpkg-new",
        ".dpkg-tmp",
        ".dpkg-dist",
        ".dpkg-bak",
        ".dpkg-backup",
        ".swp",
    ];
    name.starts_with('.') || BACKUP_SUFFIXES.iter().any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropin_dirs_follow_unit_file_find_dirs() {
        assert_eq!(
            dropin_dir_names("a-b-c.service"),
            ["a-b-c.service.d", "a-b-.service.d", "a-.service.d"]
        );
        assert_eq!(
            dropin_dir_names("a-b@x.service"),
            [
                "a-b@x.service.d",
                "a-b@.service.d",
                "a-@x.service.d",
                "a-@.service.d"
            ]
        );
        assert_eq!(dropin_dir_names("-a.service"), ["-a.service.d"]);
        assert_eq!(dropin_dir_names("plain.socket"), ["plain.socket.d"]);
    }
}

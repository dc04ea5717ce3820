//! Turns command-line operands (files, directories, unit names, `--root`)
//! into units to load, each with the search path systemd would use.

use super::instances::{self, TemplateCheck};
use super::{Listings, Loader, SearchPath, Unit};
use crate::semantics::Semantics;
use crate::unit_name::UnitName;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

/// Where units are looked up.
#[derive(Debug)]
pub struct Scope {
    /// `--root`: an image or tree whose search path is used.
    pub root: Option<PathBuf>,
    /// `--user`: the user manager's search path.
    pub user_manager: bool,
    /// The release the units are read as.
    pub semantics: Semantics,
    /// Directory listings shared by every unit loaded in this scope.
    listings: Arc<Listings>,
    /// The loader of units named without a directory.
    search_path_loader: OnceLock<Arc<Loader>>,
    /// One loader per unit file directory: the units of a directory share
    /// it. Read far more often than written.
    directory_loaders: RwLock<HashMap<PathBuf, Arc<Loader>>>,
}

impl Scope {
    /// Units of the host, or of the image at `root`, read as the release
    /// that system runs (the nearest one capcheck knows; the newest when it
    /// cannot be told).
    pub fn new(root: Option<PathBuf>, user_manager: bool) -> Scope {
        let system = root.as_deref().unwrap_or(Path::new("/"));
        let semantics = super::release::detect(system)
            .map_or(Semantics::NEWEST, |found| Semantics::nearest(found.release));
        Scope::with_semantics(root, user_manager, semantics)
    }

    /// Units of the host, or of the image at `root`, read as `semantics`.
    pub fn with_semantics(
        root: Option<PathBuf>,
        user_manager: bool,
        semantics: Semantics,
    ) -> Scope {
        Scope {
            root,
            user_manager,
            semantics,
            listings: Arc::default(),
            search_path_loader: OnceLock::new(),
            directory_loaders: RwLock::default(),
        }
    }

    fn root(&self) -> &Path {
        self.root.as_deref().unwrap_or(Path::new("/"))
    }

    /// For an image (`--root`) whose generator directories are empty, as
    /// an image's `/run` is: the note that the units systemd's generators
    /// write at boot (those of `/etc/init.d` scripts, `/etc/fstab`…) are
    /// not there to be checked. None for the host, or an image that has
    /// them (a running system's root).
    pub fn generated_units_note(&self) -> Option<String> {
        let root = self.root.as_deref().filter(|r| *r != Path::new("/"))?;
        if self.user_manager {
            return None;
        }
        let has_generated = super::paths::generator_dirs().any(|dir| {
            super::paths::under_root(root, dir)
                .is_ok_and(|dir| self.listings.listing(&dir).entries().next().is_some())
        });
        (!has_generated).then(|| {
            format!(
                "note: units that systemd's generators write at boot (into /run/systemd/generator*: \
                 those of /etc/init.d scripts, /etc/fstab…) are not in {}, so they were not checked",
                root.display()
            )
        })
    }

    fn search_path(&self) -> SearchPath {
        if self.user_manager {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            SearchPath::user(self.root(), &home)
        } else {
            SearchPath::system(self.root())
        }
    }

    /// The loader for units of `extra_dir` (its directory joins the search
    /// path first), or for units named without a directory.
    fn loader(&self, extra_dir: Option<&Path>) -> Arc<Loader> {
        let Some(dir) = extra_dir else {
            return Arc::clone(
                self.search_path_loader
                    .get_or_init(|| self.new_loader(None)),
            );
        };
        if let Some(loader) = self
            .directory_loaders
            .read()
            .expect("not poisoned")
            .get(dir)
        {
            return Arc::clone(loader);
        }
        let mut loaders = self.directory_loaders.write().expect("not poisoned");
        Arc::clone(
            loaders
                .entry(dir.to_path_buf())
                .or_insert_with(|| self.new_loader(Some(dir))),
        )
    }

    fn new_loader(&self, extra_dir: Option<&Path>) -> Arc<Loader> {
        let mut search = self.search_path();
        if let Some(dir) = extra_dir {
            search.prepend(dir);
        }
        Arc::new(Loader::new(
            search,
            self.root(),
            self.user_manager,
            self.semantics,
            Arc::clone(&self.listings),
        ))
    }
}

/// Up to this many units, a run does their work on one thread and looks
/// their files up name by name: starting threads, and reading each search
/// directory whole (hundreds of entries in `/usr/lib/systemd/system`),
/// would cost more than the units themselves (docs/performance.md,
/// "Start-up").
pub const FEW_UNITS: usize = 4;

/// `f` of each of `items`, in their order: on the calling thread for
/// [`FEW_UNITS`] or fewer, in parallel otherwise.
pub fn map_in_order<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    if items.len() <= FEW_UNITS {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
    }
}

/// An operand that could not be turned into units.
#[derive(Debug, Clone)]
pub struct TargetError {
    pub operand: String,
    pub message: String,
}

/// A unit to analyse, with the loader to use for it.
pub struct Target {
    pub name: UnitName,
    pub loader: Arc<Loader>,
    /// The fragment's text when it comes from standard input, with the
    /// path it stands for.
    pub stdin: Option<(PathBuf, Vec<u8>)>,
    /// Named through one of its drop-ins: a unit that is not found then is
    /// not an error (the drop-in may be for a unit installed elsewhere).
    pub via_dropin: bool,
    /// Set when a template led to this instance: one the system has, or
    /// the test instance.
    pub template: Option<TemplateCheck>,
}

impl Target {
    pub fn load(&self) -> Unit {
        match &self.stdin {
            Some((path, bytes)) => self
                .loader
                .load_with_fragment(&self.name, path, bytes.clone()),
            None => self.loader.load(&self.name),
        }
    }
}

/// A unit read from standard input, standing for the file `path` (its
/// name gives the unit type; its directory joins the search path).
pub fn stdin_target(path: &Path, bytes: Vec<u8>, scope: &Scope) -> Result<Target, String> {
    let mut target = file_target(path, scope)?;
    target.stdin = Some((path.to_path_buf(), bytes));
    Ok(target)
}

/// Resolves operands. With no operands and a `--root`, every unit in the
/// root's search path. Errors are returned beside the targets, so one bad
/// operand does not stop the others.
pub fn resolve(operands: &[String], scope: &Scope) -> (Vec<Target>, Vec<TargetError>) {
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    if operands.is_empty() {
        if scope.root.is_some() {
            let loader = scope.loader(None);
            for (name, template) in loader.units_in_search_path() {
                targets.push(Target {
                    name,
                    loader: loader.clone(),
                    stdin: None,
                    via_dropin: false,
                    template,
                });
            }
        }
        return (targets, errors);
    }
    // A directory operand turns probing off again (its walk may find
    // thousands of units).
    scope.listings.set_probing(operands.len() <= FEW_UNITS);
    // Each operand is a few system calls, or a whole directory walk: they
    // run in parallel, and their targets are joined in the operands' order.
    let resolved = map_in_order(operands, |operand| resolve_operand(operand, scope));
    for (t, e) in resolved {
        targets.extend(t);
        errors.extend(e);
    }
    // A unit named twice (itself and through a drop-in) is read once. The
    // units of one directory share one loader, so the loader stands for it.
    let mut seen = HashSet::new();
    let first: Vec<bool> = targets
        .iter()
        .map(|t| {
            seen.insert((
                t.name.name.as_str(),
                Arc::as_ptr(&t.loader),
                t.stdin.is_some(),
            ))
        })
        .collect();
    let targets = targets
        .into_iter()
        .zip(first)
        .filter_map(|(target, first)| first.then_some(target))
        .collect();
    (targets, errors)
}

/// The targets one operand names: a file, a directory, a drop-in or a unit
/// name.
fn resolve_operand(operand: &str, scope: &Scope) -> (Vec<Target>, Vec<TargetError>) {
    let mut targets = Vec::new();
    let mut errors = Vec::new();
    let path = Path::new(operand);
    let unit_named = is_unit_name(path);
    // A file named like a unit is looked up in its directory's listing,
    // which loading it reads anyway: one system call fewer per operand.
    let listed = unit_named
        .then(|| {
            scope
                .listings
                .listing(path.parent().unwrap_or(Path::new("")))
        })
        .filter(|listing| listing.readable());
    let (exists, is_dir) = match (listed, path.file_name()) {
        (Some(listing), Some(name)) => (listing.contains(name), false),
        _ => {
            let meta = std::fs::symlink_metadata(path);
            // A symlink to a directory counts as one (asked only then).
            let is_dir = meta
                .as_ref()
                .is_ok_and(|m| m.is_dir() || (m.is_symlink() && path.is_dir()));
            (meta.is_ok(), is_dir)
        }
    };
    if is_dir && !unit_named {
        scope.listings.set_probing(false);
        directory(path, scope, &mut targets, &mut errors);
    } else if !exists && operand.contains('/') {
        errors.push(TargetError {
            operand: operand.to_string(),
            message: "no such file or directory".to_string(),
        });
    } else if exists && is_dropin(path) {
        // A drop-in (as pre-commit passes them) stands for its unit.
        if let Some(unit) = dropin_unit(path) {
            match file_target(&unit, scope) {
                Ok(t) => targets.push(Target {
                    via_dropin: true,
                    ..t
                }),
                Err(message) => errors.push(TargetError {
                    operand: operand.to_string(),
                    message,
                }),
            }
        }
    } else if exists {
        match file_target(path, scope) {
            Ok(t) => targets.push(t),
            Err(message) => errors.push(TargetError {
                operand: operand.to_string(),
                message,
            }),
        }
    } else {
        // A template named is checked as systemd-analyze verify checks
        // it: systemd never loads it bare.
        match UnitName::parse(operand) {
            Some(name) if name.is_template() => targets.push(Target {
                name: instances::test_instance(&name),
                loader: scope.loader(None),
                stdin: None,
                via_dropin: false,
                template: Some(TemplateCheck::TestInstance),
            }),
            Some(name) => targets.push(Target {
                name,
                loader: scope.loader(None),
                stdin: None,
                via_dropin: false,
                template: None,
            }),
            None => errors.push(TargetError {
                operand: operand.to_string(),
                message: "no such file, and not a unit name".to_string(),
            }),
        }
    }
    (targets, errors)
}

/// `x.service.d/10-y.conf`, or `service.d/10-y.conf` (type-wide).
fn is_dropin(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "conf")
        && path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|d| d.to_string_lossy().ends_with(".d"))
}

/// The unit a drop-in belongs to (`x.service.d/y.conf` → `x.service` in
/// the same directory as `x.service.d`); None for type-wide drop-ins, which
/// are read through each unit.
fn dropin_unit(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let unit = dir
        .file_name()?
        .to_string_lossy()
        .strip_suffix(".d")?
        .to_string();
    UnitName::parse(&unit)?;
    Some(dir.parent().unwrap_or(Path::new("")).join(unit))
}

fn is_unit_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(UnitName::parse)
        .is_some()
}

/// A unit file given by path: its directory joins the search path first,
/// and a template is analysed with the test instance (as `systemd-analyze
/// verify` does).
fn file_target(path: &Path, scope: &Scope) -> Result<Target, String> {
    // `capcheck lint .` walks to `./x.service`; report it as `x.service`.
    let path = path.strip_prefix(".").unwrap_or(path);
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("not a unit file path")?;
    let name = UnitName::parse(file_name).ok_or_else(|| {
        format!("'{file_name}' is not a unit file name (no known unit type suffix)")
    })?;
    let (name, template) = if name.is_template() {
        (
            instances::test_instance(&name),
            Some(TemplateCheck::TestInstance),
        )
    } else {
        (name, None)
    };
    // A bare file name's parent is empty: the current directory, and paths
    // joined to it stay bare (`x.service`, not `./x.service`).
    let dir = path.parent().unwrap_or(Path::new(""));
    Ok(Target {
        name,
        loader: scope.loader(Some(dir)),
        stdin: None,
        via_dropin: false,
        template,
    })
}

/// Directories that hold links or drop-ins, not units of their own.
fn is_link_or_dropin_dir(name: &str) -> bool {
    name.ends_with(".d") || instances::is_dependency_dir(name)
}

/// What walking a directory finds.
enum Found {
    File(PathBuf),
    /// An instance the walked directory `dir` shows to exist without a
    /// file of its own: an instance drop-in directory, or a link in a
    /// dependency directory.
    Instance {
        dir: PathBuf,
        name: UnitName,
    },
    Error(TargetError),
}

/// The files under `dir`, sorted by name, depth first; subdirectories are
/// walked in parallel. Directories that hold drop-ins are not opened, nor
/// those that hold links but to read the instances they name. (walkdir
/// opens and reads every directory it meets, filtered out or not: on a
/// tree of 100,000 units with drop-ins, 33,000 needless directory reads.)
fn walk(dir: &Path) -> Vec<Found> {
    let read_error = |path: &Path, e: std::io::Error| {
        Found::Error(TargetError {
            operand: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return vec![read_error(dir, e)],
    };
    let mut level: Vec<(std::ffi::OsString, std::io::Result<std::fs::FileType>)> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => level.push((entry.file_name(), entry.file_type())),
            Err(e) => return vec![read_error(dir, e)],
        }
    }
    level.sort_by(|a, b| a.0.cmp(&b.0));
    let instance = |name: UnitName| Found::Instance {
        dir: dir.to_path_buf(),
        name,
    };
    level
        .into_par_iter()
        .flat_map_iter(|(name, file_type)| {
            let path = dir.join(&name);
            let name = name.to_string_lossy();
            match file_type {
                Err(e) => vec![read_error(&path, e)],
                Ok(t) if !t.is_dir() => vec![Found::File(path)],
                Ok(_) if instances::is_dependency_dir(&name) => {
                    let mut linked = instances::linked_instances(&path);
                    linked.sort_by(|a, b| a.name.cmp(&b.name));
                    linked.into_iter().map(instance).collect()
                }
                Ok(_) if is_link_or_dropin_dir(&name) => instances::dropin_dir_instance(&name)
                    .map(instance)
                    .into_iter()
                    .collect(),
                // A directory named like a unit: systemd cannot read it.
                Ok(_) if is_unit_name(&path) => vec![Found::Error(TargetError {
                    operand: path.display().to_string(),
                    message: "is a directory, not a unit file".to_string(),
                })],
                Ok(_) => walk(&path),
            }
        })
        .collect()
}

/// The units of a directory: its unit files, each template through the
/// instances the directory shows (instance files, instance drop-in
/// directories, links in dependency directories) or, with none, its test
/// instance. An instance without a file is taken only with its template:
/// a link to a unit installed elsewhere is that unit's business.
fn directory(dir: &Path, scope: &Scope, targets: &mut Vec<Target>, errors: &mut Vec<TargetError>) {
    // Naming each file's unit and finding its loader also runs in
    // parallel; the results keep the walk's order.
    let found: Vec<Result<Target, TargetError>> = walk(dir)
        .into_par_iter()
        .filter_map(|found| match found {
            Found::File(path) => is_unit_name(&path).then(|| {
                file_target(&path, scope).map_err(|message| TargetError {
                    operand: path.display().to_string(),
                    message,
                })
            }),
            Found::Instance { dir, name } => Some(Ok(Target {
                name,
                loader: scope.loader(Some(&dir)),
                stdin: None,
                via_dropin: false,
                template: Some(TemplateCheck::Existing),
            })),
            Found::Error(e) => Some(Err(e)),
        })
        .collect();
    // A template and its instances meet in one directory, whose loader
    // stands for it.
    let template_of = |t: &Target| {
        (
            Arc::as_ptr(&t.loader),
            t.name.template().unwrap_or_default(),
        )
    };
    let templates: HashSet<_> = found
        .iter()
        .flatten()
        .filter(|t| t.template == Some(TemplateCheck::TestInstance))
        .map(template_of)
        .collect();
    let instantiated: HashSet<_> = found
        .iter()
        .flatten()
        .filter(|t| t.template != Some(TemplateCheck::TestInstance) && t.name.is_instance())
        .map(template_of)
        .filter(|template| templates.contains(template))
        .collect();
    for result in found {
        match result {
            Ok(mut t) => {
                let template = template_of(&t);
                match t.template {
                    Some(TemplateCheck::TestInstance) if instantiated.contains(&template) => {}
                    Some(TemplateCheck::Existing) if !templates.contains(&template) => {}
                    _ => {
                        if instantiated.contains(&template) {
                            t.template = Some(TemplateCheck::Existing);
                        }
                        targets.push(t);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
}

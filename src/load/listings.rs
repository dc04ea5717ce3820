//! Directory listings, read once per run and shared by every loader.
//!
//! Each unit looks for its file and drop-in directories in every search
//! directory (a dozen names in a dozen directories); asking the file system
//! each time cost ~57 failed `stat` calls per unit. One `readdir` per
//! directory answers all of them.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::FileType;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// The entries of one directory, read on first use; none when it is not a
/// readable directory. A probing listing answers a question about one name
/// with one `lstat` instead of reading the whole directory: for a run of a
/// few units, reading a dozen search directories of hundreds of entries
/// cost more than the units themselves.
#[derive(Debug)]
pub struct Listing {
    dir: PathBuf,
    probing: bool,
    /// Whether the directory exists, asked once when probing: most search
    /// directories do not, and need no question per name.
    is_dir: OnceLock<bool>,
    /// The entries; None when the directory could not be read.
    read: OnceLock<Option<HashMap<OsString, FileType>>>,
}

impl Listing {
    fn new(dir: &Path, probing: bool) -> Listing {
        Listing {
            dir: dir.to_path_buf(),
            probing,
            is_dir: OnceLock::new(),
            read: OnceLock::new(),
        }
    }

    fn entries_read(&self) -> Option<&HashMap<OsString, FileType>> {
        self.read
            .get_or_init(|| {
                let entries = std::fs::read_dir(&self.dir).ok()?;
                Some(
                    entries
                        .flatten()
                        .filter_map(|e| Some((e.file_name(), e.file_type().ok()?)))
                        .collect(),
                )
            })
            .as_ref()
    }

    /// False when the directory could not be read (missing, not a
    /// directory, no permission): the listing then knows nothing.
    pub fn readable(&self) -> bool {
        if self.probing {
            self.is_dir()
        } else {
            self.entries_read().is_some()
        }
    }

    /// True when `name` is in the directory (as anything, a dangling
    /// symlink too).
    pub fn contains(&self, name: impl AsRef<OsStr>) -> bool {
        self.file_type(name).is_some()
    }

    fn is_dir(&self) -> bool {
        *self
            .is_dir
            .get_or_init(|| std::fs::metadata(&self.dir).is_ok_and(|m| m.is_dir()))
    }

    /// Every entry, in no particular order (the directory is read, probing
    /// or not).
    pub fn entries(&self) -> impl Iterator<Item = (&OsStr, FileType)> {
        self.entries_read()
            .into_iter()
            .flatten()
            .map(|(name, t)| (name.as_os_str(), *t))
    }

    /// The type of `name` in the directory (a symlink is not followed).
    pub fn file_type(&self, name: impl AsRef<OsStr>) -> Option<FileType> {
        let name = name.as_ref();
        if self.probing && self.read.get().is_none() {
            if !self.is_dir() {
                return None;
            }
            return std::fs::symlink_metadata(self.dir.join(name))
                .ok()
                .map(|m| m.file_type());
        }
        self.entries_read()?.get(name).copied()
    }
}

#[derive(Debug, Default)]
pub struct Listings {
    read: RwLock<HashMap<PathBuf, Arc<Listing>>>,
    /// Whether the listings made from now on probe name by name.
    probing: AtomicBool,
}

impl Listings {
    /// Makes the listings asked for from now on answer name by name
    /// (`probing`), or read their directory once.
    pub fn set_probing(&self, probing: bool) {
        self.probing.store(probing, Ordering::Relaxed);
    }

    /// The listing of `dir`, read on first use.
    pub fn listing(&self, dir: &Path) -> Arc<Listing> {
        // A bare file name's directory is the empty path: the current one.
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Some(listing) = self.read.read().expect("not poisoned").get(dir) {
            return Arc::clone(listing);
        }
        let listing = Arc::new(Listing::new(dir, self.probing.load(Ordering::Relaxed)));
        self.read
            .write()
            .expect("not poisoned")
            .entry(dir.to_path_buf())
            .or_insert(listing)
            .clone()
    }
}

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
use std::sync::{Arc, RwLock};

/// The entries of one directory; none when it is not a readable directory.
#[derive(Debug, Default)]
pub struct Listing {
    entries: HashMap<OsString, FileType>,
    readable: bool,
}

impl Listing {
    fn read(dir: &Path) -> Listing {
        match std::fs::read_dir(dir) {
            Ok(entries) => Listing {
                entries: entries
                    .flatten()
                    .filter_map(|e| Some((e.file_name(), e.file_type().ok()?)))
                    .collect(),
                readable: true,
            },
            Err(_) => Listing::default(),
        }
    }

    /// False when the directory could not be read (missing, not a
    /// directory, no permission): the listing then knows nothing.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// True when `name` is in the directory (as anything, a dangling
    /// symlink too).
    pub fn contains(&self, name: impl AsRef<OsStr>) -> bool {
        self.entries.contains_key(name.as_ref())
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&OsStr, FileType)> {
        self.entries.iter().map(|(name, t)| (name.as_os_str(), *t))
    }

    /// The type of `name` in the directory (a symlink is not followed).
    pub fn file_type(&self, name: &str) -> Option<FileType> {
        self.entries.get(OsStr::new(name)).copied()
    }
}

#[derive(Debug, Default)]
pub struct Listings {
    read: RwLock<HashMap<PathBuf, Arc<Listing>>>,
}

impl Listings {
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
        let listing = Arc::new(Listing::read(dir));
        self.read
            .write()
            .expect("not poisoned")
            .entry(dir.to_path_buf())
            .or_insert(listing)
            .clone()
    }
}

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

/// The entries of one directory, or None when it is not a readable directory.
type Listing = Option<HashMap<OsString, FileType>>;

#[derive(Debug, Default)]
pub struct Listings {
    read: RwLock<HashMap<PathBuf, Arc<Listing>>>,
}

impl Listings {
    fn listing(&self, dir: &Path) -> Arc<Listing> {
        // A bare file name's directory is the empty path: the current one.
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Some(listing) = self.read.read().expect("not poisoned").get(dir) {
            return Arc::clone(listing);
        }
        let listing = Arc::new(std::fs::read_dir(dir).ok().map(|entries| {
            entries
                .flatten()
                .filter_map(|e| Some((e.file_name(), e.file_type().ok()?)))
                .collect()
        }));
        self.read
            .write()
            .expect("not poisoned")
            .entry(dir.to_path_buf())
            .or_insert(listing)
            .clone()
    }

    /// True when `dir/name` exists (as anything, a dangling symlink too).
    pub fn contains(&self, dir: &Path, name: &str) -> bool {
        self.listing(dir)
            .as_ref()
            .as_ref()
            .is_some_and(|entries| entries.contains_key(OsStr::new(name)))
    }

    /// True when `dir/name` is a directory or a symlink to one.
    pub fn is_dir(&self, dir: &Path, name: &str) -> bool {
        let listing = self.listing(dir);
        match listing
            .as_ref()
            .as_ref()
            .and_then(|e| e.get(OsStr::new(name)))
        {
            Some(t) if t.is_symlink() => dir.join(name).is_dir(),
            Some(t) => t.is_dir(),
            None => false,
        }
    }
}

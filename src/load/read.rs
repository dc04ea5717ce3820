//! Reading a unit file's bytes without blocking on FIFOs or devices.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be read as a unit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    NotFound,
    PermissionDenied,
    IsDirectory,
    /// A character device: systemd treats it as a mask.
    CharacterDevice,
    /// A FIFO, socket or block device.
    NotRegularFile,
    DanglingSymlink,
    SymlinkLoop,
    Other(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("no such file"),
            ReadError::PermissionDenied => f.write_str("permission denied"),
            ReadError::IsDirectory => f.write_str("is a directory, not a unit file"),
            ReadError::CharacterDevice => f.write_str("is a character device"),
            ReadError::NotRegularFile => {
                f.write_str("is not a regular file (a FIFO, socket or block device)")
            }
            ReadError::DanglingSymlink => f.write_str("is a dangling symlink"),
            ReadError::SymlinkLoop => f.write_str("is a symlink loop"),
            ReadError::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::NotFound,
            std::io::ErrorKind::PermissionDenied => ReadError::PermissionDenied,
            std::io::ErrorKind::IsADirectory => ReadError::IsDirectory,
            _ if e.raw_os_error() == Some(40) => ReadError::SymlinkLoop,
            _ => ReadError::Other(e.to_string()),
        }
    }
}

/// Reads a unit file whose type (symlinks followed) is known, from a stat
/// or a directory listing; only a regular file is opened. Opens without
/// blocking, so a FIFO named `x.service` is refused instead of waiting for
/// a writer.
pub fn read_unit_bytes(path: &Path, file_type: std::fs::FileType) -> Result<Vec<u8>, ReadError> {
    if file_type.is_dir() {
        return Err(ReadError::IsDirectory);
    }
    if file_type.is_char_device() {
        return Err(ReadError::CharacterDevice);
    }
    if !file_type.is_file() {
        return Err(ReadError::NotRegularFile);
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nonblock())
        .open(path)?;
    // The file may have been swapped for something else since it was seen.
    let opened = file.metadata()?;
    if !opened.file_type().is_file() {
        return Err(ReadError::NotRegularFile);
    }
    // Read the size the open file has, and stop there: the read that would
    // return nothing at the end is one system call per file. A size of 0
    // may be a pseudo-file that does not know its size: read to the end.
    let size = opened.len();
    let limit = if size == 0 { u64::MAX } else { size };
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::by_ref(&mut file)
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// O_NONBLOCK on Linux (all architectures capcheck targets).
const fn libc_o_nonblock() -> i32 {
    0o4000
}

//! Reading a unit file's bytes without blocking on FIFOs or devices.

use crate::limits::{too_many_words, MAX_FILE_SIZE, MAX_WORDS};
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
    /// Larger than [`MAX_FILE_SIZE`]: not read, or not read on.
    TooLarge,
    /// More than [`MAX_WORDS`] words.
    TooManyWords,
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
            ReadError::TooLarge => write!(
                f,
                "is larger than {} MiB, the most capcheck reads of a unit file",
                MAX_FILE_SIZE >> 20
            ),
            ReadError::TooManyWords => write!(
                f,
                "has more than {MAX_WORDS} words, the most capcheck reads of a unit file"
            ),
            ReadError::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ReadError {}

impl ReadError {
    /// Over one of capcheck's own limits ([`crate::limits`]): systemd
    /// would read the file.
    pub fn is_limit(&self) -> bool {
        matches!(self, ReadError::TooLarge | ReadError::TooManyWords)
    }
}

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
    let file = std::fs::OpenOptions::new()
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
    // may be a pseudo-file that does not know its size: read to the end,
    // or to just past the limit.
    let size = opened.len();
    if size > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge);
    }
    let limit = if size == 0 { u64::MAX } else { size };
    read_within_limit(file.take(limit), size as usize)
}

/// Reads to the end (`expected` bytes, if known), or fails as soon as more
/// than [`MAX_FILE_SIZE`] bytes came, or when they hold more than
/// [`MAX_WORDS`] words.
pub fn read_within_limit(reader: impl Read, expected: usize) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(expected);
    reader.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge);
    }
    if too_many_words(&bytes) {
        return Err(ReadError::TooManyWords);
    }
    Ok(bytes)
}

/// O_NONBLOCK on Linux (all architectures capcheck targets).
const fn libc_o_nonblock() -> i32 {
    0o4000
}

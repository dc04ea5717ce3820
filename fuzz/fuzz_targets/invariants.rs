//! What must hold for any input, shared by the fuzz targets and by the
//! regression test that replays every input they ever broke on
//! (`tests/fuzz_regressions.rs`, inputs in `fuzz/regressions/`).

// Each fuzz target uses one of these functions; the test uses them all.
#![allow(dead_code)]

use capcheck::caps::Risk;
use capcheck::checks::binary::{BinaryInfo, BinaryInspector};
use capcheck::checks::CheckOptions;
use capcheck::config::Config;
use capcheck::fix::{fix_unit, FixOptions};
use capcheck::lint::Rules;
use capcheck::load::targets::{resolve, Scope};
use capcheck::load::{Loader, SearchPath, Unit};
use capcheck::model::privileges;
use capcheck::semantics::Semantics;
use capcheck::syntax::logical::UnitFile;
use capcheck::syntax::SyntaxTree;
use capcheck::unit_name::{UnitName, UnitType};
use std::path::Path;

/// Binaries are not what is fuzzed: none is ever found.
struct NoBinaries;

impl BinaryInspector for NoBinaries {
    fn inspect(&self, _: &str) -> Option<BinaryInfo> {
        None
    }
}

fn lint_all(unit: &Unit) -> Vec<capcheck::finding::Finding> {
    let rules = Rules::new(&Config::default(), &[], &[]).expect("default rules");
    let options = CheckOptions {
        platform: None,
        binaries: &NoBinaries,
        min_risk: Risk::Low,
    };
    rules.lint(unit, &options)
}

/// The parser: every input splits into lines that write back byte for
/// byte, and logical lines point at text that is really there.
pub fn parser(data: &[u8]) {
    let tree = SyntaxTree::parse(data.to_vec());
    assert_eq!(tree.to_bytes(), data, "round trip");
    let covered: usize = tree.lines().map(|l| l.span.len() + l.eol.len()).sum();
    assert_eq!(covered, data.len(), "every byte in exactly one line");
    let file = UnitFile::parse(Path::new("fuzz.service"), data.to_vec(), UnitType::Service);
    for a in &file.assignments {
        // A key continued over several lines is joined (the backslash becomes
        // a space); on one line it is exactly the text its span covers.
        let raw = &file.text()[a.key_span.clone()];
        if !raw.contains(['\n', '\r', '\0']) {
            assert_eq!(raw, a.key, "key span");
        }
    }
}

/// Unit names the loader input picks from: templates, instances, dashed
/// prefixes, drop-in directories (own, template, prefix, type-wide).
const LOADER_PATHS: [&str; 12] = [
    "a-b.service",
    "a-b@.service",
    "a-b@x.service",
    "c.service",
    "a-b.service.d/10-x.conf",
    "a-b@.service.d/10-x.conf",
    "a-.service.d/20-y.conf",
    "service.d/30-z.conf",
    "c.service.d/10-x.conf",
    "a-b.service.d/10-x.conf~",
    "d.socket",
    "a-b@y.service",
];

/// The loader: input is a little tree (files, symlinks, masks), separated
/// by 0xFF 0xFE; the first byte of each part picks the path and what it
/// is. Loading, folding and linting every unit of it must not panic.
pub fn loader(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for part in split(data, b"\xff\xfe").take(16) {
        let Some((&pick, content)) = part.split_first() else {
            continue;
        };
        let path = dir
            .path()
            .join(LOADER_PATHS[usize::from(pick) % LOADER_PATHS.len()]);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::remove_file(&path);
        let made = match pick / 16 {
            // A symlink: to /dev/null, or to another name of the list.
            0 => std::os::unix::fs::symlink("/dev/null", &path),
            1 => std::os::unix::fs::symlink(
                LOADER_PATHS[usize::from(content.first().copied().unwrap_or(0)) % 4],
                &path,
            ),
            2 => std::fs::create_dir(&path),
            _ => std::fs::write(&path, content),
        };
        let _ = made;
    }
    let scope = Scope::new(Some(dir.path().to_path_buf()), false);
    let operands: Vec<String> = LOADER_PATHS
        .iter()
        .filter(|p| !p.contains('/'))
        .map(|p| dir.path().join(p).display().to_string())
        .chain(["a-b@z.service".to_string()])
        .collect();
    let (targets, _) = resolve(&operands, &scope);
    for target in &targets {
        let unit = target.load();
        let _ = privileges(&unit);
        let _ = lint_all(&unit);
    }
}

/// The fixer: input is one service file. With every fix allowed, a fix
/// (a) yields a file that still loads when the original did, (b) changes
/// nothing when run again, and (c) leaves no fixable finding of the kinds
/// it fixes.
pub fn fixer(data: &[u8]) {
    let name = UnitName::parse("fuzz.service").expect("a unit name");
    let path = Path::new("/nonexistent-fuzz/fuzz.service");
    let loader = Loader::new(
        SearchPath::default(),
        Path::new("/nonexistent-fuzz"),
        false,
        Semantics::NEWEST,
        Default::default(),
    );
    let rules = Rules::new(&Config::default(), &[], &[]).expect("default rules");
    let checks = CheckOptions {
        platform: None,
        binaries: &NoBinaries,
        min_risk: Risk::Medium,
    };
    let options = FixOptions {
        unsafe_fixes: true,
        ..FixOptions::default()
    };
    let before = loader.load_with_fragment(&name, path, data.to_vec());
    let fix = fix_unit(&before, &rules, &checks, &options);
    if fix.error.is_some() || fix.changes.is_empty() {
        return;
    }
    assert_eq!(fix.changes.len(), 1, "one file, edited in place");
    let change = &fix.changes[0];
    assert_eq!(change.path, path);
    let after = loader.load_with_fragment(&name, path, change.after.clone());
    if privileges(&before).loaded {
        assert!(privileges(&after).loaded, "the fixed unit does not load");
    }
    let again = fix_unit(&after, &rules, &checks, &options);
    assert!(
        again.changes.is_empty(),
        "a second fix changes the file again:\n{}",
        String::from_utf8_lossy(&again.changes[0].after)
    );
    const FIXED: [&str; 5] = ["CAP101", "CAP301", "CAP304", "CAP305", "CAP306"];
    let left: Vec<_> = rules
        .lint(&after, &checks)
        .into_iter()
        .filter(|f| FIXED.contains(&f.code) && f.fix.is_some())
        .map(|f| format!("{} {}", f.code, f.message))
        .collect();
    assert!(left.is_empty(), "fixable findings left: {left:?}");
}

fn split<'a>(data: &'a [u8], separator: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        match current
            .windows(separator.len())
            .position(|w| w == separator)
        {
            Some(at) => {
                rest = Some(&current[at + separator.len()..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Names a resolver tree is made of, and what its links point at: names,
/// `..`, absolute paths and paths through other links.
const CHASE_NAMES: [&str; 6] = ["a", "b", "c", "a/b", "b/c", "c/a"];
const CHASE_TARGETS: [&str; 12] = [
    "a",
    "../a",
    "../../../b",
    "/a",
    "/../../c",
    "/a/b",
    "b/../c",
    ".",
    "..",
    "/",
    "c/a/..",
    "/b/c",
];

/// The `--root` resolver: input builds a tree of directories, files and
/// symlinks inside a root, then asks for paths. The resolved path never
/// leaves the root, and names what the kernel's own `openat2(...,
/// RESOLVE_IN_ROOT)` opens (same device and inode), or nothing where the
/// kernel finds nothing.
pub fn chase(data: &[u8]) {
    use capcheck::load::chase::{chase, Last};
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("root");
    // A file beside the root that no resolution may reach.
    std::fs::write(dir.path().join("a"), "outside").expect("outside file");
    let (tree, queries) = data.split_at(data.len() / 2);
    for pair in tree.chunks(2).take(24) {
        let (pick, target) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let path = root.join(CHASE_NAMES[usize::from(pick) % CHASE_NAMES.len()]);
        let _ = match pick / 64 {
            0 => std::fs::create_dir_all(&path),
            1 => std::fs::write(&path, [target]),
            _ => std::os::unix::fs::symlink(
                CHASE_TARGETS[usize::from(target) % CHASE_TARGETS.len()],
                &path,
            ),
        };
    }
    let root_fd = std::fs::File::open(&root).expect("root opens");
    // What the tree is, for the message of a failed check.
    let listing = || {
        let mut out = String::new();
        for name in CHASE_NAMES {
            let path = root.join(name);
            match std::fs::read_link(&path) {
                Ok(target) => out.push_str(&format!("{name} -> {}\n", target.display())),
                Err(_) if path.is_dir() => out.push_str(&format!("{name}/\n")),
                Err(_) if path.exists() => out.push_str(&format!("{name}\n")),
                Err(_) => {}
            }
        }
        out
    };
    let canonical_root = root.canonicalize().expect("root resolves");
    for pair in queries.chunks(2).take(8) {
        let query = format!(
            "/{}/{}",
            CHASE_TARGETS[usize::from(pair[0]) % CHASE_TARGETS.len()],
            CHASE_NAMES[usize::from(pair.get(1).copied().unwrap_or(0)) % CHASE_NAMES.len()]
        );
        let ours = chase(&root, Path::new(&query), Last::Follow);
        let kernel = open_in_root(&root_fd, &query);
        let Ok(ours) = ours else {
            // Only a loop is an error; the kernel allows 40 hops, systemd 32.
            continue;
        };
        assert!(
            ours.starts_with(&root) && !ours.components().any(|c| c.as_os_str() == ".."),
            "{query} resolved to {ours:?}, outside {root:?}"
        );
        if let Ok(real) = ours.canonicalize() {
            assert!(
                real.starts_with(&canonical_root),
                "{query}: {real:?} is outside the root"
            );
        }
        match kernel {
            Ok(file) => {
                let (k, o) = (file.metadata().expect("fstat"), std::fs::metadata(&ours));
                let o = o.unwrap_or_else(|e| {
                    panic!(
                        "{query}: the kernel opens it, {ours:?}: {e}; tree:\n{}",
                        listing()
                    )
                });
                assert_eq!(
                    (k.dev(), k.ino()),
                    (o.dev(), o.ino()),
                    "{query}: {ours:?}; tree:\n{}",
                    listing()
                );
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                assert!(
                    std::fs::metadata(&ours).is_err(),
                    "{query}: the kernel finds nothing, {ours:?} exists; tree:\n{}",
                    listing()
                );
            }
            Err(_) => {}
        }
    }
}

/// The kernel's answer: `openat2(root, path, O_PATH, RESOLVE_IN_ROOT)`.
fn open_in_root(root: &std::fs::File, path: &str) -> std::io::Result<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let c = std::ffi::CString::new(path).expect("no NUL");
    // SAFETY: open_how is plain data; zeroed is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT;
    // SAFETY: openat2 with a valid directory, path and open_how.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned here.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
}

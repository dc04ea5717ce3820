//! ## What it finds
//! A non-root service with `AmbientCapabilities=` whose Exec binary is
//! setuid, setgid or has file capabilities.
//!
//! ## Why it matters
//! The kernel clears the ambient set when it execs a privileged file, so
//! the program gets only what its file capabilities (or setuid) give, never
//! the unit's ambient capabilities. Either the ambient list is dead weight
//! or the program misses capabilities the unit seems to grant.
//!
//! ## Example
//! ```ini
//! # /usr/bin/ping has cap_net_raw=ep
//! [Service]
//! User=app
//! AmbientCapabilities=CAP_NET_RAW
//! ExecStart=/usr/bin/ping -c1 example.org
//! ```
//! Use instead: keep one mechanism, the ambient list (and remove the file
//! capabilities) or the file capabilities (and drop the ambient list).
//!
//! ## Fix
//! No automatic fix.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP402 -- reason` on the line above the Exec line.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;

pub struct AmbientClearedByBinary;

static META: Meta = Meta {
    code: "CAP402",
    name: "ambient-cleared-by-binary",
    summary: "ambient capabilities are cleared by exec of a setuid or file-capability binary",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for AmbientClearedByBinary {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        let ambient = p.ambient_capabilities.value.intersection(CapSet::KNOWN);
        if !p.loaded || p.runs_as_root() || ambient.is_empty() {
            return;
        }
        for (command, info) in cx.exec_binaries(false) {
            if !info.is_privileged() {
                continue;
            }
            let why = match info.file_caps {
                Some(caps) => format!("has file capabilities {}", caps.describe()),
                None => "is setuid/setgid".to_string(),
            };
            cx.report_origin(
                &command.origin,
                format!("{} {why}: the kernel clears the ambient capabilities ({ambient}) when it execs it", info.path.display()),
            )
            .label("ambient set cleared here")
            .help("use either AmbientCapabilities= or file capabilities, not both");
        }
    }
}

//! ## What it finds
//! A non-root service with no_new_privs in force (`NoNewPrivileges=yes`,
//! `DynamicUser=yes`, or a sandboxing option that implies it) whose Exec
//! binary is setuid, setgid or has file capabilities.
//!
//! ## Why it matters
//! Under no_new_privs the kernel ignores the setuid bit and cuts file
//! capabilities back to what the process already had. The exec succeeds,
//! but the program runs without the privilege it was installed with and
//! fails later with EPERM.
//!
//! ## Example
//! ```ini
//! # /usr/bin/ping has cap_net_raw=ep
//! [Service]
//! User=app
//! NoNewPrivileges=yes
//! ExecStart=/usr/bin/ping -c1 example.org
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! User=app
//! NoNewPrivileges=yes
//! AmbientCapabilities=CAP_NET_RAW
//! CapabilityBoundingSet=CAP_NET_RAW
//! ExecStart=/usr/bin/ping -c1 example.org
//! ```
//!
//! ## Fix
//! No automatic fix.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP403 -- reason` on the line above the Exec line.

use super::{Check, Context, Meta};
use crate::finding::Severity;

pub struct NoNewPrivilegesBlocksBinary;

static META: Meta = Meta {
    code: "CAP403",
    name: "no-new-privileges-blocks-binary",
    summary: "no_new_privs silently removes a setuid or file-capability binary's privileges",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for NoNewPrivilegesBlocksBinary {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded || p.runs_as_root() || !p.no_new_privileges_at_runtime() {
            return;
        }
        for (command, info) in cx.exec_binaries(false) {
            let lost = match (info.file_caps, info.setuid || info.setgid) {
                (Some(caps), _) => format!("its file capabilities ({})", caps.describe()),
                (None, true) => "its setuid/setgid bit".to_string(),
                (None, false) => continue,
            };
            cx.report_origin(
                &command.origin,
                format!("no_new_privs is in force, so {} runs without {lost}", info.path.display()),
            )
            .label("privileges lost at exec")
            .help("grant what it needs with AmbientCapabilities= (and CapabilityBoundingSet=) instead");
        }
    }
}

//! ## What it finds
//! `User=nobody` (or uid 65534).
//!
//! ## Why it matters
//! `nobody` owns files that the kernel maps from other namespaces (NFS
//! root squash, user namespaces), and every service that uses it shares
//! one identity: a compromise of one can signal, ptrace or read the files of
//! the others. systemd itself warns "Special user nobody configured, this is
//! not safe!".
//!
//! ## Example
//! ```ini
//! [Service]
//! User=nobody
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! DynamicUser=yes
//! ```
//!
//! ## Fix
//! No automatic fix; `DynamicUser=yes` or a dedicated user are both right.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP102 -- reason` on the line above `User=`.

use super::{Check, Context, Meta};
use crate::finding::Severity;

pub struct NobodyUser;

static META: Meta = Meta {
    code: "CAP102",
    name: "nobody-user",
    summary: "the service runs as the shared user nobody",
    default_severity: Severity::Warning,
    fixable: false,
};

impl Check for NobodyUser {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        let Some(user) = p.user.value.as_deref() else {
            return;
        };
        if !p.loaded || !(user == "nobody" || user == "65534") {
            return;
        }
        if let Some(origin) = p.user.origins.last() {
            cx.report_origin(origin, format!("User={user}: the shared nobody identity is not safe for services"))
                .label("shared with every other nobody process")
                .help("use DynamicUser=yes or a dedicated system user");
        }
    }
}

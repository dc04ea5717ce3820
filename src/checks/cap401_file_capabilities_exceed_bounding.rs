//! ## What it finds
//! An Exec binary with file capabilities whose effective bit is set
//! (`setcap …=ep`) and whose permitted capabilities are not all in the
//! unit's bounding set. The binary is read from the host, or from `--root`;
//! a missing binary is not reported.
//!
//! ## Why it matters
//! For a "capability-dumb" binary (`=ep`), the kernel refuses the exec with
//! EPERM when it cannot grant every file capability, and the bounding set
//! removes some. The service fails with status 203/EXEC and "Operation not
//! permitted", which names neither capabilities nor the bounding set. It is
//! the trap behind `drop: [ALL]` failures of images that ship `setcap`.
//!
//! ## Example
//! ```ini
//! # /usr/bin/app has cap_net_bind_service,cap_net_raw=ep
//! [Service]
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE
//! ExecStart=/usr/bin/app
//! ```
//! Use instead:
//! ```ini
//! [Service]
//! CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW
//! ExecStart=/usr/bin/app
//! ```
//! (or set the file capabilities to `=p` so the program raises them itself).
//!
//! ## Fix
//! No automatic fix: the bounding set or the file capabilities may be wrong.
//!
//! ## Suppression
//! `# capcheck: ignore=CAP401 -- reason` on the line above the Exec line.

use super::{Check, Context, Meta};
use crate::caps::CapSet;
use crate::finding::Severity;

pub struct FileCapabilitiesExceedBounding;

static META: Meta = Meta {
    code: "CAP401",
    name: "file-capabilities-exceed-bounding",
    summary: "an =ep binary has file capabilities outside the bounding set: exec fails with EPERM",
    default_severity: Severity::Error,
    fixable: false,
};

impl Check for FileCapabilitiesExceedBounding {
    fn meta(&self) -> &'static Meta {
        &META
    }

    fn check(&self, cx: &mut Context) {
        let p = cx.model;
        if !p.loaded {
            return;
        }
        for (command, info) in cx.exec_binaries(true) {
            let Some(caps) = info.file_caps else {
                continue;
            };
            let missing = caps
                .permitted
                .intersection(CapSet::KNOWN)
                .difference(p.capability_bounding_set.value);
            if !caps.effective || missing.is_empty() {
                continue;
            }
            cx.report_origin(
                &command.origin,
                format!(
                    "{} has file capabilities {} but the bounding set lacks {missing}: exec fails with EPERM (status 203/EXEC)",
                    info.path.display(),
                    caps.describe()
                ),
            )
            .label("this exec fails")
            .help(format!("add {missing} to CapabilityBoundingSet=, or set the file capabilities to =p"));
        }
    }
}

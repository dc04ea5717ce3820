//! The live host: talking to the running systemd (`systemctl`,
//! `journalctl`, `systemd-analyze`) for `record --attach` and `try`.
//! Nothing here runs without systemd as PID 1.

pub mod systemd;
pub mod trial;

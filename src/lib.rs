//! capcheck: finds over-privileged systemd services and rewrites them to run
//! as non-root with exactly the capabilities they need.
//!
//! Data flows one way: [`syntax`] (bytes to lines) → [`load`] (the files of
//! a unit) → [`model`] (effective privileges) → [`report`].

// pest's parser code, built without pest's "std" feature, names `alloc`.
extern crate alloc;

pub mod caps;
pub mod checks;
pub mod cli;
pub mod config;
pub mod duration;
pub mod finding;
pub mod fix;
pub mod limits;
pub mod lint;
pub mod live;
pub mod load;
pub mod model;
pub mod record;
pub mod report;
pub mod run;
pub mod semantics;
pub mod suppress;
pub mod syntax;
pub mod system;
pub mod systemd;
pub mod unit_name;

//! `capcheck try`: the trial of a fix on a running service. live/ sits
//! above fix/ (it plans with fix's planner and writes with fix's writer)
//! and below the command line; it talks to systemd through `systemd`.
//! Nothing here runs without systemd as PID 1.

pub mod plan;
pub mod trial;

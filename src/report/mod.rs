//! Output formats. Each printer reads the model; none re-parses text.

pub mod show;

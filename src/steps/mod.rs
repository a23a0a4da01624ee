//! Workflow actions not yet moved into a family folder.

pub mod sample;

//! The `sagaflow` command line.
fn main() {}

//! The assembled application.
pub struct App;

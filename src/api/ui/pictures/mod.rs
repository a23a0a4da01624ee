//! The console's pictures: the saga picture on a saga's page (with its fragment route for
//! live refresh), and the overview's chart and provider table. (The partner orders screens
//! are the partner family's: `families/partner/console.rs`.)

pub mod chart;
pub mod graph;
pub mod overview;
pub mod saga;

//! The console's pictures and partner screens: the saga picture on a saga's page (with its
//! fragment route for live refresh), the overview's chart and provider table, and the partner
//! orders with their licences and webhook deliveries.

pub mod chart;
pub mod graph;
pub mod overview;
pub mod partner;
pub mod saga;

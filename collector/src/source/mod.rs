//! Sources: where messages come from.
pub mod mqtt;

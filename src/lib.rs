//! The `schoolnet` binary's library: command-line interface, the wiring of
//! collector and exporter into one process, the embedded demo (the fleet simulator
//! is its own crate, `simulator`), and the InfluxDB `/query` client the
//! commands that read history back share (`influx_query`). `main.rs` only
//! calls [`cli::main`].

pub mod app;
pub mod cli;
pub mod commands;
pub mod demo;
mod influx_query;
pub mod logging;
pub mod shutdown;

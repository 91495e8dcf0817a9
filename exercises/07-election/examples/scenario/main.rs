//! The scenario binary of chapter election (see `scenarios.rs`), built against this crate by
//! `cargo xtask scenario election/NAME --mine`. With no arguments it lists the scenarios as
//! JSON; with `NAME [SEED] [--any]` it prints that run's trace (the protocol of
//! `sim::scenario`).

mod scenarios;

fn main() {
    sim::scenario::main(&scenarios::all());
}

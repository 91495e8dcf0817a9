//! The scenario binary the book and `cargo xtask scenario quorum/NAME` run: with no arguments
//! it lists the scenarios as JSON, with `NAME [SEED]` it prints that run's trace, and with
//! `--table NAME` it prints a measured table as Markdown.

fn main() {
    sim::scenario::main_with_tables(&quorum::scenarios::all(), &quorum::scenarios::tables())
}

//! The scenario binary the book and `cargo xtask scenario leader-lease/NAME` run: with no
//! arguments it lists the scenarios as JSON, with `NAME [SEED]` it prints that run's trace.

fn main() {
    sim::scenario::main(&leader_lease::scenarios::all())
}

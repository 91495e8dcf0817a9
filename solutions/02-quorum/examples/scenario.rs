//! The scenario binary of chapter 2 as the book runs it: the exercise's scenarios
//! (`exercises/02-quorum/examples/scenario/scenarios.rs`), run against this solution, and the
//! tables only the solution can measure.

#[path = "../../../exercises/02-quorum/examples/scenario/scenarios.rs"]
mod scenarios;

fn main() {
    sim::scenario::main_with_tables(&scenarios::all(), &quorum::tables::all());
}

//! The scenario binary of chapter 4 as the book runs it: the exercise's scenarios
//! (`exercises/04-retries/examples/scenario/scenarios.rs`), run against this solution, and the
//! contention table only the solution measures.

#[path = "../../../exercises/04-retries/examples/scenario/scenarios.rs"]
mod scenarios;

fn main() {
    sim::scenario::main_with_tables(&scenarios::all(), &retries::tables::all());
}

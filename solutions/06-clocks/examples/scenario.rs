//! The scenario binary of chapter 6 as the book runs it: the exercise's scenarios
//! (`exercises/06-clocks/examples/scenario/scenarios.rs`), run against this solution, and the
//! table only the solution measures.

#[path = "../../../exercises/06-clocks/examples/scenario/scenarios.rs"]
mod scenarios;

fn main() {
    sim::scenario::main_with_tables(&scenarios::all(), &clocks::tables::all());
}

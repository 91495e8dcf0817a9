//! The warm-up's named runs, for the book's timelines and `cargo xtask scenario warm-up/NAME`.

fn main() {
    sim::scenario::main(&warm_up::scenarios::all())
}

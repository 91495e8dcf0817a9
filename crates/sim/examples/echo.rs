//! Simulator throughput on the echo workload (see `sim::echo`):
//! `cargo run --release -p sim --example echo -- K B R` (defaults 4 256 200).

use std::time::Instant;

fn arg(args: &[String], i: usize, default: u32) -> u32 {
    args.get(i).map_or(default, |a| {
        a.parse()
            .unwrap_or_else(|_| panic!("argument {i} must be a whole number, got {a:?}"))
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (clients, burst, rounds) = (arg(&args, 0, 4), arg(&args, 1, 256), arg(&args, 2, 200));
    // The wall clock measures the host here, never the simulation.
    let started = Instant::now();
    let run = sim::echo::run(clients, burst, rounds);
    let wall = started.elapsed().as_secs_f64();
    let expected = 2 * u64::from(clients) * u64::from(burst) * u64::from(rounds);
    assert!(run.complete, "an echo went missing");
    assert_eq!(run.deliveries, expected, "wrong delivery count");
    println!(
        "deliveries={} wall_s={wall:.3} deliveries_per_s={:.0}",
        run.deliveries,
        run.deliveries as f64 / wall
    );
}

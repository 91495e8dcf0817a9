//! Simulator throughput on the echo workload (4 clients, bursts of 256, 200 rounds: 409,600
//! deliveries), beside the no-simulator baseline of the same message flow.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn echo(c: &mut Criterion) {
    let (clients, burst, rounds) = (4, 256, 200);
    let deliveries = 2 * u64::from(clients * burst * rounds);
    let mut group = c.benchmark_group("echo");
    group.throughput(Throughput::Elements(deliveries));
    group.sample_size(20);
    group.bench_function("baseline_fifo", |b| {
        b.iter(|| sim_bench::echo_baseline(black_box(clients), burst, rounds))
    });
    group.bench_function("simulator", |b| {
        b.iter(|| {
            let run = sim::echo::run(black_box(clients), burst, rounds);
            assert!(run.complete);
            run.deliveries
        })
    });
    group.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);

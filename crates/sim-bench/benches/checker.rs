//! The linearizability checker over the public Porcupine histories: all 102 etcd logs in one
//! iteration, and each kv file. Skipped (with a message) where the data is not on the machine.

use criterion::{Criterion, criterion_group, criterion_main};
use lincheck::formats::{parse_jepsen, parse_kv};
use std::hint::black_box;

fn checker(c: &mut Criterion) {
    let etcd: Vec<_> = sim_bench::read_all("jepsen")
        .into_iter()
        .map(|(name, text)| (name, parse_jepsen(&text).expect("well-formed log")))
        .collect();
    if etcd.is_empty() {
        eprintln!("no Porcupine data beside the repository: checker benches skipped");
        return;
    }
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.bench_function("parse_etcd_all", |b| {
        let texts = sim_bench::read_all("jepsen");
        b.iter(|| {
            texts
                .iter()
                .map(|(_, t)| parse_jepsen(black_box(t)).unwrap().len())
                .sum::<usize>()
        })
    });
    group.bench_function("etcd_all", |b| {
        b.iter(|| {
            etcd.iter()
                .filter(|(_, h)| {
                    matches!(
                        lincheck::check(&lincheck::Register, black_box(h)),
                        lincheck::Verdict::Linearizable
                    )
                })
                .count()
        })
    });
    for (name, text) in sim_bench::read_all("kv") {
        let history = parse_kv(&text).expect("well-formed kv history");
        group.bench_function(format!("kv/{name}"), |b| {
            b.iter(|| lincheck::check_kv(black_box(&history)))
        });
    }
    group.finish();
}

criterion_group!(benches, checker);
criterion_main!(benches);

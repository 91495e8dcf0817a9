//! The tables chapter 2's page shows (`{{#table quorum/NAME}}`), measured at build time by
//! running this solution in its sampling mode, which the exercise does not have.

use crate::{QuorumConfig, QuorumNode, Request, Response};
use sim::scenario::Table;
use sim::{Config, Invocation, NodeId, Simulation, Time};
use std::fmt::Write;
use std::time::Duration;

/// Every measured table of the chapter.
pub fn all() -> Vec<Table> {
    vec![Table {
        name: "stale-reads",
        run: stale_reads,
    }]
}

// ---------------------------------------------------------------------------------------------
// stale-reads

/// Reads measured per configuration.
const READS: usize = 1_000;

/// `n` choose `k`.
fn choose(n: u64, k: u64) -> u64 {
    if k > n {
        return 0;
    }
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// The probability that a uniformly random `r`-subset of `n` replicas misses a uniformly random
/// `w`-subset: every replica read is one of the `n - w` that were not written.
fn miss_probability(n: u64, r: u64, w: u64) -> f64 {
    choose(n - w, r) as f64 / choose(n, r) as f64
}

/// The share of reads that miss the write just before them, measured in the simulator: one
/// client at `n0` writes a fresh value, and as soon as the write is acknowledged, reads. The
/// nodes run in sampling mode (random quorums, no write-back, no retries) on a perfect network,
/// so a read returns the value just written exactly when its random read set meets the write's
/// random write set.
fn measure(n: u32, r: usize, w: usize, seed: u64) -> Result<f64, String> {
    let config = QuorumConfig {
        r,
        w,
        ..QuorumConfig::majority(n as usize)
    };
    let mut next = 0i64;
    let workload = move |_client: u32, _now: Time, _rng: &mut sim::SimRng| {
        if next >= 2 * READS as i64 {
            return None;
        }
        next += 1;
        // Odd: write the value `next`; even: read right after it.
        let request = if next % 2 == 1 {
            Request::Write(next)
        } else {
            Request::Read
        };
        Some(Invocation {
            node: NodeId(0),
            request,
            after: Duration::ZERO,
        })
    };
    let mut sim = Simulation::new(Config::new(n, seed).trace(false), move |_, _| {
        QuorumNode::new(config).sampling()
    })
    .clients(1, workload);
    sim.run().map_err(|halt| halt.to_string())?;
    let ops = &sim.history().ops;
    let mut stale = 0;
    let mut reads = 0;
    for pair in ops.chunks(2) {
        let [write, read] = pair else {
            return Err("the run ended with a write and no read".into());
        };
        let (Request::Write(value), Some(Response::Value(seen))) = (write.request, read.response())
        else {
            return Err(format!(
                "expected a write and a read, got {:?} -> {:?} and {:?} -> {:?}",
                write.request,
                write.response(),
                read.request,
                read.response()
            ));
        };
        reads += 1;
        if *seen != Some(value) {
            stale += 1;
        }
    }
    if reads != READS {
        return Err(format!("measured {reads} reads instead of {READS}"));
    }
    Ok(stale as f64 / reads as f64)
}

fn stale_reads() -> Result<String, String> {
    let configs: [(u32, usize, usize); 8] = [
        (3, 1, 1),
        (3, 1, 2),
        (3, 2, 1),
        (3, 2, 2),
        (5, 1, 1),
        (5, 2, 2),
        (5, 2, 3),
        (5, 3, 3),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| N | R | W | R + W > N? | stale reads measured (of {READS}) | C(N-W, R) / C(N, R) |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
    for (i, (n, r, w)) in configs.into_iter().enumerate() {
        let measured = measure(n, r, w, 100 + i as u64)?;
        let predicted = miss_probability(u64::from(n), r as u64, w as u64);
        // Four standard errors of a share measured over READS reads, at least half a percent.
        let tolerance = (4.0 * (predicted * (1.0 - predicted) / READS as f64).sqrt()).max(0.005);
        if (measured - predicted).abs() > tolerance {
            return Err(format!(
                "N={n} R={r} W={w}: measured {measured:.3} stale, the formula says \
                 {predicted:.3}: the measurement does not measure what the page says"
            ));
        }
        let _ = writeln!(
            out,
            "| {n} | {r} | {w} | {} | {:.1}% | {:.1}% |",
            if r + w > n as usize { "yes" } else { "no" },
            measured * 100.0,
            predicted * 100.0
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(choose(5, 2), 10);
        assert_eq!(choose(2, 3), 0);
        assert!((miss_probability(3, 1, 1) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(miss_probability(3, 2, 2), 0.0);
    }
}

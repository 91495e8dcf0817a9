//! The network between nodes: latency distributions, loss, duplication, reordering, and the
//! partitions that stand at a given moment.

use crate::time::NodeId;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a message takes from sender to receiver.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Latency {
    /// Every message takes exactly this long: messages on one link stay in order.
    Constant(Duration),
    /// Uniform between `min` and `max`.
    Uniform { min: Duration, max: Duration },
    /// Log-normal: most messages take about `median`, a few take many times longer. `sigma` is
    /// the spread of the logarithm (0.5 is a mild tail, 1.5 a heavy one).
    LogNormal { median: Duration, sigma: f64 },
    /// Pareto: at least `min`, with a power-law tail; smaller `shape` means a heavier tail
    /// (below 2 the variance is infinite, as in many measured networks).
    Pareto { min: Duration, shape: f64 },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Constant(Duration::from_millis(1))
    }
}

impl Latency {
    /// Draw one latency. Long tails are cut at `cap` so a run always ends.
    pub fn sample(&self, rng: &mut ChaCha8Rng, cap: Duration) -> Duration {
        let nanos = match *self {
            Latency::Constant(d) => return d.min(cap),
            Latency::Uniform { min, max } => {
                let (lo, hi) = (as_nanos(min), as_nanos(max.max(min)));
                return Duration::from_nanos(rng.random_range(lo..=hi)).min(cap);
            }
            Latency::LogNormal { median, sigma } => {
                as_nanos(median) as f64 * libm::exp(sigma * standard_normal(rng))
            }
            Latency::Pareto { min, shape } => {
                // Inverse CDF; 1 - u keeps the argument of powf away from zero.
                let u: f64 = rng.random();
                as_nanos(min) as f64 / libm::pow(1.0 - u, 1.0 / shape.max(1e-3))
            }
        };
        // libm rather than std's float functions: identical results on every platform.
        Duration::from_nanos(libm::round(nanos.clamp(0.0, as_nanos(cap) as f64)) as u64)
    }
}

fn as_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Box-Muller: one standard normal draw from two uniform ones.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random();
    let u2: f64 = rng.random();
    libm::sqrt(-2.0 * libm::log(1.0 - u1)) * libm::cos(std::f64::consts::TAU * u2)
}

/// The network's steady behaviour for a whole run. Timed faults (partitions) come on top.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// One-way latency of every message.
    pub latency: Latency,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice (the copy takes its own latency).
    pub duplicate: f64,
    /// Probability that a message is held back by one more latency draw, so that messages
    /// sent after it can overtake it (on top of the reordering any varying latency causes).
    pub reorder: f64,
    /// No message takes longer than this, however long the tail.
    pub max_latency: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Latency::default(),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            max_latency: Duration::from_secs(10),
        }
    }
}

/// Which links are cut right now. A link is blocked while any standing partition blocks it.
#[derive(Clone, Debug)]
pub(crate) struct Cuts {
    nodes: usize,
    /// For each directed link (from * nodes + to), how many standing partitions block it.
    blocked: Vec<u32>,
}

impl Cuts {
    pub(crate) fn new(nodes: usize) -> Cuts {
        Cuts {
            nodes,
            blocked: vec![0; nodes * nodes],
        }
    }

    pub(crate) fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked[from.index() * self.nodes + to.index()] > 0
    }

    pub(crate) fn add(&mut self, links: &[(NodeId, NodeId)]) {
        for (from, to) in links {
            self.blocked[from.index() * self.nodes + to.index()] += 1;
        }
    }

    pub(crate) fn remove(&mut self, links: &[(NodeId, NodeId)]) {
        for (from, to) in links {
            let count = &mut self.blocked[from.index() * self.nodes + to.index()];
            *count = count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn draws(latency: Latency, n: usize) -> Vec<Duration> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut out: Vec<Duration> = (0..n)
            .map(|_| latency.sample(&mut rng, Duration::from_secs(10)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn log_normal_has_its_median_and_a_long_tail() {
        let d = draws(
            Latency::LogNormal {
                median: Duration::from_millis(10),
                sigma: 1.0,
            },
            10_000,
        );
        let median = d[5_000].as_secs_f64() * 1e3;
        let p999 = d[9_990].as_secs_f64() * 1e3;
        assert!((9.0..11.0).contains(&median), "median {median}ms");
        // exp(3.09 sigma) ~ 22: the 99.9th percentile is about 20x the median.
        assert!(
            p999 > 150.0,
            "p99.9 {p999}ms should be far above the median"
        );
    }

    #[test]
    fn pareto_never_goes_below_its_minimum_and_the_cap_holds() {
        let d = draws(
            Latency::Pareto {
                min: Duration::from_millis(2),
                shape: 1.1,
            },
            10_000,
        );
        assert!(d[0] >= Duration::from_millis(2));
        assert!(d[9_999] <= Duration::from_secs(10));
        assert!(
            d[9_999] > Duration::from_millis(200),
            "a heavy tail: {:?}",
            d[9_999]
        );
    }

    #[test]
    fn uniform_stays_in_range() {
        let d = draws(
            Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(3),
            },
            1_000,
        );
        assert!(d[0] >= Duration::from_millis(1) && d[999] <= Duration::from_millis(3));
        assert!(d[999] - d[0] > Duration::from_millis(1));
    }

    #[test]
    fn overlapping_partitions_block_until_the_last_heals() {
        let mut cuts = Cuts::new(3);
        let link = [(NodeId(0), NodeId(1))];
        cuts.add(&link);
        cuts.add(&link);
        cuts.remove(&link);
        assert!(cuts.is_blocked(NodeId(0), NodeId(1)));
        assert!(!cuts.is_blocked(NodeId(1), NodeId(0)), "cuts are directed");
        cuts.remove(&link);
        assert!(!cuts.is_blocked(NodeId(0), NodeId(1)));
    }
}

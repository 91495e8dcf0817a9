//! Step 1: the client's policy, as pure functions: how wide a backoff may be
//! ([`backoff_ceiling`]), how it is drawn ([`backoff_delay`]), how long to wait for an answer
//! ([`timeout_for`]) and how many retries the budget allows ([`RetryBudget`]). Nothing here
//! runs a simulation: each rule is checked on its own, over many inputs.
//!
//! `cargo test --test step1_policy` runs just this step.

use retries::{RetryBudget, RetryConfig, backoff_ceiling, backoff_delay, timeout_for};
use sim::check::Property;
use sim::proptest::prelude::*;
use sim::rand::SeedableRng;
use std::time::Duration;

/// A base of 1 µs to 1 s and a cap of up to a minute; the rest as by default.
fn configs() -> impl Strategy<Value = RetryConfig> {
    (1u64..=1_000_000, 1u64..=60_000_000).prop_map(|(base_us, cap_us)| RetryConfig {
        base: Duration::from_micros(base_us),
        cap: Duration::from_micros(cap_us),
        ..RetryConfig::default()
    })
}

#[test]
fn ceiling() {
    Property::new(
        "ceiling: the backoff before retry k is drawn from [0, min(cap, base x 2^k)]: it doubles \
         with every retry, never passes the cap, and never overflows however many retries",
    )
    .cases(500)
    .replay_command("cargo test -p retries --test step1_policy ceiling")
    .book("book/src/04-retries.md#ceiling")
    .check_inputs((configs(), 0u32..=80), |(config, retry)| {
        let got = backoff_ceiling(config, *retry);
        // Exact, in u128 nanoseconds: base x 2^k for k up to 80 fits in 2^110.
        let doubled = config.base.as_nanos() << retry;
        let expected = doubled.min(config.cap.as_nanos());
        if got.as_nanos() != expected {
            return Err(format!(
                "backoff_ceiling(base {:?}, cap {:?}, retry {retry}) is {got:?}, but min(cap, \
                 base x 2^{retry}) is {:?}",
                config.base,
                config.cap,
                Duration::from_nanos(expected as u64)
            ));
        }
        Ok(())
    });
}

/// How many delays each case draws: enough that a uniform draw's mean lands within 5% of the
/// middle and each tenth of the range gets close to its 10% share, with room to spare.
const DRAWS: u32 = 2_000;

#[test]
fn jitter() {
    Property::new(
        "jitter: each backoff is drawn uniformly from [0, ceiling] (full jitter), so that \
         clients that failed together come back spread over the whole range, not together",
    )
    .cases(40)
    .replay_command("cargo test -p retries --test step1_policy jitter")
    .book("book/src/04-retries.md#jitter")
    .check_inputs((configs(), 0u32..=12, any::<u64>()), |(config, retry, seed)| {
        let ceiling = backoff_ceiling(config, *retry);
        if ceiling.is_zero() {
            return Ok(());
        }
        let mut rng = sim::SimRng::seed_from_u64(*seed);
        let mut deciles = [0u32; 10];
        let mut sum = 0f64;
        for _ in 0..DRAWS {
            let delay = backoff_delay(config, *retry, &mut rng);
            if delay > ceiling {
                return Err(format!(
                    "backoff_delay(retry {retry}) drew {delay:?}, above the ceiling {ceiling:?}"
                ));
            }
            let share = delay.as_secs_f64() / ceiling.as_secs_f64();
            sum += share;
            deciles[((share * 10.0) as usize).min(9)] += 1;
        }
        let mean = sum / f64::from(DRAWS);
        let percent = |n: u32| 100.0 * f64::from(n) / f64::from(DRAWS);
        let spread = deciles.map(percent);
        let detail = format!(
            "{DRAWS} draws of backoff_delay(retry {retry}) with a ceiling of {ceiling:?}: their \
             mean is {:.0}% of the ceiling, and the tenths of [0, ceiling] got {}",
            100.0 * mean,
            spread
                .iter()
                .map(|p| format!("{p:.0}%"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // A uniform draw has a mean of half the ceiling and puts 10% in each tenth.
        if !(0.45..=0.55).contains(&mean) || spread.iter().any(|p| *p < 6.0 || *p > 14.0) {
            return Err(format!(
                "{detail}; drawn uniformly, the mean is 50% and each tenth gets about 10%"
            ));
        }
        Ok(())
    });
}

/// Between 1 and 2000 latencies of 1 µs to 1 s, with ties, and a false-timeout rate from 0 to
/// 20%, or all the way to 1 (every attempt may time out: the answer is the smallest sample).
fn samples() -> impl Strategy<Value = (Vec<Duration>, f64)> {
    let latency = prop_oneof![
        3 => (1u64..=2_000).prop_map(|ms| Duration::from_micros(500 * ms)),
        1 => (1u64..=1_000_000).prop_map(Duration::from_micros),
    ];
    (
        sim::proptest::collection::vec(latency, 1..=2_000),
        prop_oneof![
            Just(0.0),
            Just(0.001),
            Just(0.01),
            Just(0.05),
            0.0..0.2f64,
            0.9..=1.0f64,
            Just(1.0)
        ],
    )
}

#[test]
fn timeout() {
    Property::new(
        "timeout: the timeout is the smallest measured latency that at most the allowed share \
         of healthy attempts exceed, so a healthy system times out no more often than that",
    )
    .cases(200)
    .replay_command("cargo test -p retries --test step1_policy timeout")
    .book("book/src/04-retries.md#timeout")
    .check_inputs(samples(), |(latencies, rate)| {
        let got = timeout_for(latencies, *rate);
        let n = latencies.len();
        let allowed = (rate * n as f64).floor() as usize;
        let above = |t: Duration| latencies.iter().filter(|l| **l > t).count();
        let mut sorted = latencies.clone();
        sorted.sort();
        let expected = sorted[n - 1 - allowed.min(n - 1)];
        if got != expected {
            return Err(format!(
                "timeout_for({n} latencies from {:?} to {:?}, rate {rate}) is {got:?}: {} of \
                 the {n} exceed it, and at most {allowed} may; the smallest latency that at \
                 most {allowed} exceed is {expected:?}",
                sorted[0],
                sorted[n - 1],
                above(got),
            ));
        }
        Ok(())
    });
}

/// What the budget is asked to do, in order.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A first attempt was sent.
    Earn,
    /// A retry is wanted.
    Spend,
}

#[test]
fn bucket() {
    Property::new(
        "bucket: retries are paid for by first attempts: the budget starts with the burst, \
         each first attempt adds budget_percent hundredths of a retry (up to the burst), and \
         a retry is allowed only while one whole retry is saved",
    )
    .cases(300)
    .replay_command("cargo test -p retries --test step1_policy bucket")
    .book("book/src/04-retries.md#bucket")
    .check_inputs(
        (
            1u32..=100,
            0u32..=20,
            sim::proptest::collection::vec(
                prop_oneof![Just(Step::Earn), Just(Step::Spend)],
                0..400,
            ),
        ),
        |(percent, burst, steps)| {
            let config = RetryConfig {
                budget_percent: *percent,
                budget_burst: *burst,
                ..RetryConfig::default()
            };
            let mut budget = RetryBudget::new(&config);
            // The model, in hundredths of a retry.
            let cap = u64::from(*burst) * 100;
            let mut saved = cap;
            let (mut first, mut retries) = (0u64, 0u64);
            for (k, step) in steps.iter().enumerate() {
                match step {
                    Step::Earn => {
                        budget.earn();
                        saved = (saved + u64::from(*percent)).min(cap);
                        first += 1;
                    }
                    Step::Spend => {
                        let allowed = saved >= 100;
                        let got = budget.try_spend();
                        if got != allowed {
                            return Err(format!(
                                "at step {k}, after {first} first attempts and {retries} \
                                 retries, with {} hundredths of a retry saved (budget \
                                 {percent}%, burst {burst}), try_spend() returned {got}",
                                saved
                            ));
                        }
                        if got {
                            saved -= 100;
                            retries += 1;
                        }
                    }
                }
                if budget.retries_left() != saved / 100 {
                    return Err(format!(
                        "at step {k}, after {first} first attempts and {retries} retries \
                         (budget {percent}%, burst {burst}), retries_left() is {}, but {} \
                         whole retries are saved",
                        budget.retries_left(),
                        saved / 100
                    ));
                }
            }
            Ok(())
        },
    );
}

//! Step 1: the detector's numbers (`PhiDetector::heartbeat`, `mean_ms`, `sigma_ms` and `phi`).
//! Nothing here runs a simulation: each rule of the doc comments is checked on its own, over
//! many streams of heartbeats (steady, jittery, duplicated, with long gaps), and a snapshot shows
//! the exact numbers for one stream.
//!
//! `cargo test --test step1_detector` runs just this step.

use failure_detector::PhiDetector;
use sim::Time;
use sim::check::Property;
use sim::proptest;
use sim::proptest::prelude::*;
use std::fmt::Write;
use std::time::Duration;

/// A value rounded to 3 decimals, without the `-0.000` that `-log10(1.0)` would print.
fn round3(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0 + 0.0;
    format!("{rounded:.3}")
}

/// An instant `ms` (fractional) milliseconds after the observer's clock started.
fn at_ms(ms: f64) -> Time {
    Time((ms * 1e6).round() as u64)
}

/// A duration in milliseconds, as the specification converts one.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One detector with a window of 4 and a 5 ms floor, fed an uneven stream of heartbeats: steady
/// ones (the floor decides sigma), late and early ones, a long gap that then slides out of
/// the window. After each heartbeat, phi at several delays since it.
#[test]
fn phi_values() {
    let mut detector = PhiDetector::new(4, Duration::from_millis(5));
    let arrivals = [
        0.0, 100.0, 200.0, 300.0, 412.5, 498.0, 620.25, 700.0, 1100.0, 1201.5, 1300.0, 1399.0,
        1500.75,
    ];
    let delays = [0.0, 50.0, 95.0, 105.0, 120.0, 150.0, 200.0, 400.0];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "window 4, min_std_dev 5ms; phi at each delay after the latest heartbeat"
    );
    let _ = writeln!(
        out,
        "nothing heard yet: phi at 50ms = {}",
        round3(detector.phi(at_ms(50.0)))
    );
    for arrival in arrivals {
        detector.heartbeat(at_ms(arrival));
        let _ = writeln!(
            out,
            "\nheartbeat at {arrival:.2}ms: samples {}, mean {}ms, sigma {}ms",
            detector.samples(),
            round3(detector.mean_ms()),
            round3(detector.sigma_ms())
        );
        let row: Vec<String> = delays
            .iter()
            .map(|delay| {
                let phi = detector.phi(at_ms(arrival + delay));
                format!("+{delay}ms {}", round3(phi))
            })
            .collect();
        let _ = writeln!(out, "  {}", row.join("  "));
    }
    insta::with_settings!({
        description => "rules: PhiDetector::heartbeat (samples), mean_ms, sigma_ms and phi in \
                        src/lib.rs; the first line that differs names the heartbeat and the \
                        number to look at",
    }, {
        insta::assert_snapshot!("phi_values", out);
    });
}

/// A stream of heartbeats for one detector: its window and floor, when the first heartbeat
/// arrives, and the gap before each later one (zero is a duplicate).
#[derive(Clone, Debug)]
struct Stream {
    window: usize,
    min_std_dev: Duration,
    first: Time,
    gaps: Vec<Duration>,
}

impl Stream {
    /// The arrival times, first included.
    fn arrivals(&self) -> Vec<Time> {
        let mut at = self.first;
        let mut arrivals = vec![at];
        for gap in &self.gaps {
            at += *gap;
            arrivals.push(at);
        }
        arrivals
    }

    /// The gaps the window holds after the first `k` gaps: the last `window` of them.
    fn window_after(&self, k: usize) -> &[Duration] {
        &self.gaps[k.saturating_sub(self.window)..k]
    }
}

/// Streams of up to 14 gaps: around the 100 ms a heartbeat interval would give, anywhere up to
/// 400 ms (a long silence), or zero (a duplicated heartbeat), to the microsecond.
fn streams() -> impl Strategy<Value = Stream> {
    let gap = prop_oneof![
        1 => Just(0u64),
        2 => 95_000..=105_000u64,
        2 => 0..=400_000u64,
    ]
    .prop_map(Duration::from_micros);
    (
        1usize..=6,
        1u64..=20_000,
        0u64..=5_000_000,
        proptest::collection::vec(gap, 0..=14),
    )
        .prop_map(|(window, floor_us, first_us, gaps)| Stream {
            window,
            min_std_dev: Duration::from_micros(floor_us),
            first: Time(first_us * 1_000),
            gaps,
        })
}

/// Calls every method once, so that a `todo!()` still standing fails plainly here rather than
/// through hundreds of generated streams.
fn smoke() {
    let mut detector = PhiDetector::new(2, Duration::from_millis(5));
    detector.heartbeat(Time::from_millis(1));
    detector.heartbeat(Time::from_millis(101));
    let _ = (
        detector.mean_ms(),
        detector.sigma_ms(),
        detector.phi(Time::from_millis(150)),
    );
}

/// Whether two numbers agree to about nine significant digits (or are both infinite).
fn close(got: f64, want: f64) -> bool {
    got == want || (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

fn list(gaps: &[Duration]) -> String {
    let texts: Vec<String> = gaps.iter().map(|g| format!("{:.3}", ms(*g))).collect();
    format!("[{}] ms", texts.join(", "))
}

#[test]
fn window() {
    smoke();
    Property::new(
        "window: each heartbeat after the first adds the gap since the previous one (a zero gap \
         too), the window keeps the last `window` gaps, and mean_ms is their mean",
    )
    .cases(300)
    .replay_command("cargo test -p failure-detector --test step1_detector window")
    .book("book/src/01-failure-detector.md#step1")
    .check_inputs(streams(), |stream| {
        let mut detector = PhiDetector::new(stream.window, stream.min_std_dev);
        if detector.samples() != 0 || detector.mean_ms() != 0.0 {
            return Err(format!(
                "before any heartbeat, samples() is {} and mean_ms() {}: both must be 0",
                detector.samples(),
                detector.mean_ms()
            ));
        }
        for (k, arrival) in stream.arrivals().into_iter().enumerate() {
            detector.heartbeat(arrival);
            let heartbeat = k + 1;
            if detector.last_arrival() != Some(arrival) {
                return Err(format!(
                    "after heartbeat {heartbeat}, at {arrival}, last_arrival() is {:?}: every \
                     heartbeat becomes the last arrival",
                    detector.last_arrival()
                ));
            }
            let kept = stream.window_after(k);
            if detector.samples() != kept.len() {
                let why = if k == 0 {
                    "the first heartbeat only records its arrival: there is no gap before it"
                        .to_string()
                } else if detector.samples() > stream.window {
                    format!(
                        "the window holds at most {} gaps: drop the oldest once it holds more",
                        stream.window
                    )
                } else if stream.gaps[k - 1].is_zero() {
                    "this heartbeat came 0 ms after the previous one (a duplicate), and a \
                     zero gap counts like any other"
                        .to_string()
                } else {
                    "each later heartbeat pushes one gap".to_string()
                };
                return Err(format!(
                    "after {heartbeat} heartbeats (gaps {}), with a window of {}, samples() is \
                     {}, not {}: {why}",
                    list(&stream.gaps[..k]),
                    stream.window,
                    detector.samples(),
                    kept.len()
                ));
            }
            let want = if kept.is_empty() {
                0.0
            } else {
                kept.iter().map(|g| ms(*g)).sum::<f64>() / kept.len() as f64
            };
            let got = detector.mean_ms();
            if !close(got, want) {
                return Err(format!(
                    "after {heartbeat} heartbeats the window holds {} (the last {} gaps, \
                     oldest first), whose mean is {want:.6} ms, but mean_ms() is {got:.6}: it \
                     is the mean of the gaps in the window, in milliseconds",
                    list(kept),
                    kept.len()
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn sigma() {
    smoke();
    Property::new(
        "sigma: sigma_ms is the population standard deviation of the window's gaps (divide by \
         n, not n - 1), or min_std_dev if that is larger",
    )
    .cases(300)
    .replay_command("cargo test -p failure-detector --test step1_detector sigma")
    .book("book/src/01-failure-detector.md#step1")
    .check_inputs(streams(), |stream| {
        let mut detector = PhiDetector::new(stream.window, stream.min_std_dev);
        let floor = ms(stream.min_std_dev);
        if !close(detector.sigma_ms(), floor) {
            return Err(format!(
                "before any heartbeat sigma_ms() is {}, but with an empty window it is \
                 min_std_dev, {floor} ms",
                detector.sigma_ms()
            ));
        }
        for (k, arrival) in stream.arrivals().into_iter().enumerate() {
            detector.heartbeat(arrival);
            let kept: Vec<f64> = stream.window_after(k).iter().map(|g| ms(*g)).collect();
            let n = kept.len() as f64;
            let (population, sample) = if kept.is_empty() {
                (0.0, 0.0)
            } else {
                let mean = kept.iter().sum::<f64>() / n;
                let squares: f64 = kept.iter().map(|x| (x - mean).powi(2)).sum();
                let sample = if kept.len() > 1 {
                    (squares / (n - 1.0)).sqrt()
                } else {
                    0.0
                };
                ((squares / n).sqrt(), sample)
            };
            let want = population.max(floor);
            let got = detector.sigma_ms();
            if !close(got, want) {
                let why = if close(got, sample.max(floor)) {
                    "that is the sample standard deviation (divided by n - 1); phi assumes the \
                     population one, divided by n"
                } else if close(got, population) && population < floor {
                    "that is below the floor: sigma is never less than min_std_dev"
                } else if got < floor {
                    "sigma is never less than min_std_dev"
                } else {
                    "sigma is sqrt(((x1 - m)^2 + ... + (xn - m)^2) / n) over the gaps in the \
                     window, or min_std_dev if that is larger"
                };
                return Err(format!(
                    "after {} heartbeats the window holds {} and min_std_dev is {floor:.3} ms, \
                     so sigma is {want:.6} ms, but sigma_ms() is {got:.6}: {why}",
                    k + 1,
                    list(stream.window_after(k))
                ));
            }
        }
        Ok(())
    });
}

/// The specification's phi for a silence of `elapsed` ms, given the mean and sigma.
fn specified_phi(elapsed: f64, mean: f64, sigma: f64) -> f64 {
    let y = (elapsed - mean) / sigma;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if elapsed > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

/// How many standard deviations past (or short of) the mean phi is probed at, after every
/// heartbeat: up to 12, where phi is about 61 and only the `e / (1 + e)` form still has the
/// digits.
const PROBES: [f64; 13] = [
    -4.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.0, 3.5, 5.0, 5.23, 7.0, 9.0, 12.0,
];

#[test]
fn phi() {
    smoke();
    Property::new(
        "phi: phi is 0 while the window is empty; otherwise it is the specified function of \
         y = (elapsed - mean) / sigma, with elapsed since the last arrival (0 if now is earlier), \
         in the form that keeps its digits on each side of the mean",
    )
    .cases(300)
    .replay_command("cargo test -p failure-detector --test step1_detector phi")
    .book("book/src/01-failure-detector.md#step1")
    .check_inputs(streams(), |stream| {
        let mut detector = PhiDetector::new(stream.window, stream.min_std_dev);
        let silent = detector.phi(stream.first + Duration::from_secs(3));
        if silent != 0.0 {
            return Err(format!(
                "before any heartbeat, phi is {silent}: it is 0.0 while the window is empty"
            ));
        }
        for (k, last) in stream.arrivals().into_iter().enumerate() {
            detector.heartbeat(last);
            if detector.samples() == 0 {
                for later in [
                    Duration::ZERO,
                    Duration::from_millis(150),
                    Duration::from_secs(5),
                ] {
                    let phi = detector.phi(last + later);
                    if phi != 0.0 {
                        return Err(format!(
                            "after {} heartbeat(s) the window is still empty, yet phi {:?} after \
                             the last one is {phi}: it is 0.0 while the window is empty, \
                             whatever the silence",
                            k + 1,
                            later
                        ));
                    }
                }
                continue;
            }
            let (mean, sigma) = (detector.mean_ms(), detector.sigma_ms());
            if !(sigma > 0.0 && sigma.is_finite() && mean.is_finite()) {
                // The sigma property reports this: without a usable sigma, phi is not defined.
                continue;
            }
            // Earlier than the last arrival, elapsed is zero: phi is what it is right then.
            let before = last.as_nanos().saturating_sub(7_000_000);
            let at_last = detector.phi(last);
            let early = detector.phi(Time(before));
            if early != at_last {
                return Err(format!(
                    "after heartbeat {} at {last}, phi at {} (before that arrival) is {early}, \
                     but phi at the arrival itself is {at_last}: elapsed is `now - last \
                     arrival`, which saturates at zero when now is earlier",
                    k + 1,
                    Time(before)
                ));
            }
            let mut previous = f64::NEG_INFINITY;
            for y in PROBES {
                let offset = mean + y * sigma;
                let now = if offset <= 0.0 {
                    last
                } else {
                    last + Duration::from_nanos((offset * 1e6).round() as u64)
                };
                let elapsed = ms(now - last);
                let want = specified_phi(elapsed, mean, sigma);
                let got = detector.phi(now);
                if !close(got, want) {
                    let why = if got.is_infinite() && want.is_finite() && elapsed > mean {
                        "past the mean, -log10(1 - 1 / (1 + e)) loses its digits and reaches \
                         infinity early: there, write it -log10(e / (1 + e))"
                    } else {
                        "follow the four steps of the doc comment of phi, in f64, with times \
                         in milliseconds"
                    };
                    return Err(format!(
                        "after heartbeat {} at {last}, with mean {mean:.6} ms and sigma \
                         {sigma:.6} ms (from your mean_ms and sigma_ms), phi at {now}, \
                         {elapsed:.6} ms later (y = {:.4}), is {got}, but the specification \
                         gives {want}: {why}",
                        k + 1,
                        (elapsed - mean) / sigma
                    ));
                }
                if got < previous {
                    return Err(format!(
                        "after heartbeat {} at {last}, phi falls from {previous} to {got} as the \
                         silence grows to {elapsed:.3} ms: it must only grow",
                        k + 1
                    ));
                }
                previous = got;
            }
        }
        Ok(())
    });
}

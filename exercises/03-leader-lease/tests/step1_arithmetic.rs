//! Step 1: the arithmetic of a lease (`LeaseConfig::margin`, `holder_deadline`,
//! `lease_valid`). Nothing here runs a simulation: each rule is checked on its own, over many
//! configurations, and a snapshot shows the exact numbers for a few.
//!
//! `cargo test --test step1_arithmetic` runs just this step.

use leader_lease::{Lease, LeaseConfig, holder_deadline, lease_valid};
use sim::Time;
use sim::check::Property;
use sim::proptest::prelude::*;
use std::time::Duration;

/// A configuration with a lease of up to a minute and a drift bound of up to 5%.
fn configs() -> impl Strategy<Value = LeaseConfig> {
    (1u64..=60_000_000, 0u32..=50_000).prop_map(|(lease_us, ppm)| LeaseConfig {
        lease: Duration::from_micros(lease_us),
        max_drift_ppm: ppm,
        ..LeaseConfig::default()
    })
}

#[test]
fn margin() {
    Property::new(
        "margin: the holder gives its lease up early enough that a clock running slow and one \
         running fast, each by the drift bound, cannot make its lease outlast the grantor's",
    )
    .cases(500)
    .replay_command("cargo test -p leader-lease --test step1_arithmetic margin")
    .book("book/src/03-leader-lease.md#clocks")
    .check_inputs(configs(), |config| {
        let margin = config.margin();
        let (lease, ppm) = (config.lease.as_nanos(), u128::from(config.max_drift_ppm));
        // A holder whose clock runs slow by rho counts lease - margin in (lease - margin) /
        // (1 - rho) of real time; the grantor, fast by rho, counts lease in lease / (1 + rho).
        // The first must not be longer: margin >= lease * 2 rho / (1 + rho), just under 2 rho
        // lease. The rule asks for 2 rho lease, rounded up: no less, and not a nanosecond more.
        let needed = (lease * 2 * ppm).div_ceil(1_000_000 + ppm);
        let rule = (lease * 2 * ppm).div_ceil(1_000_000);
        let got = margin.as_nanos();
        if got < needed {
            return Err(format!(
                "with a lease of {:?} and clocks within {ppm} ppm, margin() is {margin:?}, but \
                 a holder 1 - {ppm}e-6 slow and a grantor 1 + {ppm}e-6 fast need at least \
                 {needed} ns: the holder's lease would outlast the grantor's",
                config.lease
            ));
        }
        if got > rule {
            return Err(format!(
                "with a lease of {:?} and clocks within {ppm} ppm, margin() is {margin:?}, more \
                 than 2 x lease x drift = {rule} ns: a margin larger than the drift needs only \
                 throws lease time away",
                config.lease
            ));
        }
        Ok(())
    });
}

#[test]
fn deadline() {
    Property::new(
        "deadline: the holder's lease ends lease - margin after the moment it asked (on its \
         own clock), and is valid strictly before that instant, not from it on",
    )
    .cases(500)
    .replay_command("cargo test -p leader-lease --test step1_arithmetic deadline")
    .book("book/src/03-leader-lease.md#clocks")
    .check_inputs(
        (configs(), 0u64..=100_000_000_000, 0u64..=2_000_000_000),
        |(config, asked_ns, probe_ns)| {
            let asked_at = Time(*asked_ns);
            let until = holder_deadline(asked_at, config);
            let expected = asked_at + config.lease - config.margin();
            if until != expected {
                return Err(format!(
                    "holder_deadline({asked_at}) is {until}, but a lease of {:?} with a margin \
                     of {:?}, counted from the request at {asked_at}, ends at {expected}",
                    config.lease,
                    config.margin()
                ));
            }
            let lease = Lease {
                token: 1,
                valid_until: until,
            };
            // Probe around the deadline: before, at and after it.
            for now in [
                Time(until.as_nanos().saturating_sub(*probe_ns)),
                Time(until.as_nanos().saturating_sub(1)),
                until,
                until + Duration::from_nanos(*probe_ns),
            ] {
                let valid = lease_valid(now, &lease);
                if valid != (now < until) {
                    return Err(format!(
                        "lease_valid at {now} for a lease valid until {until} says {valid}: a \
                         lease is valid strictly before valid_until and not from it on"
                    ));
                }
            }
            Ok(())
        },
    );
}

/// The numbers behind the notes: the margin for a few configurations, and where a lease
/// granted in answer to a request sent at 1000 ms ends for its holder.
#[test]
fn margins_and_deadlines() {
    let mut out = String::new();
    for (lease_ms, ppm) in [(600, 10_000), (600, 0), (10_000, 200), (333, 7), (1, 1)] {
        let config = LeaseConfig {
            lease: Duration::from_millis(lease_ms),
            max_drift_ppm: ppm,
            ..LeaseConfig::default()
        };
        let deadline = holder_deadline(Time::from_millis(1_000), &config);
        out.push_str(&format!(
            "lease {lease_ms}ms, drift {ppm}ppm: margin {:?}, asked at 1000.000ms, valid until {deadline}\n",
            config.margin()
        ));
    }
    insta::with_settings!({
        description => "rules: LeaseConfig::margin (2 x lease x drift, in nanoseconds, rounded \
                        up) and holder_deadline (asked_at + lease - margin) in src/lib.rs; the \
                        page's section \"Two clocks, one promise\"",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("margins_and_deadlines", out);
    });
}

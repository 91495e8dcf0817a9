//! Step 3: the call chain under load, when the server has less room than the load needs.
//!
//! - `budget` (under slowdowns): retries never exceed what the budget allows: its burst plus `budget_percent`
//!   of the first attempts sent so far.
//! - `amplification` (under slowdowns): one user request costs the server at most `max_attempts` calls, however
//!   many tiers it passes through.
//! - `busy` (under spikes): a call that was answered `Busy` is not tried again.
//! - `queue` (under spikes): during a load spike, the server's queue stays within twice `shed_at`.
//! - `recovery` (under both): once the trigger (a slowdown of the server or a spike of load) is over, the
//!   requests that arrive after a bound derived from the configuration are served again.
//!
//! Every run: the default [`RetryConfig`], three tiers on a 1 to 5 ms network that loses up to
//! 1% of messages, a server whose every event costs 50 µs on top of the work of a call (so it
//! serves about 950 calls a second), and users sending 600 requests a second (at random, as a
//! Poisson process) for three seconds. Each case adds one trigger, at a random time: the server
//! slows down for a while (as if its disk or a dependency had), or the users send several times
//! the load for a moment. Nothing else fails: these properties are about load, not crashes.
//!
//! `cargo test --test step3_under_load` runs just this step.

mod common;

use common::{client_calls, server_calls};
use retries::{CLIENT, RetryConfig, SERVER, Tier, Work};
use sim::check::{Case, Failure, Property};
use sim::proptest::prelude::*;
use sim::{Config, EventKind, Fault, FaultPlan, Latency, NetConfig, Simulation, Time};
use std::time::Duration;

/// Fault schedules per property: enough that each classic mistake is caught at every generator
/// seed (measured with `cargo xtask mistakes retries`), and a run of this step stays within a
/// few seconds in a debug build.
const CASES: u32 = 10;
/// Users' requests a second, outside a spike.
const RATE: f64 = 600.0;
/// Every event the server handles costs this much before any work.
const PER_EVENT: Duration = Duration::from_micros(50);
/// Users stop sending at this time; the run goes on a little, so the last calls end.
const LOAD_ENDS: Time = Time::from_millis(3_000);
const RUN_ENDS: Time = Time::from_millis(3_300);

fn config() -> RetryConfig {
    RetryConfig::default()
}

/// A trigger: what happens to the system for a while.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Trigger {
    /// Every event at the server costs `per_event` more from `at` to `until`.
    Slowdown {
        at: Time,
        until: Time,
        per_event: Duration,
    },
    /// Users send `rate` requests a second from `at` to `until`.
    Spike { at: Time, until: Time, rate: f64 },
}

impl Trigger {
    fn ends(&self) -> Time {
        match self {
            Trigger::Slowdown { until, .. } | Trigger::Spike { until, .. } => *until,
        }
    }

    fn describe(&self) -> String {
        match self {
            Trigger::Slowdown {
                at,
                until,
                per_event,
            } => format!("the server slowed down by {per_event:?} an event from {at} to {until}"),
            Trigger::Spike { at, until, rate } => {
                format!("users sent {rate:.0} requests a second from {at} to {until}")
            }
        }
    }
}

/// A network 1 to 5 ms long that loses up to 1% of messages and never duplicates one (a
/// duplicate would be an extra call the client did not make), and a slowdown of the server:
/// 4 to 10 ms more an event (100 to 250 events a second instead of 20 000) for 300 to 800 ms,
/// starting between 300 ms and 1 s.
fn slowdowns() -> impl Strategy<Value = FaultPlan> {
    (network(), 300u64..=1_000, 300u64..=800, 4u64..=10).prop_map(|(net, at, long, per)| {
        FaultPlan::with_network(net).at(
            Time::from_millis(at),
            Fault::Slow {
                node: SERVER,
                per_event: Duration::from_millis(per),
                duration: Duration::from_millis(long),
            },
        )
    })
}

fn network() -> impl Strategy<Value = NetConfig> {
    (
        prop_oneof![
            Just(Latency::Constant(Duration::from_millis(1))),
            Just(Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(5),
            }),
        ],
        0.0..=0.01f64,
    )
        .prop_map(|(latency, loss)| NetConfig {
            latency,
            loss,
            ..NetConfig::default()
        })
}

/// A spike of load, from the case's seed (a fault plan has no place for load): 2000 to 4000
/// requests a second for 200 to 400 ms, starting between 300 ms and 1 s.
fn spike_of(seed: u64) -> Trigger {
    let at = Time::from_millis(300 + seed % 700);
    let long = Duration::from_millis(200 + (seed / 700) % 200);
    let rate = 2_000.0 + ((seed / 140_000) % 2_000) as f64;
    Trigger::Spike {
        at,
        until: at + long,
        rate,
    }
}

fn slowdown_of(plan: &FaultPlan) -> Trigger {
    match plan.faults.first().map(|f| &f.fault) {
        Some(Fault::Slow {
            per_event,
            duration,
            ..
        }) => {
            let at = plan.faults[0].at;
            Trigger::Slowdown {
                at,
                until: at + *duration,
                per_event: *per_event,
            }
        }
        _ => unreachable!("a slowdown plan slows the server"),
    }
}

/// Half the cases slow the server down, half spike the load (the plan's network, no slowdown).
fn triggers() -> impl Strategy<Value = FaultPlan> {
    prop_oneof![slowdowns(), network().prop_map(FaultPlan::with_network),]
}

fn trigger_of(case: &Case) -> Trigger {
    if case.plan.faults.is_empty() {
        spike_of(case.seed)
    } else {
        slowdown_of(&case.plan)
    }
}

/// Runs a case: its trigger, with `config` at every tier.
fn run(case: &Case, config: RetryConfig) -> (Simulation<Tier>, Trigger) {
    let trigger = trigger_of(case);
    let mut phases = vec![(Time::ZERO, RATE), (LOAD_ENDS, 0.0)];
    if let Trigger::Spike { at, until, rate } = trigger {
        phases.extend([(at, rate), (until, RATE)]);
    }
    let sim_config = Config::new(3, case.seed)
        .plan(case.plan.clone())
        .service_time(SERVER, PER_EVENT);
    let mut sim = Simulation::new(sim_config, move |id, _| Tier::new(id, config))
        .arrivals(phases, |_, _, _| Some((CLIENT, Work)));
    if let Err(halt) = sim.run_until(RUN_ENDS) {
        panic!("{}: {halt}", trigger.describe());
    }
    (sim, trigger)
}

/// Runs one calm second before the random cases, so that a handler that panics (a `todo!()`
/// still standing) is reported once and plainly, not through shrinking.
fn smoke() {
    let sim_config = Config::new(3, 0).service_time(SERVER, PER_EVENT);
    let mut sim = Simulation::new(sim_config, |id, _| Tier::new(id, config()))
        .arrivals(vec![(Time::ZERO, RATE)], |_, _, _| Some((CLIENT, Work)));
    if let Err(halt) = sim.run_until(Time::from_millis(1_000)) {
        panic!("a calm second of the three tiers at {RATE} requests a second failed: {halt}");
    }
}

fn failure(sim: &Simulation<Tier>, trigger: Trigger, at: Time, text: String) -> Failure {
    Failure::new(format!("{}; {text}", trigger.describe()))
        .at(at)
        .trace(sim.trace())
}

fn property(name: &str, rule: &str, test: &str) -> Property {
    smoke();
    Property::new(format!("{name}: {rule}"))
        .cases(CASES)
        .replay_command(format!(
            "cargo test -p retries --test step3_under_load {test}"
        ))
        .book(format!("book/src/04-retries.md#{name}"))
}

#[test]
fn budget() {
    let c = config();
    property(
        "budget",
        &format!(
            "at every instant, the client has sent at most {} retries plus {}% of the first \
             attempts it has sent",
            c.budget_burst, c.budget_percent
        ),
        "budget",
    )
    .check(slowdowns(), |case| {
        let (sim, trigger) = run(case, c);
        let (mut first, mut retries) = (0u64, 0u64);
        for event in &sim.trace().events {
            let EventKind::Send { from, msg, .. } = &event.kind else {
                continue;
            };
            let Some((_, attempt)) = common::call_and_attempt(msg).filter(|_| *from == CLIENT)
            else {
                continue;
            };
            if attempt == 0 {
                first += 1;
                continue;
            }
            retries += 1;
            let allowed = u64::from(c.budget_burst) + first * u64::from(c.budget_percent) / 100;
            if retries > allowed {
                return Err(failure(
                    &sim,
                    trigger,
                    event.time,
                    format!(
                        "by {}, the client had sent {retries} retries after {first} first \
                     attempts; the budget allows {} + {}% of {first} = {allowed}",
                        event.time, c.budget_burst, c.budget_percent
                    ),
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn amplification() {
    let c = config();
    property(
        "amplification",
        &format!(
            "the server receives at most max_attempts ({}) calls for one user's request, \
             however many tiers it passes through",
            c.max_attempts
        ),
        "amplification",
    )
    .check(slowdowns(), |case| {
        let (sim, trigger) = run(case, c);
        for (id, calls) in server_calls(sim.trace()) {
            if calls.len() as u32 > c.max_attempts {
                let (at, _) = calls[c.max_attempts as usize];
                let list: Vec<String> = calls
                    .iter()
                    .map(|(t, a)| format!("attempt {a} at {t}"))
                    .collect();
                return Err(failure(
                    &sim,
                    trigger,
                    at,
                    format!(
                        "the server received {} calls for call {id}: {}",
                        calls.len(),
                        list.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn busy() {
    let c = config();
    property(
        "busy",
        "once a Busy answer to a call has reached the client, it sends no other attempt of \
         that call",
        "busy",
    )
    .check(network().prop_map(FaultPlan::with_network), |case| {
        let (sim, trigger) = run(case, c);
        for (id, call) in client_calls(sim.trace()) {
            let Some(&(busy_at, attempt, _)) = call.replies.iter().find(|r| r.2) else {
                continue;
            };
            if let Some(&(sent, next)) = call.attempts.iter().find(|(t, _)| *t > busy_at) {
                return Err(failure(
                    &sim,
                    trigger,
                    sent,
                    format!(
                        "the server answered attempt {attempt} of call {id} Busy, the client got \
                     that at {busy_at}, and it sent attempt {next} at {sent}"
                    ),
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn queue() {
    let c = config();
    let bound = 2 * c.shed_at as u32;
    property(
        "queue",
        &format!(
            "during a spike of load, no more than {bound} calls (twice shed_at) wait at the \
             server"
        ),
        "queue",
    )
    .check(network().prop_map(FaultPlan::with_network), |case| {
        let (sim, trigger) = run(case, c);
        if let Some(&(at, waiting)) = sim
            .backlog_log(SERVER)
            .iter()
            .find(|(_, waiting)| *waiting > bound)
        {
            return Err(failure(
                &sim,
                trigger,
                at,
                format!("at {at}, {waiting} events waited at the server"),
            ));
        }
        Ok(())
    });
}

/// How long after a trigger ends the system must be serving again, from the configuration: the
/// server works off what queued up during the trigger (at most everything sent, first attempts
/// and what the budget allows in retries, each shed in one event's time), serves what is left
/// under `shed_at`, and calls sent in the meantime time out; twice that, for the randomness of
/// arrivals.
fn recovery_bound(c: &RetryConfig, trigger: Trigger) -> Duration {
    let (at, until, rate) = match trigger {
        Trigger::Slowdown { at, until, .. } => (at, until, RATE),
        Trigger::Spike { at, until, rate } => (at, until, rate),
    };
    let sent = rate * (until - at).as_secs_f64() * (1.0 + f64::from(c.budget_percent) / 100.0)
        + f64::from(c.budget_burst);
    let shed = PER_EVENT.mul_f64(sent);
    let served = (c.work + PER_EVENT) * c.shed_at as u32;
    c.timeout + (shed + served) * 2
}

#[test]
fn recovery() {
    let c = config();
    property(
        "recovery",
        "once a trigger is over, at least 95% of the requests that arrive after a bound derived \
         from the configuration are served (Done)",
        "recovery",
    )
    .check(triggers(), |case| {
        let (sim, trigger) = run(case, c);
        let bound = recovery_bound(&c, trigger);
        let from = trigger.ends() + bound;
        let calls = client_calls(sim.trace());
        let after: Vec<_> = calls
            .values()
            .filter(|call| call.requested >= from && call.requested < LOAD_ENDS)
            .collect();
        let done = after
            .iter()
            .filter(|call| call.outcome.as_ref().is_some_and(|(_, o)| o == "Done"))
            .count();
        if after.is_empty() || done * 100 < after.len() * 95 {
            let worst = after
                .iter()
                .find(|call| call.outcome.as_ref().is_none_or(|(_, o)| o != "Done"))
                .map_or(from, |call| call.requested);
            return Err(failure(
                &sim,
                trigger,
                worst,
                format!(
                    "of the {} requests that arrived between {from} ({bound:?} after it ended) \
                 and {LOAD_ENDS}, {done} were served ({:.0}%)",
                    after.len(),
                    100.0 * done as f64 / after.len().max(1) as f64
                ),
            ));
        }
        Ok(())
    });
}

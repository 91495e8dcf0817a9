//! The named runs of chapter retries: the book draws them (`{{#timeline retries/NAME}}`,
//! `{{#chart retries/NAME}}`), an instructor replays them (`cargo xtask scenario retries/NAME`),
//! and a learner runs them against their own crate (`cargo xtask scenario retries/NAME --mine`).
//! The exercise and the reference solution both build this one file, so a scenario runs either
//! mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use retries::{CLIENT, RetryConfig, SERVER, Tier, Work};
use sim::metrics::{Chart, Panel, Series, peak, rate};
use sim::scenario::{Param, Scenario, Setting, Shown};
use sim::{Config, EventKind, Fault, FaultPlan, NetConfig, Simulation, Time, Trace};
use std::time::Duration;

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "one-call",
            title: "the server freezes for 140 ms: the client's first two attempts time out and \
                    it retries after a random backoff each time; when the server wakes it does \
                    the same work three times, and the first answer ends the call",
            seed: 0,
            params: &[],
            run: one_call,
        },
        Scenario {
            name: "busy-is-final",
            title: "eight requests at once reach a server that sheds at two waiting calls: it \
                    serves some and answers the rest Busy at once",
            seed: 0,
            params: &[],
            run: busy_is_final,
        },
        Scenario {
            name: "metastable",
            title: "no budget, no backoff, no shedding: the server slows down for half a second, \
                    and after it is fast again retries keep it saturated and goodput stays near \
                    zero",
            seed: 0,
            params: METASTABLE_PARAMS,
            run: metastable,
        },
        Scenario {
            name: "budgeted",
            title: "the same slowdown with a retry budget, backoff with jitter and shedding: \
                    goodput dips during the slowdown and is back within a few hundred ms of its \
                    end",
            seed: 0,
            params: &[],
            run: budgeted,
        },
    ]
}

fn halted(ran: Result<(), sim::Halt>) -> Result<(), String> {
    ran.map_err(|halt| halt.to_string())
}

/// How many messages starting with `prefix` were delivered to `to`.
fn count_deliveries(trace: &Trace, to: sim::NodeId, prefix: &str) -> usize {
    trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Deliver { to: t, msg, .. } if *t == to && msg.starts_with(prefix)))
        .count()
}

// ---------------------------------------------------------------------------------------------
// one-call

fn one_call(setting: &Setting) -> Shown {
    let seed = setting.seed;
    // Attempt 2 goes out by 130 ms whatever the backoffs (50 + 10 + 50 + 20), before the
    // server wakes at 141 ms; the answer to attempt 0 is back at 144 ms, before attempt 2 can
    // time out (150 ms at the earliest). So any correct client shows three attempts and Done.
    let plan = FaultPlan::with_network(NetConfig::default()).at(
        Time::from_millis(1),
        Fault::Pause {
            node: SERVER,
            duration: Duration::from_millis(140),
        },
    );
    let mut sim = Simulation::new(Config::new(3, seed).plan(plan), |id, _| {
        Tier::new(id, RetryConfig::default())
    });
    sim.invoke(Time::ZERO, CLIENT, Work);
    let ran = halted(sim.run_until(Time::from_millis(300)));
    let served = count_deliveries(sim.trace(), SERVER, "Call");
    let answers = sim
        .history()
        .ops
        .first()
        .and_then(|op| op.response().copied());
    Shown::checking(sim.trace().clone(), move |trace| {
        ran?;
        let sent = trace
            .events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Send { from, msg, .. } if *from == CLIENT && msg.starts_with("Call")))
            .count();
        if sent != 3 || served != 3 {
            return Err(format!(
                "the client sent {sent} attempts and the server got {served}, not 3 and 3"
            ));
        }
        if answers != Some(retries::Outcome::Done) {
            return Err(format!("the user got {answers:?}, not Done"));
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// busy-is-final

fn busy_is_final(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let config = RetryConfig {
        shed_at: 2,
        ..RetryConfig::default()
    };
    let mut sim = Simulation::new(Config::new(3, seed), move |id, _| Tier::new(id, config));
    for _ in 0..8 {
        sim.invoke(Time::from_millis(10), CLIENT, Work);
    }
    let ran = halted(sim.run_until(Time::from_millis(200)));
    Shown::checking(sim.trace().clone(), |trace| {
        ran?;
        let busy = trace
            .events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Send { from, msg, .. } if *from == SERVER && msg.contains("Busy")));
        let done = trace
            .events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Send { from, msg, .. } if *from == SERVER && msg.contains("Done")));
        if !(busy && done) {
            return Err(format!(
                "the server answered Busy: {busy}, Done: {done}; both should happen"
            ));
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// metastable and budgeted: one trigger, two configurations

/// Users' requests a second (of `budgeted`, and by default of `metastable`), and the run's
/// length.
const RATE: i64 = 600;
const LOAD_ENDS: Time = Time::from_millis(3_000);
/// The trigger: every event at the server costs 8 ms more from 500 ms on, for half a second
/// (in `budgeted`, and by default in `metastable`).
const SLOW_FROM: Time = Time::from_millis(500);
const SLOW_FOR: i64 = 500;
const WINDOW: Duration = Duration::from_millis(100);

/// The knobs of `metastable`, the three parts of a metastable failure: the trigger (how long
/// the server is slow), the vulnerability (the load, next to the about 950 calls a second the
/// healthy server serves) and the sustaining effect (the retries each request may make).
const METASTABLE_PARAMS: &[Param] = &[
    Param {
        name: "slow-for",
        label: "how long the server is slow",
        unit: "ms",
        default: SLOW_FOR,
        min: 0,
        max: 1_000,
    },
    Param {
        name: "rate",
        label: "requests users send a second",
        unit: "/s",
        default: RATE,
        min: 100,
        max: 900,
    },
    Param {
        name: "attempts",
        label: "attempts per request, the first included",
        unit: "",
        default: 3,
        min: 1,
        max: 5,
    },
];

/// One run of the slowdown: the users' load, and how long the server is slow.
#[derive(Clone, Copy)]
struct Load {
    per_second: f64,
    slow_for: Duration,
}

impl Load {
    /// What `budgeted` runs, and `metastable` by default.
    fn book() -> Load {
        Load {
            per_second: RATE as f64,
            slow_for: Duration::from_millis(SLOW_FOR as u64),
        }
    }
}

/// What many systems ship: retry at once, up to three attempts, with nothing to bound the
/// retries and a server that works through whatever it is sent.
fn naive() -> RetryConfig {
    RetryConfig {
        base: Duration::ZERO,
        cap: Duration::ZERO,
        budget_percent: 100,
        budget_burst: 1_000_000,
        shed_at: usize::MAX,
        ..RetryConfig::default()
    }
}

/// Runs the slowdown of `load` with `config` and charts it; `Ok` if the last second's goodput
/// is at least (`recovers`) or at most (`!recovers`) half the offered load.
fn under_slowdown(
    seed: u64,
    config: RetryConfig,
    load: Load,
    label: &str,
    recovers: bool,
) -> Shown {
    let Load {
        per_second,
        slow_for,
    } = load;
    let mut plan = FaultPlan::with_network(NetConfig::default());
    // No slowdown at all is a run without a trigger, not a slowdown of no length.
    if !slow_for.is_zero() {
        plan = plan.at(
            SLOW_FROM,
            Fault::Slow {
                node: SERVER,
                per_event: Duration::from_millis(8),
                duration: slow_for,
            },
        );
    }
    let sim_config = Config::new(3, seed)
        .plan(plan)
        .service_time(SERVER, Duration::from_micros(50));
    let mut sim = Simulation::new(sim_config, move |id, _| Tier::new(id, config)).arrivals(
        vec![(Time::ZERO, per_second), (LOAD_ENDS, 0.0)],
        |_, _, _| Some((CLIENT, Work)),
    );
    let ran = halted(sim.run_until(LOAD_ENDS));
    let offered: Vec<Time> = sim.history().ops.iter().map(|op| op.invoked).collect();
    let goodput: Vec<Time> = sim
        .history()
        .ops
        .iter()
        .filter_map(|op| match op.outcome {
            sim::Outcome::Ok {
                at,
                response: retries::Outcome::Done,
            } => Some(at),
            _ => None,
        })
        .collect();
    let at_server: Vec<Time> = sim
        .trace()
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Deliver { to, msg, .. } if *to == SERVER && msg.starts_with("Call")))
        .map(|e| e.time)
        .collect();
    let slowed = if slow_for.is_zero() {
        "the server is never slow".to_string()
    } else {
        format!(
            "the server is slow from {SLOW_FROM} to {}",
            SLOW_FROM + slow_for
        )
    };
    let mut chart = Chart::new(format!(
        "{label}: {per_second:.0} requests a second; {slowed}"
    ))
    .panel(
        Panel::new("per second")
            .series(Series::new(
                "requests offered",
                rate(offered.iter().copied(), WINDOW, LOAD_ENDS),
            ))
            .series(Series::new(
                "requests served (goodput)",
                rate(goodput.iter().copied(), WINDOW, LOAD_ENDS),
            ))
            .series(Series::new(
                "calls reaching the server",
                rate(at_server.iter().copied(), WINDOW, LOAD_ENDS),
            )),
    )
    .panel(
        Panel::new("calls waiting at the server").series(Series::new(
            "peak queue",
            peak(sim.backlog_log(SERVER), WINDOW, LOAD_ENDS),
        )),
    );
    if !slow_for.is_zero() {
        chart = chart.span(SLOW_FROM, SLOW_FROM + slow_for, "server slowed down");
    }
    let last_second = Time::from_millis(2_000);
    let late_offered = offered.iter().filter(|t| **t >= last_second).count();
    let late_served = goodput.iter().filter(|t| **t >= last_second).count();
    Shown::checking(sim.trace().clone(), move |_| {
        ran?;
        let share = late_served as f64 / late_offered.max(1) as f64;
        // Answers to requests sent just before the last second count too, so the share may
        // pass 100%.
        let served = format!(
            "in the last second users sent {late_offered} requests and {late_served} were \
             served ({:.0}%)",
            100.0 * share
        );
        match (recovers, share >= 0.5) {
            (true, true) | (false, false) => Ok(()),
            (true, false) => Err(format!(
                "the server did not recover once it was fast again: {served}"
            )),
            (false, true) => Err(format!(
                "the server recovered once it was fast again: retries did not keep it \
                 saturated, and {served}"
            )),
        }
    })
    .with_chart(chart)
}

fn metastable(setting: &Setting) -> Shown {
    let seed = setting.seed;
    let config = RetryConfig {
        max_attempts: u32::try_from(setting.get("attempts")).unwrap_or(1),
        ..naive()
    };
    let load = Load {
        per_second: setting.get("rate") as f64,
        slow_for: setting.millis("slow-for"),
    };
    under_slowdown(
        seed,
        config,
        load,
        "no budget, no backoff, no shedding",
        false,
    )
}

fn budgeted(setting: &Setting) -> Shown {
    let seed = setting.seed;
    under_slowdown(
        seed,
        RetryConfig::default(),
        Load::book(),
        "budget, backoff with full jitter, shedding",
        true,
    )
}

//! Step 2: the three tiers, handler by handler. A timeline the specification in `src/lib.rs`
//! fully determines (served, shed, timed out), and `attempts`: how the client numbers, times
//! and ends its attempts, under faults, with the budget and attempt limit of each run.
//!
//! `cargo test --test step2_tiers` runs just this step.

mod common;

use common::{CallLog, call_and_attempt, client_calls};
use retries::{CLIENT, RELAY, RetryConfig, SERVER, Tier, Work, backoff_ceiling};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{Config, EventKind, Fault, FaultPlan, Latency, NetConfig, Simulation, Time};
use std::time::Duration;

/// Five requests: one alone (served); three at once at a server that sheds at one waiting call
/// (the first is served; the second finds the third waiting behind it and is shed; the third
/// is served); and one while the server is frozen (it times out; with one attempt allowed the
/// client gives up, and the answer that comes later is ignored).
#[test]
fn calls_timeline() {
    let config = RetryConfig {
        max_attempts: 1,
        shed_at: 1,
        ..RetryConfig::default()
    };
    let plan = FaultPlan::with_network(NetConfig::default()).at(
        Time::from_millis(30),
        Fault::Pause {
            node: SERVER,
            duration: Duration::from_millis(100),
        },
    );
    let mut sim = Simulation::new(Config::new(3, 1).plan(plan), move |id, _| {
        Tier::new(id, config)
    });
    sim.invoke(Time::ZERO, CLIENT, Work);
    for _ in 0..3 {
        sim.invoke(Time::from_millis(10), CLIENT, Work);
    }
    sim.invoke(Time::from_millis(40), CLIENT, Work);
    if let Err(halt) = sim.run_until(Time::from_millis(300)) {
        panic!("{halt}");
    }
    let mut events: Vec<&sim::Event> = sim
        .trace()
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Request { .. }
                    | EventKind::Response { .. }
                    | EventKind::Deliver { .. }
                    | EventKind::Note { .. }
                    | EventKind::Pause { .. }
                    | EventKind::Resume { .. }
            )
        })
        .collect();
    // At one instant, by node: the order in which simultaneous events on different nodes were
    // scheduled does not matter.
    events.sort_by_key(|e| (e.time, e.kind.node()));
    let out: String = events
        .iter()
        .map(|e| sim::render::text::line(e) + "\n")
        .collect();
    insta::with_settings!({
        description => "rules: the doc comments of Server::on_call, Relay and Client in \
                        src/lib.rs (what each tier sends, answers and notes, and when)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("calls_timeline", out);
    });
}

/// Each case's configuration, from its seed: between 1 and 4 attempts, and a budget that is
/// empty, small or roomy, so that every way a call can end comes up.
fn config_for(seed: u64) -> RetryConfig {
    RetryConfig {
        max_attempts: 1 + (seed % 4) as u32,
        budget_burst: [0, 2, 10][(seed / 4 % 3) as usize],
        budget_percent: [5, 10, 50][(seed / 12 % 3) as usize],
        ..RetryConfig::default()
    }
}

/// Faults at the server and the relay (pauses and slowness longer than a timeout, crashes,
/// partitions) and a lossy, jittery network, within the first two seconds.
fn fault_plans() -> impl Strategy<Value = FaultPlan> {
    plans(PlanBounds {
        targets: vec![SERVER, RELAY],
        max_fault_duration: Duration::from_millis(400),
        permanent_crashes: false,
        max_down_at_once: 2,
        clock_steps: false,
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(30),
            },
        ],
        max_loss: 0.2,
        ..PlanBounds::new(3, Duration::from_secs(2))
    })
}

/// Requests at 100 a second for two seconds; the run goes on until every call has ended.
fn run(case: &Case, config: RetryConfig) -> Simulation<Tier> {
    let sim_config = Config::new(3, case.seed)
        .plan(case.plan.clone())
        .service_time(SERVER, Duration::from_micros(50));
    Simulation::new(sim_config, move |id, _| Tier::new(id, config)).arrivals(
        vec![(Time::ZERO, 100.0), (Time::from_millis(2_000), 0.0)],
        |_, _, _| Some((CLIENT, Work)),
    )
}

/// What the budget model says the client had to do at the timeout of a call's current attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    Retry,
    GiveUp { saved: u64 },
}

fn check_call(
    id: u64,
    call: &CallLog,
    config: &RetryConfig,
    due: &[(Time, Due)],
) -> Result<(), Failure> {
    let fail = |at: Time, text: String| Err(Failure::new(format!("call {id}: {text}")).at(at));
    let Some(&(first_at, _)) = call.attempts.first() else {
        return Ok(());
    };
    for (k, (at, attempt)) in call.attempts.iter().enumerate() {
        if *attempt != k as u32 {
            return fail(
                *at,
                format!("its attempt number {k} (counting from 0) was sent as attempt {attempt}"),
            );
        }
    }
    if call.attempts.len() as u32 > config.max_attempts {
        return fail(
            call.attempts[config.max_attempts as usize].0,
            format!(
                "{} attempts were sent, and max_attempts is {}",
                call.attempts.len(),
                config.max_attempts
            ),
        );
    }
    let first_reply = call.replies.first().copied();
    for pair in call.attempts.windows(2) {
        let ((sent, k), (next, _)) = (pair[0], pair[1]);
        let earliest = sent + config.timeout;
        let latest = earliest + backoff_ceiling(config, k);
        if let Some((_, Due::GiveUp { saved })) = due.iter().find(|(at, _)| *at == earliest) {
            return fail(
                next,
                format!(
                    "attempt {} was sent, but when attempt {k} timed out at {earliest} the budget \
                 held {saved} hundredths of a retry (a retry needs 100){}",
                    k + 1,
                    if k + 1 >= config.max_attempts {
                        " and no attempt was left"
                    } else {
                        ""
                    }
                ),
            );
        }
        if next < earliest || next > latest {
            return fail(
                next,
                format!(
                    "attempt {} was sent at {next}; attempt {k} was sent at {sent}, so its timeout \
                 ended at {earliest}, and the backoff after it is at most {:?}: the next \
                 attempt belongs in [{earliest}, {latest}]",
                    k + 1,
                    backoff_ceiling(config, k)
                ),
            );
        }
        if let Some((answered, attempt, _)) = first_reply
            && answered < next
        {
            return fail(
                next,
                format!(
                    "attempt {} was sent at {next}, after the answer to attempt {attempt} reached \
                 the client at {answered}: the first answer ends the call",
                    k + 1
                ),
            );
        }
    }
    let Some((ended, outcome)) = &call.outcome else {
        return fail(first_at, "its user never got an answer".into());
    };
    // An answer counts if the client handled it before the user got the outcome: at one
    // instant a timeout may come first, and then giving up was right.
    let answered_first =
        call.first_reply_index < call.outcome_index && call.first_reply_index.is_some();
    match first_reply {
        Some((answered, _, busy)) if answered_first => {
            let expected = if busy { "Busy" } else { "Done" };
            if outcome != expected || *ended != answered {
                return fail(
                    *ended,
                    format!(
                        "the first answer ({expected}) reached the client at {answered}, and the \
                     user got {outcome} at {ended}: the first answer goes to the user, at once"
                    ),
                );
            }
        }
        _ => {
            let (last_sent, last) = *call.attempts.last().expect("a call has attempts");
            let timed_out = last_sent + config.timeout;
            if outcome != "GaveUp" || *ended != timed_out {
                return fail(
                    *ended,
                    format!(
                        "no answer reached the client, and its last attempt ({last}) timed out at \
                     {timed_out}; the user got {outcome} at {ended}: a call with no answer \
                     ends in GaveUp when its last attempt times out"
                    ),
                );
            }
            if let Some((_, Due::Retry)) = due.iter().rev().find(|(at, _)| at == ended) {
                return fail(
                    *ended,
                    format!(
                        "it gave up at {ended} after attempt {last}, with attempts left and at least \
                     one whole retry in the budget: a call gives up only when it is out of \
                     attempts or the budget is out of retries"
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Walks the client's events in order with a model of the budget, and says for each timeout of
/// a call's current, unanswered attempt whether a retry or a give-up was due.
fn budget_model(
    trace: &sim::Trace,
    config: &RetryConfig,
) -> std::collections::BTreeMap<u64, Vec<(Time, Due)>> {
    let cap = u64::from(config.budget_burst) * 100;
    let mut saved = cap;
    let mut latest: std::collections::BTreeMap<u64, (u32, bool)> = Default::default();
    let mut due: std::collections::BTreeMap<u64, Vec<(Time, Due)>> = Default::default();
    for event in &trace.events {
        match &event.kind {
            EventKind::Send { from, msg, .. } if *from == CLIENT => {
                if let Some((id, attempt)) = call_and_attempt(msg) {
                    if attempt == 0 {
                        saved = (saved + u64::from(config.budget_percent)).min(cap);
                    }
                    let answered = latest.get(&id).is_some_and(|(_, a)| *a);
                    latest.insert(id, (attempt, answered));
                }
            }
            EventKind::Deliver { to, msg, .. } if *to == CLIENT => {
                if let Some((id, _)) = call_and_attempt(msg)
                    && let Some(call) = latest.get_mut(&id)
                {
                    call.1 = true;
                }
            }
            EventKind::Timer { node, timer } if *node == CLIENT && timer.starts_with("Timeout") => {
                if let Some((id, attempt)) = call_and_attempt(timer)
                    && latest.get(&id) == Some(&(attempt, false))
                {
                    let decision = if attempt + 1 < config.max_attempts && saved >= 100 {
                        saved -= 100;
                        Due::Retry
                    } else {
                        Due::GiveUp { saved }
                    };
                    due.entry(id).or_default().push((event.time, decision));
                }
            }
            _ => {}
        }
    }
    due
}

/// Runs one calm case before the random ones, so that a handler that panics (a `todo!()` still
/// standing) is reported once and plainly, not through hundreds of shrinking attempts.
fn smoke() {
    let mut sim = run(
        &Case {
            seed: 0,
            plan: FaultPlan::default(),
        },
        RetryConfig::default(),
    );
    if let Err(halt) = sim.run_until(Time::from_millis(500)) {
        panic!("a fault-free run of the three tiers failed: {halt}");
    }
}

#[test]
fn attempts() {
    smoke();
    let property = Property::new(
        "attempts: a call's attempts are numbered from 0, at most max_attempts of them; each \
         retry goes out after the previous attempt's timeout, within its backoff ceiling; the \
         first answer ends the call and goes to the user; a call with no answer gives up when \
         its last attempt times out, and only when it is out of attempts or budget",
    )
    .cases(48)
    .replay_command("cargo test -p retries --test step2_tiers attempts")
    .book("book/src/04-retries.md#attempts");
    property.check(fault_plans(), |case| {
        let config = config_for(case.seed);
        let mut sim = run(case, config);
        if let Err(halt) = sim.run_until(Time::from_millis(4_000)) {
            return Err(Failure::from(halt).trace(sim.trace()));
        }
        let due = budget_model(sim.trace(), &config);
        for (id, call) in client_calls(sim.trace()) {
            let due = due.get(&id).map_or(&[][..], Vec::as_slice);
            check_call(id, &call, &config, due).map_err(|failure| {
                Failure::new(format!(
                    "with max_attempts {}, a budget of {}% and a burst of {}: {}",
                    config.max_attempts,
                    config.budget_percent,
                    config.budget_burst,
                    failure.message
                ))
                .at(failure.at.unwrap_or(Time::ZERO))
                .trace(sim.trace())
            })?;
        }
        Ok(())
    });
}

//! Step 3: two fronts, many payments at once, and everything a network and a machine do to
//! them: messages lost, duplicated and reordered, fronts paused for longer than the client's
//! timeout (so that a retry reaches the other front while the first is still at work), crashes
//! at every step. `once`: no payment takes effect twice; `same-answer`: every answer agrees;
//! `balances`: by the end, every account holds what its card was charged.
//!
//! `cargo test --test step3_replicas` runs just this step.

mod common;

use common::{check_answers, check_once, check_settled, run, smoke};
use idempotency::{FRONTS, NODES, PayConfig, Service};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{Fault, FaultPlan, Latency, NodeId, Side, Simulation, Time, Trigger, TriggeredFault};
use std::time::Duration;

/// A front stops (a GC pause, a VM migration) at a moment of a payment, for longer than the
/// client's timeout: as it takes the payment in, or as the store tells it the key is its own.
/// The client's retry goes to the other front while the first still means to go on.
fn stall() -> impl Strategy<Value = TriggeredFault> {
    (
        prop_oneof![
            Just(Trigger::deliver("pay", Side::Receiver)),
            Just(Trigger::send("began", Side::Receiver)),
            Just(Trigger::send("charged", Side::Receiver)),
        ],
        0..1_500u64,
        70..=400u64,
    )
        .prop_map(|(when, from, ms)| TriggeredFault {
            when,
            from: Time::from_millis(from),
            delay: Duration::ZERO,
            fault: Fault::Pause {
                node: NodeId::SUBJECT,
                duration: Duration::from_millis(ms),
            },
        })
}

/// A front crashes at a moment of a payment and restarts, soon or late.
fn crash() -> impl Strategy<Value = TriggeredFault> {
    (
        prop_oneof![
            Just(Trigger::deliver("pay", Side::Receiver)),
            Just(Trigger::send("began", Side::Receiver)),
            Just(Trigger::send("charged", Side::Receiver)),
            Just(Trigger::send("finished", Side::Receiver)),
        ],
        0..1_500u64,
        prop_oneof![1..=50u64, 300..=1_000u64],
    )
        .prop_map(|(when, from, down)| TriggeredFault {
            when,
            from: Time::from_millis(from),
            delay: Duration::ZERO,
            fault: Fault::Crash {
                node: NodeId::SUBJECT,
                restart_after: Some(Duration::from_millis(down)),
            },
        })
}

/// Random faults at the fronts and a network that loses, duplicates (up to a quarter of the
/// messages) and reorders, plus one to three stalls and up to two aimed crashes.
fn chaos() -> impl Strategy<Value = FaultPlan> {
    let random = plans(PlanBounds {
        targets: FRONTS.to_vec(),
        max_fault_duration: Duration::from_millis(300),
        permanent_crashes: false,
        max_down_at_once: 2,
        clock_steps: false,
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(15),
            },
            Latency::LogNormal {
                median: Duration::from_millis(2),
                sigma: 1.0,
            },
        ],
        max_loss: 0.1,
        max_duplicate: 0.25,
        max_reorder: 0.2,
        ..PlanBounds::new(NODES, Duration::from_millis(1_500))
    });
    let aimed = (
        sim::proptest::collection::vec(stall(), 1..=3),
        sim::proptest::collection::vec(crash(), 0..=2),
    );
    (random, aimed).prop_map(|(mut plan, (stalls, crashes))| {
        plan.triggered.extend(stalls);
        plan.triggered.extend(crashes);
        plan
    })
}

const END: Time = Time::from_millis(4_500);

fn chaos_run(case: &Case) -> Result<Simulation<Service>, Failure> {
    let mut sim = run(
        case.seed,
        &case.plan,
        PayConfig::default(),
        30.0,
        Time::from_millis(1_500),
    );
    if let Err(halt) = sim.run_until(END) {
        return Err(Failure::from(halt).trace(sim.trace()));
    }
    Ok(sim)
}

#[test]
fn once() {
    smoke();
    Property::new(
        "once: every payment takes effect once at most, at the card and in the balance, \
         whatever the retries, duplicates, reordering, pauses and crashes, and whichever front \
         each attempt reaches",
    )
    .cases(80)
    .replay_command("cargo test -p idempotency --test step3_replicas once")
    .book("book/src/05-idempotency.md#once")
    .check(chaos(), |case| {
        let sim = chaos_run(case)?;
        check_once(&sim).map_err(|f| f.trace(sim.trace()))
    });
}

#[test]
fn same_answer() {
    smoke();
    Property::new(
        "same-answer: every attempt of a payment that gets an answer gets the same one, and it \
         agrees with the ledger: Approved names the payment's one charge, Declined means no \
         charge",
    )
    .cases(60)
    .replay_command("cargo test -p idempotency --test step3_replicas same_answer")
    .book("book/src/05-idempotency.md#same-answer")
    .check(chaos(), |case| {
        let sim = chaos_run(case)?;
        check_answers(&sim).map_err(|f| f.trace(sim.trace()))
    });
}

#[test]
fn balances() {
    smoke();
    Property::new(
        "balances: by the end, with the faults over, every payment is settled: no key is left \
         Pending, every charge was credited and every credit charged, so each account holds \
         what its card paid",
    )
    .cases(60)
    .replay_command("cargo test -p idempotency --test step3_replicas balances")
    .book("book/src/05-idempotency.md#balances")
    .check(chaos(), |case| {
        let sim = chaos_run(case)?;
        check_settled(&sim, END).map_err(|f| f.trace(sim.trace()))
    });
}

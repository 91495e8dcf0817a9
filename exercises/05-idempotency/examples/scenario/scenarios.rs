//! The named runs of chapter idempotency: the book draws them (`{{#timeline
//! idempotency/NAME}}`), an instructor replays them (`cargo xtask scenario idempotency/NAME`),
//! and a learner runs them against their own crate (`cargo xtask scenario idempotency/NAME
//! --mine`). The exercise and the reference solution both build this one file, so a scenario
//! runs either mechanism unchanged.
//!
//! Each run checks that it shows what its title claims; the book's build refuses to draw a run
//! that does not, so a figure can never quietly stop illustrating its paragraph.

use idempotency::{
    Account, CLIENT, FRONT_A, Msg, NODES, Outcome, PROCESSOR, PayConfig, Payment, STORE, Service,
    Step,
};
use sim::scenario::{Scenario, Shown};
use sim::{Config, Fault, FaultPlan, NetConfig, NodeId, Side, Simulation, Time, Trigger};
use std::time::Duration;

/// Every scenario of the chapter.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "crash-after-charge",
            title: "front A crashes just after the card was charged, before the balance was \
                    credited; the client's retry reaches front B, which finds the payment in \
                    progress; A restarts, takes the payment up from its disk, and finishes it: \
                    one charge, one credit",
            seed: 0,
            run: crash_after_charge,
        },
        Scenario {
            name: "retry-elsewhere",
            title: "front A stalls for 200 ms just after it took the payment on; the client's \
                    retries reach B, then A, then B, and are told it is in progress; when A wakes \
                    it charges and finishes, and its answer ends the payment",
            seed: 0,
            run: retry_elsewhere,
        },
        Scenario {
            name: "resent-finish",
            title: "the store stalls for 40 ms with a front's finish in hand; the front resends \
                    the finish, and the store gets it twice: the second must change nothing",
            seed: 0,
            run: resent_finish,
        },
    ]
}

fn payment() -> Payment {
    Payment {
        order: 0,
        account: Account(0),
        amount: 1_200,
    }
}

/// A run of one payment under `plan`, with the triggers named after each step's message.
fn one_payment(
    seed: u64,
    plan: FaultPlan,
    until: Time,
) -> (Simulation<Service>, Result<(), String>) {
    let config = PayConfig::default();
    let mut sim = Simulation::new(Config::new(NODES, seed).plan(plan), move |id, _| {
        Service::new(id, config)
    })
    .message_predicate("began", |_, _, m| {
        matches!(
            m,
            Msg::TxnDone {
                step: Step::Begin,
                ..
            }
        )
    })
    .message_predicate("charged", |_, _, m| matches!(m, Msg::Charged { .. }))
    .message_predicate("finish", |_, _, m| {
        matches!(
            m,
            Msg::Txn {
                step: Step::Finish,
                ..
            }
        )
    });
    sim.invoke(Time::ZERO, CLIENT, payment());
    let ran = sim.run_until(until).map_err(|halt| halt.to_string());
    (sim, ran)
}

/// The ledger after a run: charges the processor made, credits the store applied, and what
/// the user got.
fn settled_once(sim: &Simulation<Service>) -> Result<(), String> {
    let charges = sim.durable(PROCESSOR).processor.charges.len();
    let credits = sim.durable(STORE).store.credits.len();
    let outcome = sim
        .history()
        .ops
        .first()
        .and_then(|op| op.response().copied());
    if charges != 1 || credits != 1 {
        return Err(format!(
            "the card was charged {charges} times and the balance credited {credits} times, not \
             once each"
        ));
    }
    if !matches!(outcome, Some(Outcome::Approved { .. })) {
        return Err(format!("the user got {outcome:?}, not Approved"));
    }
    Ok(())
}

fn in_progress_replies(trace: &sim::Trace) -> usize {
    trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, sim::EventKind::Deliver { to, msg, .. } if *to == CLIENT && msg.contains("InProgress")))
        .count()
}

// ---------------------------------------------------------------------------------------------
// crash-after-charge

fn crash_after_charge(seed: u64) -> Shown {
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("charged", Side::Receiver),
        Time::ZERO,
        Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: Some(Duration::from_millis(100)),
        },
    );
    let (sim, ran) = one_payment(seed, plan, Time::from_millis(400));
    let once = settled_once(&sim);
    Shown::checking(sim.trace().clone(), move |trace| {
        ran?;
        once?;
        if in_progress_replies(trace) == 0 {
            return Err("no retry was told the payment is in progress".into());
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// retry-elsewhere

fn retry_elsewhere(seed: u64) -> Shown {
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("began", Side::Receiver),
        Time::ZERO,
        Fault::Pause {
            node: FRONT_A,
            duration: Duration::from_millis(200),
        },
    );
    let (sim, ran) = one_payment(seed, plan, Time::from_millis(400));
    let once = settled_once(&sim);
    Shown::checking(sim.trace().clone(), move |trace| {
        ran?;
        once?;
        if in_progress_replies(trace) < 2 {
            return Err("fewer than two retries were told the payment is in progress".into());
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// resent-finish

fn resent_finish(seed: u64) -> Shown {
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("finish", Side::Receiver),
        Time::ZERO,
        Fault::Pause {
            node: NodeId::SUBJECT,
            duration: Duration::from_millis(40),
        },
    );
    let (sim, ran) = one_payment(seed, plan, Time::from_millis(300));
    let once = settled_once(&sim);
    Shown::checking(sim.trace().clone(), move |trace| {
        ran?;
        let finishes = trace
            .events
            .iter()
            .filter(|e| matches!(&e.kind, sim::EventKind::Deliver { to, msg, .. } if *to == STORE && msg.contains("step: Finish")))
            .count();
        if finishes < 2 {
            return Err(format!(
                "the store got {finishes} finishes, not two or more"
            ));
        }
        once
    })
}

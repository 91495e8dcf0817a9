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
use sim::scenario::{Param, Scenario, Setting, Shown};
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
            params: CRASH_AFTER_CHARGE_PARAMS,
            run: crash_after_charge,
        },
        Scenario {
            name: "retry-elsewhere",
            title: "front A stalls for 200 ms just after it took the payment on; the client's \
                    retries reach B, then A, then B, and are told it is in progress; when A wakes \
                    it charges and finishes, and its answer ends the payment",
            seed: 0,
            params: &[],
            run: retry_elsewhere,
        },
        Scenario {
            name: "resent-finish",
            title: "the store stalls for 40 ms with a front's finish in hand; the front resends \
                    the finish, and the store gets it twice: the second must change nothing",
            seed: 0,
            params: &[],
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

/// A run of one payment under `plan` with `config`, with the triggers named after each step's
/// message.
fn one_payment(
    setting: &Setting,
    config: PayConfig,
    plan: FaultPlan,
    until: Time,
) -> (Simulation<Service>, Result<(), String>) {
    let mut sim = Simulation::new(Config::new(NODES, setting.seed).plan(plan), move |id, _| {
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
    // Each node's state after every event, for the book's step-through, if asked for.
    if setting.states {
        sim.record_states();
    }
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
            "the card was charged {charges} time(s) and the balance credited {credits} time(s), \
             not once each"
        ));
    }
    match outcome {
        Some(Outcome::Approved { .. }) => Ok(()),
        Some(other) => Err(format!(
            "the user was told {other:?}, not Approved, though the payment went through"
        )),
        None => Err("the user got no answer".into()),
    }
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

/// The knobs of `crash-after-charge`: how long front A stays down, and when the client stops
/// retrying. However long A is down, it finishes the payment from its disk when it is back;
/// but a client that gives up first tells its user `Unknown`. The client stops before the
/// simulated user's own 1 s wait runs out, so the user always hears the client's verdict.
const CRASH_AFTER_CHARGE_PARAMS: &[Param] = &[
    Param {
        name: "down-for",
        label: "how long front A stays down",
        unit: "ms",
        default: 100,
        min: 0,
        max: 1_000,
    },
    Param {
        name: "give-up-after",
        label: "when the client stops retrying",
        unit: "ms",
        default: 600,
        min: 0,
        max: 800,
    },
];

fn crash_after_charge(setting: &Setting) -> Shown {
    let down_for = setting.millis("down-for");
    let config = PayConfig {
        give_up_after: setting.millis("give-up-after"),
        ..PayConfig::default()
    };
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("charged", Side::Receiver),
        Time::ZERO,
        Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: Some(down_for),
        },
    );
    // Long enough for A to come back and finish (300 ms after it restarts), and never shorter
    // than the book's figure.
    let until = Time::from_millis(300) + down_for.max(Duration::from_millis(100));
    let (sim, ran) = one_payment(setting, config, plan, until);
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

fn retry_elsewhere(setting: &Setting) -> Shown {
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("began", Side::Receiver),
        Time::ZERO,
        Fault::Pause {
            node: FRONT_A,
            duration: Duration::from_millis(200),
        },
    );
    let (sim, ran) = one_payment(setting, PayConfig::default(), plan, Time::from_millis(400));
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

fn resent_finish(setting: &Setting) -> Shown {
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("finish", Side::Receiver),
        Time::ZERO,
        Fault::Pause {
            node: NodeId::SUBJECT,
            duration: Duration::from_millis(40),
        },
    );
    let (sim, ran) = one_payment(setting, PayConfig::default(), plan, Time::from_millis(300));
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

//! Step 2: a payment from the user to the ledger and back. A timeline the specification in
//! `src/lib.rs` fully determines (a front crashes after the card was charged, and finishes the
//! payment when it restarts); `attempts`, the client's rules, under faults; and `crashes`: a
//! front may crash at any step of a payment, and every payment still takes effect once and is
//! settled.
//!
//! `cargo test --test step2_one_payment` runs just this step.

mod common;

use common::{
    Sent, check_answers, check_once, check_settled, client_attempts, client_replies, outcomes,
    reply_for, run, smoke, with_predicates,
};
use idempotency::{Account, CLIENT, FRONTS, NODES, Outcome, PayConfig, Payment, Service};
use sim::check::{Case, Failure, PlanBounds, Property, plans};
use sim::proptest::prelude::*;
use sim::{
    Config, EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Partition, Side, Simulation,
    Time, Trigger, TriggeredFault,
};
use std::time::Duration;

/// One payment. Front A takes it on, the processor charges the card, and A crashes as the
/// processor's answer leaves for it: the money has moved, and the balance has not. The
/// client's retry goes to front B, which finds the key Pending, owned by A, and says so. A
/// restarts, takes the payment up again from its disk, charges again (the processor gives the
/// first answer: no second charge), finishes, and answers.
#[test]
fn payment_timeline() {
    let plan = FaultPlan::with_network(NetConfig::default()).when(
        Trigger::send("charged", Side::Receiver),
        Time::ZERO,
        Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: Some(Duration::from_millis(100)),
        },
    );
    let config = PayConfig::default();
    let sim = Simulation::new(Config::new(NODES, 1).plan(plan), move |id, _| {
        Service::new(id, config)
    });
    let mut sim = with_predicates(sim);
    sim.invoke(
        Time::ZERO,
        CLIENT,
        Payment {
            order: 0,
            account: Account(0),
            amount: 1_200,
        },
    );
    if let Err(halt) = sim.run_until(Time::from_millis(400)) {
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
                    | EventKind::Crash { .. }
                    | EventKind::Start { restart: true, .. }
            )
        })
        .collect();
    events.sort_by_key(|e| (e.time, e.kind.node()));
    let out: String = events
        .iter()
        .map(|e| sim::render::text::line(e) + "\n")
        .collect();
    insta::with_settings!({
        description => "rules: the doc comments of begin, finish, after_begin, Front and \
                        Client in src/lib.rs (what each step sends, and when)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("payment_timeline", out);
    });
}

/// Faults at the fronts (crashes that restart, pauses, partitions) and a lossy, duplicating
/// network, within the first two seconds; and up to two cut-offs of the client from both
/// fronts, some longer than `give_up_after`, so that some payments are never answered.
fn attempt_plans() -> impl Strategy<Value = FaultPlan> {
    let random = plans(PlanBounds {
        targets: FRONTS.to_vec(),
        max_fault_duration: Duration::from_millis(300),
        permanent_crashes: false,
        max_down_at_once: 2,
        clock_steps: false,
        slow_nodes: false,
        latencies: vec![
            Latency::Constant(Duration::from_millis(1)),
            Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(15),
            },
        ],
        max_loss: 0.1,
        max_duplicate: 0.1,
        ..PlanBounds::new(NODES, Duration::from_secs(2))
    });
    let cut_offs = sim::proptest::collection::vec((0..1_500u64, 100..=1_000u64), 1..=2);
    (random, cut_offs).prop_map(|(mut plan, cut_offs)| {
        for (at, ms) in cut_offs {
            plan = plan.at(
                Time::from_millis(at),
                Fault::Partition {
                    partition: Partition::Split(vec![vec![CLIENT]]),
                    duration: Duration::from_millis(ms),
                },
            );
        }
        plan
    })
}

/// What the client did with one payment, checked against its rules.
fn check_payment(
    order: u64,
    sent: &[Sent],
    replies: &[(Time, String)],
    outcome: Option<(Time, Outcome)>,
    config: &PayConfig,
) -> Result<(), Failure> {
    let fail = |at: Time, text: String| Err(Failure::new(format!("order {order}: {text}")).at(at));
    let first = sent[0];
    for (k, s) in sent.iter().enumerate().skip(1) {
        if s.key != first.key {
            return fail(
                s.at,
                format!(
                    "attempt {k} was sent under Key({}), and the first under Key({}): every \
                     attempt of a payment carries the key of its first, or the service cannot \
                     tell a retry from a new payment",
                    s.key, first.key
                ),
            );
        }
        let previous = sent[k - 1];
        if s.to == previous.to {
            return fail(
                s.at,
                format!(
                    "attempt {k} went to {} like attempt {}: each retry goes to the other front, \
                     in case the first is down",
                    s.to,
                    k - 1
                ),
            );
        }
        if s.at != previous.at + config.timeout {
            return fail(
                s.at,
                format!(
                    "attempt {k} was sent at {}, attempt {} at {}: the next attempt goes out when \
                     the previous one has had the timeout ({:?}), not before nor after",
                    s.at,
                    k - 1,
                    previous.at,
                    config.timeout
                ),
            );
        }
        if s.at > first.at + config.give_up_after {
            return fail(
                s.at,
                format!(
                    "attempt {k} was sent at {}, more than give_up_after ({:?}) after the first \
                     (at {}): a key is kept for a window only, and a retry that comes after the \
                     service forgot it runs as a new payment",
                    s.at, config.give_up_after, first.at
                ),
            );
        }
    }
    let final_reply = replies
        .iter()
        .find(|(_, r)| r.starts_with("Paid") || r.starts_with("KeyReused"));
    if let Some((answered, reply)) = final_reply
        && let Some(late) = sent.iter().find(|s| s.at > *answered)
    {
        return fail(
            late.at,
            format!(
                "an attempt was sent at {} after {reply} reached the client at {answered}: \
                     the first answer ends the payment",
                late.at
            ),
        );
    }
    let Some((ended, got)) = outcome else {
        return fail(first.at, "its user never got an answer".into());
    };
    match final_reply {
        Some((answered, reply)) if *answered <= ended => {
            if *answered != ended || reply_for(&got).as_deref() != Some(reply.as_str()) {
                return fail(
                    ended,
                    format!(
                        "{reply} reached the client at {answered}, and the user got {got:?} at \
                         {ended}: the first answer goes to the user, at once"
                    ),
                );
            }
        }
        _ => {
            let last = *sent.last().expect("a payment has attempts");
            let timed_out = last.at + config.timeout;
            if got != Outcome::Unknown || ended != timed_out {
                return fail(
                    ended,
                    format!(
                        "no answer reached the client, and its last attempt (at {}) timed out at \
                         {timed_out}; the user got {got:?} at {ended}: a payment with no answer \
                         ends Unknown when the attempt timer finds no time left for another",
                        last.at
                    ),
                );
            }
            if timed_out <= first.at + config.give_up_after {
                return fail(
                    ended,
                    format!(
                        "it gave up at {ended}, when another attempt was still due (the first \
                         went out at {}, and give_up_after is {:?})",
                        first.at, config.give_up_after
                    ),
                );
            }
        }
    }
    Ok(())
}

#[test]
fn attempts() {
    smoke();
    let config = PayConfig::default();
    let property = Property::new(
        "attempts: every attempt of a payment carries its first attempt's key; each retry goes \
         to the other front, when the previous attempt has had the timeout; none goes out more \
         than give_up_after after the first; the first answer (Paid or KeyReused) ends the \
         payment and goes to the user; with no answer the user gets Unknown",
    )
    .cases(80)
    .replay_command("cargo test -p idempotency --test step2_one_payment attempts")
    .book("book/src/05-idempotency.md#attempts");
    property.check(attempt_plans(), |case: &Case| {
        let mut sim = run(
            case.seed,
            &case.plan,
            config,
            20.0,
            Time::from_millis(2_000),
        );
        if let Err(halt) = sim.run_until(Time::from_millis(4_000)) {
            return Err(Failure::from(halt).trace(sim.trace()));
        }
        let attempts = client_attempts(sim.trace());
        let replies = client_replies(sim.trace());
        let outcomes = outcomes(&sim);
        let mut keys_seen = std::collections::BTreeMap::new();
        for (order, sent) in &attempts {
            if let Some(other) = keys_seen.insert(sent[0].key, *order) {
                return Err(Failure::new(format!(
                    "orders {other} and {order} were both sent under Key({}): each payment a user \
                     asks for needs a key of its own",
                    sent[0].key
                ))
                .at(sent[0].at)
                .trace(sim.trace()));
            }
            let outcome = outcomes.get(order).and_then(|(_, o)| *o);
            let replies = replies.get(&sent[0].key).map_or(&[][..], Vec::as_slice);
            check_payment(*order, sent, replies, outcome, &config)
                .map_err(|f| f.trace(sim.trace()))?;
        }
        Ok(())
    });
}

/// The moments a front can crash in a payment, each named by the message it goes with:
/// after it took a payment in, as the store tells it the key is its own, as the processor's
/// answer leaves for it, as the store's answer to its finish leaves for it.
fn crash_moments() -> impl Strategy<Value = Trigger> {
    prop_oneof![
        Just(Trigger::deliver("pay", Side::Receiver)),
        Just(Trigger::send("began", Side::Receiver)),
        Just(Trigger::send("charged", Side::Receiver)),
        Just(Trigger::send("finished", Side::Receiver)),
    ]
}

/// Up to three crashes of a front at the moments above, each down either briefly (a restart)
/// or longer than `give_up_after` (the client gives up before it is back); a network that
/// loses and duplicates messages.
fn crash_plans() -> impl Strategy<Value = FaultPlan> {
    let crash = (
        crash_moments(),
        0..1_500u64,
        prop_oneof![1..=50u64, 700..=1_000u64],
    )
        .prop_map(|(when, from, down)| TriggeredFault {
            when,
            from: Time::from_millis(from),
            delay: Duration::ZERO,
            fault: Fault::Crash {
                node: NodeId::SUBJECT,
                restart_after: Some(Duration::from_millis(down)),
            },
        });
    let network = (
        prop_oneof![
            Just(Latency::Constant(Duration::from_millis(1))),
            Just(Latency::Uniform {
                min: Duration::from_micros(500),
                max: Duration::from_millis(10),
            }),
        ],
        0.0..0.1f64,
        0.0..0.1f64,
    );
    (sim::proptest::collection::vec(crash, 1..=3), network).prop_map(
        |(crashes, (latency, loss, duplicate))| {
            let mut plan = FaultPlan::with_network(NetConfig {
                latency,
                loss,
                duplicate,
                ..NetConfig::default()
            });
            plan.triggered = crashes;
            plan
        },
    )
}

#[test]
fn crashes() {
    smoke();
    let end = Time::from_millis(4_000);
    let property = Property::new(
        "crashes: whatever step of a payment a front crashes at, and however long it stays \
         down, every payment takes effect at most once, the answers the client gets agree with \
         the ledger, and by the end every payment is settled: nothing left Pending, every charge \
         credited",
    )
    .cases(80)
    .replay_command("cargo test -p idempotency --test step2_one_payment crashes")
    .book("book/src/05-idempotency.md#crashes");
    property.check(crash_plans(), |case: &Case| {
        let mut sim = run(
            case.seed,
            &case.plan,
            PayConfig::default(),
            8.0,
            Time::from_millis(1_500),
        );
        if let Err(halt) = sim.run_until(end) {
            return Err(Failure::from(halt).trace(sim.trace()));
        }
        check_once(&sim)
            .and_then(|()| check_answers(&sim))
            .and_then(|()| check_settled(&sim, end))
            .map_err(|f| f.trace(sim.trace()))
    });
}

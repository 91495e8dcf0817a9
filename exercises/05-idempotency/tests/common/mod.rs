//! What the tests share: how a run is built, what they read back from it (the client's
//! attempts from the trace, the charges and credits from the processor's and the store's
//! disks, the users' outcomes from the history), and the checks of the ledger that more than
//! one step makes. The trace records messages as their `Debug` text, so the `Msg` and `Timer`
//! types of `src/lib.rs` must keep their derived `Debug`.

#![allow(dead_code)]

use idempotency::{
    Account, CARD_LIMIT, CLIENT, ChargeId, Msg, NODES, Outcome, PROCESSOR, PayConfig, Payment,
    Record, STORE, Service, Step,
};
use sim::check::Failure;
use sim::rand::RngExt;
use sim::{Config, EventKind, FaultPlan, NodeId, Simulation, Time, Trace};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The number that follows `key` in `text` ("Key(" in "Pay { key: Key(7), ... }").
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Registers the message names the tests' triggered faults use: each step of a payment by the
/// message that carries it.
pub fn with_predicates(sim: Simulation<Service>) -> Simulation<Service> {
    sim.message_predicate("pay", |_, _, m| matches!(m, Msg::Pay { .. }))
        .message_predicate("began", |_, _, m| {
            matches!(
                m,
                Msg::TxnDone {
                    step: Step::Begin,
                    ..
                }
            )
        })
        .message_predicate("charge", |_, _, m| matches!(m, Msg::Charge { .. }))
        .message_predicate("charged", |_, _, m| matches!(m, Msg::Charged { .. }))
        .message_predicate("finish", |_, _, m| {
            matches!(
                m,
                Msg::Txn {
                    step: Step::Finish,
                    ..
                }
            )
        })
        .message_predicate("finished", |_, _, m| {
            matches!(
                m,
                Msg::TxnDone {
                    step: Step::Finish,
                    ..
                }
            )
        })
        .message_predicate("reply", |_, _, m| matches!(m, Msg::Reply { .. }))
}

/// A run of the service under `plan`: users' payments arrive at `rate` a second until
/// `last_arrival`, each for one of three accounts and between 1 and 80 euros (the card limit
/// is 50: some are declined).
pub fn run(
    seed: u64,
    plan: &FaultPlan,
    config: PayConfig,
    rate: f64,
    last_arrival: Time,
) -> Simulation<Service> {
    // The users wait longer than any client does: the client, not the harness, gives up.
    let sim_config = Config::new(NODES, seed)
        .plan(plan.clone())
        .client_timeout(Duration::from_secs(60));
    let sim = Simulation::new(sim_config, move |id, _| Service::new(id, config)).arrivals(
        vec![(Time::ZERO, rate), (last_arrival, 0.0)],
        |n, _, rng| {
            Some((
                CLIENT,
                Payment {
                    order: n,
                    account: Account(rng.random_range(0..3u32)),
                    amount: 100 * rng.random_range(1..=80u64),
                },
            ))
        },
    );
    with_predicates(sim)
}

/// Runs a fault-free second of payments before the random cases, so that a handler that
/// panics (a `todo!()` still standing) is reported once and plainly, not through hundreds of
/// shrinking attempts.
pub fn smoke() {
    let mut sim = run(
        0,
        &FaultPlan::default(),
        PayConfig::default(),
        20.0,
        Time::from_millis(1_000),
    );
    if let Err(halt) = sim.run_until(Time::from_millis(2_000)) {
        panic!("a fault-free run of the payment service failed: {halt}");
    }
}

/// One attempt the client sent: when, under which key, to which front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub at: Time,
    pub key: u64,
    pub to: NodeId,
}

/// The client's attempts by the order they are for, in the order it sent them.
pub fn client_attempts(trace: &Trace) -> BTreeMap<u64, Vec<Sent>> {
    let mut attempts: BTreeMap<u64, Vec<Sent>> = BTreeMap::new();
    for event in &trace.events {
        if let EventKind::Send { from, to, msg, .. } = &event.kind
            && *from == CLIENT
            && msg.starts_with("Pay")
            && let (Some(key), Some(order)) =
                (number_after(msg, "Key("), number_after(msg, "order "))
        {
            attempts.entry(order).or_default().push(Sent {
                at: event.time,
                key,
                to: *to,
            });
        }
    }
    attempts
}

/// Every reply that reached the client, by key (a message the network duplicated counted
/// once): when, and the reply's text.
pub fn client_replies(trace: &Trace) -> BTreeMap<u64, Vec<(Time, String)>> {
    let mut replies: BTreeMap<u64, Vec<(Time, String)>> = BTreeMap::new();
    let mut delivered: BTreeSet<u64> = BTreeSet::new();
    for event in &trace.events {
        if let EventKind::Deliver { to, msg, id, .. } = &event.kind
            && *to == CLIENT
            && delivered.insert(*id)
            && let Some(key) = number_after(msg, "Key(")
        {
            let reply = msg[msg.find("reply: ").map_or(0, |i| i + 7)..]
                .strip_suffix(" }")
                .unwrap_or_default()
                .to_string();
            replies.entry(key).or_default().push((event.time, reply));
        }
    }
    replies
}

/// The users' payments and what each got and when (`None`: nothing yet), by order.
pub fn outcomes(sim: &Simulation<Service>) -> BTreeMap<u64, (Payment, Option<(Time, Outcome)>)> {
    sim.history()
        .ops
        .iter()
        .map(|op| {
            let got = match &op.outcome {
                sim::Outcome::Ok { at, response } => Some((*at, *response)),
                _ => None,
            };
            (op.request.order, (op.request, got))
        })
        .collect()
}

/// The reply text that gives the user `outcome` (`None` for `Unknown`).
pub fn reply_for(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Approved { charge } => Some(format!("Paid(Approved {{ charge: {charge:?} }})")),
        Outcome::Declined => Some("Paid(Declined)".into()),
        Outcome::Refused => Some("KeyReused".into()),
        Outcome::Unknown => None,
    }
}

/// The money the run moved, by order: the processor's charges and the store's credits.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub charges: BTreeMap<u64, Vec<(ChargeId, Time)>>,
    pub credits: BTreeMap<u64, Vec<Time>>,
}

pub fn ledger(sim: &Simulation<Service>) -> Ledger {
    let mut ledger = Ledger::default();
    for (charge, _, payment, at) in &sim.durable(PROCESSOR).processor.charges {
        ledger
            .charges
            .entry(payment.order)
            .or_default()
            .push((*charge, *at));
    }
    for (_, payment, at) in &sim.durable(STORE).store.credits {
        ledger.credits.entry(payment.order).or_default().push(*at);
    }
    ledger
}

/// `once`: no order was charged more than once, nor credited more than once.
pub fn check_once(sim: &Simulation<Service>) -> Result<(), Failure> {
    let ledger = ledger(sim);
    for (order, charges) in &ledger.charges {
        if charges.len() > 1 {
            let list: Vec<String> = charges
                .iter()
                .map(|(c, at)| format!("charge {} at {at}", c.0))
                .collect();
            return Err(Failure::new(format!(
                "order {order} was charged {} times ({}): a payment the client retried took \
                 effect again at the card",
                charges.len(),
                list.join(", ")
            ))
            .at(charges[1].1));
        }
    }
    for (order, credits) in &ledger.credits {
        if credits.len() > 1 {
            let list: Vec<String> = credits.iter().map(|at| format!("{at}")).collect();
            return Err(Failure::new(format!(
                "order {order} was credited to its balance {} times (at {}): a step that moves \
                 money ran again for a payment that had already moved it",
                credits.len(),
                list.join(", ")
            ))
            .at(credits[1]));
        }
    }
    Ok(())
}

/// `settled`: at the end of a run whose faults are over, every payment is settled: no key is
/// left `Pending`, every charge was credited and every credit was charged.
pub fn check_settled(sim: &Simulation<Service>, end: Time) -> Result<(), Failure> {
    let ledger = ledger(sim);
    for (key, (record, written)) in &sim.durable(STORE).store.records {
        if let Record::Pending { payment, owner } = record {
            return Err(Failure::new(format!(
                "when the run ends ({end}) the store still holds Key({}) as Pending, owned by {owner} \
                 since {written}, for order {}: a front that took a payment on must finish it, \
                 after a crash too",
                key.0, payment.order
            ))
            .at(*written));
        }
    }
    for (order, charges) in &ledger.charges {
        if !ledger.credits.contains_key(order) {
            return Err(Failure::new(format!(
                "order {order}'s card was charged (charge {} at {}) and its balance was never \
                 credited: the money left the customer and never reached the account",
                charges[0].0.0, charges[0].1
            ))
            .at(charges[0].1));
        }
    }
    // Each account's balance is the sum of what its cards were charged.
    let mut paid: BTreeMap<Account, u64> = BTreeMap::new();
    for (_, _, payment, _) in &sim.durable(PROCESSOR).processor.charges {
        *paid.entry(payment.account).or_insert(0) += payment.amount;
    }
    let balances = &sim.durable(STORE).store.balances;
    for account in paid.keys().chain(balances.keys()) {
        let (charged, held) = (
            paid.get(account).copied().unwrap_or(0),
            balances.get(account).copied().unwrap_or(0),
        );
        if charged != held {
            return Err(Failure::new(format!(
                "when the run ends {account:?} holds {held} and its cards were charged {charged}: the \
                 balance must be what the customer paid"
            )));
        }
    }
    for (order, credits) in &ledger.credits {
        if !ledger.charges.contains_key(order) {
            return Err(Failure::new(format!(
                "order {order} was credited at {} and its card was never charged: the \
                 balance holds money nobody paid",
                credits[0]
            ))
            .at(credits[0]));
        }
    }
    Ok(())
}

/// `same-answer`: every answer the client got for a payment agrees with the ledger: an
/// approval names the one charge the processor made for it, a decline means no charge; and
/// all the answers that reached the client for one key are the same.
pub fn check_answers(sim: &Simulation<Service>) -> Result<(), Failure> {
    let ledger = ledger(sim);
    for (key, replies) in client_replies(sim.trace()) {
        let paid: Vec<&(Time, String)> = replies
            .iter()
            .filter(|(_, r)| r.starts_with("Paid"))
            .collect();
        if let Some(first) = paid.first()
            && let Some(other) = paid.iter().find(|(_, r)| *r != first.1)
        {
            return Err(Failure::new(format!(
                "two attempts under Key({key}) got different answers: {} at {}, then {} at {}: \
                 a retry must get the first answer again",
                first.1, first.0, other.1, other.0
            ))
            .at(other.0));
        }
    }
    for (order, (payment, outcome)) in outcomes(sim) {
        let charges = ledger.charges.get(&order).map_or(&[][..], Vec::as_slice);
        let declinable = payment.amount > CARD_LIMIT;
        match outcome.map(|(_, o)| o) {
            Some(Outcome::Approved { .. }) if declinable => {
                return Err(Failure::new(format!(
                    "order {order} ({payment:?}) was answered Approved, and the processor declines \
                     more than {CARD_LIMIT}"
                )));
            }
            Some(Outcome::Declined) if !declinable => {
                return Err(Failure::new(format!(
                    "order {order} ({payment:?}) was answered Declined, and the processor approves \
                     up to {CARD_LIMIT}"
                )));
            }
            Some(Outcome::Approved { charge }) if !charges.iter().any(|(c, _)| *c == charge) => {
                return Err(Failure::new(format!(
                    "order {order} was answered Approved with charge {}, which the processor \
                     never made for it (its charges: {:?})",
                    charge.0,
                    charges.iter().map(|(c, _)| c.0).collect::<Vec<_>>()
                )));
            }
            Some(Outcome::Declined) => {
                if let Some((c, at)) = charges.first() {
                    return Err(Failure::new(format!(
                        "order {order} was answered Declined, and its card was charged (charge {} \
                         at {at})",
                        c.0
                    ))
                    .at(*at));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

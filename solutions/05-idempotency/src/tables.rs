//! The table chapter 5's page shows (`{{#table idempotency/duplicates}}`), measured at build
//! time: how often, under a hostile network and faulty fronts, one payment reached the
//! service more than once, and what reached the ledger. The exercise has no such mode: only
//! the solution measures it.

use crate::{
    Account, CLIENT, FRONT_A, FRONT_B, FRONTS, Msg, NODES, PROCESSOR, PayConfig, Payment, STORE,
    Service,
};
use sim::rand::RngExt;
use sim::scenario::Table;
use sim::{
    Config, EventKind, Fault, FaultPlan, Latency, NetConfig, NodeId, Partition, Side, Simulation,
    Time, Trigger,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::Duration;

/// Every measured table of the chapter.
pub fn all() -> Vec<Table> {
    vec![Table {
        name: "duplicates",
        run: duplicates,
    }]
}

const RUNS: u64 = 10;

/// One run: 30 payments a second for 1.5 s over a network that delays (log-normal, median
/// 2 ms), loses 5%, duplicates 20% and reorders 10% of messages; front A stalls for 150 ms at
/// 300 ms, front B crashes at 700 ms for 200 ms, the client is cut off from both fronts for
/// 150 ms at 1 s, and whichever front is the first to get a charge's answer after 400 ms
/// crashes as it arrives, for 30 ms.
fn run(seed: u64) -> Result<Simulation<Service>, String> {
    let plan = FaultPlan::with_network(NetConfig {
        latency: Latency::LogNormal {
            median: Duration::from_millis(2),
            sigma: 1.0,
        },
        loss: 0.05,
        duplicate: 0.2,
        reorder: 0.1,
        ..NetConfig::default()
    })
    .at(
        Time::from_millis(300),
        Fault::Pause {
            node: FRONT_A,
            duration: Duration::from_millis(150),
        },
    )
    .at(
        Time::from_millis(700),
        Fault::Crash {
            node: FRONT_B,
            restart_after: Some(Duration::from_millis(200)),
        },
    )
    .at(
        Time::from_millis(1_000),
        Fault::Partition {
            partition: Partition::Split(vec![vec![CLIENT]]),
            duration: Duration::from_millis(150),
        },
    )
    .when(
        Trigger::send("charged", Side::Receiver),
        Time::from_millis(400),
        Fault::Crash {
            node: NodeId::SUBJECT,
            restart_after: Some(Duration::from_millis(30)),
        },
    );
    let config = PayConfig::default();
    let sim_config = Config::new(NODES, seed)
        .plan(plan)
        .client_timeout(Duration::from_secs(60));
    let mut sim = Simulation::new(sim_config, move |id, _| Service::new(id, config))
        .arrivals(
            vec![(Time::ZERO, 30.0), (Time::from_millis(1_500), 0.0)],
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
        )
        .message_predicate("charged", |_, _, m| matches!(m, Msg::Charged { .. }));
    sim.run_until(Time::from_millis(4_000))
        .map_err(|halt| halt.to_string())?;
    Ok(sim)
}

/// What one run counted.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    payments: u64,
    attempts: u64,
    retried: u64,
    both_fronts: u64,
    in_progress: u64,
    delivered_twice: u64,
    resent: u64,
    charges: u64,
    credits: u64,
    approved: u64,
    unknown: u64,
    twice: u64,
    uncredited: u64,
}

fn count(sim: &Simulation<Service>) -> Counts {
    let mut c = Counts {
        payments: sim.history().ops.len() as u64,
        ..Counts::default()
    };
    let mut fronts_of: BTreeMap<String, BTreeSet<NodeId>> = BTreeMap::new();
    let mut attempts_of: BTreeMap<String, u64> = BTreeMap::new();
    let mut steps_seen: BTreeSet<(NodeId, String)> = BTreeSet::new();
    for event in &sim.trace().events {
        match &event.kind {
            EventKind::Send { from, to, msg, .. } if *from == CLIENT => {
                let key = msg.split(',').next().unwrap_or_default().to_string();
                c.attempts += 1;
                *attempts_of.entry(key.clone()).or_default() += 1;
                fronts_of.entry(key).or_default().insert(*to);
            }
            EventKind::Send { from, to, msg, .. }
                if FRONTS.contains(from) && (*to == STORE || *to == PROCESSOR) =>
            {
                // A step is its message's kind and key; sending it again is a resend (or a
                // restart taking the payment up).
                let kind = msg.split(',').next().unwrap_or_default();
                let key = msg
                    .find("Key(")
                    .map(|i| &msg[i..i + msg[i..].find(')').unwrap_or(0)])
                    .unwrap_or_default();
                let step = format!("{kind} {key}");
                if !steps_seen.insert((*from, step)) {
                    c.resent += 1;
                }
            }
            EventKind::Deliver {
                to, msg, duplicate, ..
            } => {
                if *duplicate {
                    c.delivered_twice += 1;
                }
                if *to == CLIENT && msg.contains("InProgress") {
                    c.in_progress += 1;
                }
            }
            _ => {}
        }
    }
    c.retried = attempts_of.values().filter(|n| **n > 1).count() as u64;
    c.both_fronts = fronts_of.values().filter(|f| f.len() > 1).count() as u64;
    let charges = &sim.durable(PROCESSOR).processor.charges;
    let credits = &sim.durable(STORE).store.credits;
    c.charges = charges.len() as u64;
    c.credits = credits.len() as u64;
    let mut charged: BTreeMap<u64, u64> = BTreeMap::new();
    let mut credited: BTreeMap<u64, u64> = BTreeMap::new();
    for (_, _, payment, _) in charges {
        *charged.entry(payment.order).or_default() += 1;
    }
    for (_, payment, _) in credits {
        *credited.entry(payment.order).or_default() += 1;
    }
    c.twice = charged
        .values()
        .chain(credited.values())
        .filter(|n| **n > 1)
        .count() as u64;
    c.uncredited = charged
        .keys()
        .filter(|order| !credited.contains_key(order))
        .count() as u64;
    for op in &sim.history().ops {
        match op.response() {
            Some(crate::Outcome::Approved { .. }) => c.approved += 1,
            Some(crate::Outcome::Unknown) | None => c.unknown += 1,
            _ => {}
        }
    }
    c
}

fn duplicates() -> Result<String, String> {
    let mut total = Counts::default();
    for seed in 0..RUNS {
        let c = count(&run(seed)?);
        total.payments += c.payments;
        total.attempts += c.attempts;
        total.retried += c.retried;
        total.both_fronts += c.both_fronts;
        total.in_progress += c.in_progress;
        total.delivered_twice += c.delivered_twice;
        total.resent += c.resent;
        total.charges += c.charges;
        total.credits += c.credits;
        total.approved += c.approved;
        total.unknown += c.unknown;
        total.twice += c.twice;
        total.uncredited += c.uncredited;
    }
    if total.twice > 0 || total.uncredited > 0 || total.charges != total.credits {
        return Err(format!(
            "the reference let {} orders take effect twice and {} charged orders go uncredited \
             ({} charges, {} credits): the page's claim would be false",
            total.twice, total.uncredited, total.charges, total.credits
        ));
    }
    if total.both_fronts == 0 || total.delivered_twice == 0 || total.resent == 0 {
        return Err(format!(
            "the runs show no duplicates to speak of ({} payments at both fronts, {} messages \
             delivered twice, {} steps resent)",
            total.both_fronts, total.delivered_twice, total.resent
        ));
    }
    let mut out = String::new();
    let _ = writeln!(out, "| In {RUNS} runs | Count |");
    let _ = writeln!(out, "|---|---:|");
    let rows = [
        ("payments the users asked for", total.payments),
        ("attempts the client sent", total.attempts),
        ("payments the client retried", total.retried),
        (
            "payments whose attempts reached both fronts",
            total.both_fronts,
        ),
        ("attempts answered InProgress", total.in_progress),
        (
            "messages the network delivered twice",
            total.delivered_twice,
        ),
        ("steps a front sent again (resends, restarts)", total.resent),
        ("charges the processor made", total.charges),
        ("credits the store applied", total.credits),
        ("payments the users were told Approved", total.approved),
        ("payments the users were told Unknown", total.unknown),
        ("payments charged or credited twice", total.twice),
        ("payments charged and never credited", total.uncredited),
    ];
    for (what, n) in rows {
        let _ = writeln!(out, "| {what} | {n} |");
    }
    let _ = writeln!(
        out,
        "\nThe reference mechanism, seeds 0 to {}: 30 payments a second for 1.5 s; a network \
         that loses 5%, duplicates 20% and reorders 10% of messages; front A stalled for 150 ms, \
         front B crashed for 200 ms, the client cut off from both fronts for 150 ms, and a front \
         crashed as a charge's answer reached it. The build fails if any payment took effect \
         twice or was charged and not credited.",
        RUNS - 1
    );
    Ok(out)
}

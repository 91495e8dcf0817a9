//! Step 1: the decisions of an election, as pure functions: how a node answers a vote request
//! ([`decide_vote`]), when it grants a pre-vote ([`grant_pre_vote`]), and how it draws an
//! election timeout ([`election_timeout`]). Nothing here runs a simulation.
//!
//! `cargo test --test step1_votes` runs just this step.

use election::{Durable, ElectionConfig, decide_vote, election_timeout, grant_pre_vote};
use sim::check::Property;
use sim::proptest::prelude::*;
use sim::rand::SeedableRng;
use sim::{NodeId, SimRng, Time};
use std::collections::BTreeSet;
use std::time::Duration;

fn disks() -> impl Strategy<Value = Durable> {
    (0u64..4, prop::option::of(0u32..3)).prop_map(|(term, voted)| Durable {
        term,
        voted_for: voted.map(NodeId),
    })
}

#[test]
fn votes() {
    Property::new(
        "vote: a request of a later term moves the node to it and gets its vote; one of an \
         earlier term changes nothing and is refused; in its own term a node votes for the first \
         candidate that asks and only for that one",
    )
    .cases(400)
    .replay_command("cargo test -p election --test step1_votes votes")
    .book("book/src/07-election.md#vote")
    .check_inputs((disks(), 0u32..3, 0u64..5), |(disk, candidate, term)| {
        let candidate = NodeId(*candidate);
        let (after, granted) = decide_vote(*disk, candidate, *term);
        let said = format!(
            "on a disk of term {} that voted for {:?}, a request from {candidate} for term \
                 {term} left term {} voted for {:?}, granted: {granted}",
            disk.term, disk.voted_for, after.term, after.voted_for
        );
        if *term > disk.term {
            if after.term != *term || !granted || after.voted_for != Some(candidate) {
                return Err(format!(
                    "{said}: a later term is news; the node moves to it, where it has not \
                         voted yet, and votes for the one who asked"
                ));
            }
        } else if *term < disk.term {
            if after != *disk || granted {
                return Err(format!(
                    "{said}: a request of an earlier term is stale; it changes nothing and \
                         gets no vote"
                ));
            }
        } else {
            let may = disk.voted_for.is_none_or(|v| v == candidate);
            let expected = Durable {
                term: disk.term,
                voted_for: if may { Some(candidate) } else { disk.voted_for },
            };
            if granted != may || after != expected {
                return Err(format!(
                    "{said}: in its own term a node votes once, for the first candidate that \
                         asks (and again for the same one), never for another"
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn pre_votes() {
    let config = ElectionConfig::default();
    let min = config.election_timeout_min.as_millis() as u64;
    Property::new(
        "pre-vote: a node grants a pre-vote only for a term later than its own, and only if it \
         has not heard from a leader for at least election_timeout_min",
    )
    .cases(400)
    .replay_command("cargo test -p election --test step1_votes pre_votes")
    .book("book/src/07-election.md#pre-vote")
    .check_inputs(
        (
            0u64..4,
            prop::option::of(prop_oneof![0..=2 * min, Just(min), Just(min - 1)]),
            0u64..5,
        ),
        |(term_now, ago, term)| {
            let now = Time::from_millis(10_000);
            let heard = ago.map(|ms| now - Duration::from_millis(ms));
            let granted = grant_pre_vote(*term_now, heard, now, &config, *term);
            let hears_leader = ago.is_some_and(|ms| ms < min);
            let expected = *term > *term_now && !hears_leader;
            if granted != expected {
                let last = match ago {
                    Some(ms) => format!("last heard from a leader {ms} ms ago"),
                    None => "never heard from a leader".into(),
                };
                return Err(format!(
                    "a node of term {term_now} that {last} answered a pre-vote for term {term} \
                     with granted: {granted}; the rules say {expected} (it would vote only in a \
                     later term, and not while it heard a leader less than {min} ms ago)"
                ));
            }
            Ok(())
        },
    );
}

#[test]
fn timeouts() {
    Property::new(
        "timeouts: every election timeout is drawn between election_timeout_min and \
         election_timeout_max, and a node's draws differ, so that two nodes do not time out \
         together round after round",
    )
    .cases(60)
    .replay_command("cargo test -p election --test step1_votes timeouts")
    .book("book/src/07-election.md#timeouts")
    .check_inputs(
        (any::<u64>(), 10u64..200, 1u64..300),
        |(seed, min, spread)| {
            let config = ElectionConfig {
                election_timeout_min: Duration::from_millis(*min),
                election_timeout_max: Duration::from_millis(min + spread),
                ..ElectionConfig::default()
            };
            let mut rng = SimRng::seed_from_u64(*seed);
            let draws: Vec<Duration> = (0..200)
                .map(|_| election_timeout(&config, &mut rng))
                .collect();
            if let Some(d) = draws
                .iter()
                .find(|d| **d < config.election_timeout_min || **d > config.election_timeout_max)
            {
                return Err(format!(
                    "drew {d:?}, outside [{:?}, {:?}]",
                    config.election_timeout_min, config.election_timeout_max
                ));
            }
            let distinct: BTreeSet<&Duration> = draws.iter().collect();
            if distinct.len() < 150 {
                return Err(format!(
                    "200 draws between {:?} and {:?} gave only {} different timeouts: nodes that \
                     draw alike time out together, split the vote, and do it again",
                    config.election_timeout_min,
                    config.election_timeout_max,
                    distinct.len()
                ));
            }
            let mean = draws.iter().sum::<Duration>() / 200;
            let middle = (config.election_timeout_min + config.election_timeout_max) / 2;
            let slack = (config.election_timeout_max - config.election_timeout_min) / 5;
            if mean + slack < middle || mean > middle + slack {
                return Err(format!(
                    "200 draws between {:?} and {:?} averaged {mean:?}: draw uniformly over the \
                     whole range",
                    config.election_timeout_min, config.election_timeout_max
                ));
            }
            Ok(())
        },
    );
}

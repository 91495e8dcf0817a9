//! Step 1: the coordinator's two decisions (`next_version`, `decide_read`) and the size of a
//! quorum (`QuorumConfig::majority`), each rule checked over many random inputs, and the exact
//! answers for a fixed table of replies in two snapshots.
//!
//! If a snapshot fails, the diff shows the first line that differs: compare it with the doc
//! comment of the function that computes it. `cargo test --test step1_decisions` runs just this
//! step.

use quorum::{QuorumConfig, Stored, Version, decide_read, next_version};
use sim::NodeId;
use sim::check::Property;
use sim::proptest::prelude::*;
use std::fmt::Write;
use std::time::Duration;

fn v(counter: u64, node: u32) -> Version {
    Version {
        counter,
        node: NodeId(node),
    }
}

fn s(counter: u64, node: u32, value: i64) -> Stored {
    Stored {
        version: v(counter, node),
        value: Some(value),
    }
}

fn replies_text(replies: &[(NodeId, Stored)]) -> String {
    let parts: Vec<String> = replies
        .iter()
        .map(|(n, st)| match st.value {
            Some(value) => format!("{n}={value}@{:?}", st.version),
            None => format!("{n}=nil@{:?}", st.version),
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

/// The replies a read quorum could send, and what the coordinator must decide from each.
fn reply_table() -> Vec<(&'static str, Vec<(NodeId, Stored)>)> {
    let n = NodeId;
    vec![
        ("no replies", vec![]),
        (
            "nothing written yet",
            vec![(n(0), Stored::INITIAL), (n(1), Stored::INITIAL)],
        ),
        ("all agree", vec![(n(0), s(2, 1, 20)), (n(2), s(2, 1, 20))]),
        ("one behind", vec![(n(1), s(1, 0, 10)), (n(2), s(2, 1, 20))]),
        (
            "one never written",
            vec![(n(2), Stored::INITIAL), (n(0), s(1, 0, 10))],
        ),
        (
            "same counter, higher node wins",
            vec![(n(0), s(3, 2, 32)), (n(1), s(3, 0, 30))],
        ),
        (
            "counter beats node id",
            vec![(n(1), s(4, 0, 40)), (n(2), s(3, 2, 32))],
        ),
        (
            "five replicas, unsorted",
            vec![
                (n(4), s(1, 0, 10)),
                (n(1), s(5, 3, 53)),
                (n(3), Stored::INITIAL),
                (n(0), s(5, 3, 53)),
                (n(2), s(5, 1, 51)),
            ],
        ),
        ("a single reply", vec![(n(2), s(7, 1, 71))]),
    ]
}

/// `decide_read` on a fixed table of quorum replies: the value returned, its version, and the
/// replicas that get the write-back.
#[test]
fn read_decisions() {
    let mut out = String::new();
    for (name, replies) in reply_table() {
        let d = decide_read(&replies);
        let value = d.value.map_or("nil".to_string(), |x| x.to_string());
        let _ = writeln!(out, "{name}: {}", replies_text(&replies));
        let _ = writeln!(
            out,
            "  -> return {value} ({:?}), write back to {:?}",
            d.version, d.write_back_to
        );
    }
    insta::with_settings!({
        description => "rules: decide_read in src/lib.rs (the newest reply's value and version; \
                        write back to the replicas behind it, sorted by id)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("read_decisions", out);
    });
}

/// `next_version` for the same replies, by different coordinators and with different
/// `last_issued` counters.
#[test]
fn next_versions() {
    let mut out = String::new();
    for (name, replies) in reply_table() {
        let _ = writeln!(out, "{name}: {}", replies_text(&replies));
        for (last_issued, me) in [(0, 0), (0, 2), (4, 1), (9, 1)] {
            let next = next_version(&replies, last_issued, NodeId(me));
            let _ = writeln!(out, "  n{me}, last issued {last_issued} -> {next:?}");
        }
    }
    insta::with_settings!({
        description => "rules: next_version in src/lib.rs (one more than the highest counter \
                        seen or issued, with this coordinator's id)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("next_versions", out);
    });
}

/// Replies from distinct replicas (up to seven), in any order; a reply's value follows from its
/// version, as it does in a run (one write made every copy of a version).
fn replies() -> impl Strategy<Value = Vec<(NodeId, Stored)>> {
    sim::proptest::collection::btree_map(0u32..7, (0u64..6, 0u32..7), 0..=7).prop_flat_map(
        |chosen| {
            let replies: Vec<(NodeId, Stored)> = chosen
                .into_iter()
                .map(|(replica, (counter, node))| {
                    let version = Version {
                        counter,
                        node: NodeId(node),
                    };
                    let stored = if counter == 0 {
                        Stored::INITIAL
                    } else {
                        Stored {
                            version,
                            value: Some(i64::from(node) * 100 + counter as i64),
                        }
                    };
                    (NodeId(replica), stored)
                })
                .collect();
            Just(replies).prop_shuffle()
        },
    )
}

#[test]
fn versions() {
    Property::new(
        "versions: a write's version is higher than every version its query saw and than any \
         counter its coordinator issued before, carries the coordinator's id, and is the \
         smallest such version",
    )
    .cases(400)
    .replay_command("cargo test -p quorum --test step1_decisions versions")
    .book("book/src/02-quorum.md#versions")
    .check_inputs(
        (replies(), 0u64..8, 0u32..7),
        |(replies, last_issued, me)| {
            let me = NodeId(*me);
            let got = next_version(replies, *last_issued, me);
            let context = format!(
                "next_version({}, last_issued {last_issued}, {me}) is {got:?}",
                replies_text(replies)
            );
            if got.node != me {
                return Err(format!(
                    "{context}: a version carries its coordinator's id, {me}"
                ));
            }
            if let Some((n, s)) = replies.iter().find(|(_, s)| s.version >= got) {
                return Err(format!(
                    "{context}, but {n} replied with {:?}: a write must win against every \
                     version its query saw",
                    s.version
                ));
            }
            if got.counter <= *last_issued {
                return Err(format!(
                    "{context}, but {me} has issued counter {last_issued} before: two writes \
                     of one coordinator must never share a version"
                ));
            }
            let seen = replies.iter().map(|(_, s)| s.version.counter).max();
            let smallest = seen.unwrap_or(0).max(*last_issued) + 1;
            if got.counter != smallest {
                return Err(format!(
                    "{context}: the counter must be one more than the highest seen or issued, \
                     {smallest}, not more (versions are not a clock)"
                ));
            }
            Ok(())
        },
    );
}

#[test]
fn read_decision() {
    Property::new(
        "read-decision: a read returns the value of the newest version among its replies (nil \
         with none) and writes it back to exactly the replicas that replied with an older one, \
         in increasing id order",
    )
    .cases(400)
    .replay_command("cargo test -p quorum --test step1_decisions read_decision")
    .book("book/src/02-quorum.md#write-back")
    .check_inputs(replies(), |replies| {
        let decision = decide_read(replies);
        let context = format!("decide_read({}) is {decision:?}", replies_text(replies));
        let newest = replies
            .iter()
            .map(|(_, s)| *s)
            .max_by_key(|s| s.version)
            .unwrap_or(Stored::INITIAL);
        if (decision.version, decision.value) != (newest.version, newest.value) {
            return Err(format!(
                "{context}, but the newest reply holds {:?} at {:?}: a read returns the value \
                 with the highest version",
                newest.value, newest.version
            ));
        }
        let mut behind: Vec<NodeId> = replies
            .iter()
            .filter(|(_, s)| s.version < newest.version)
            .map(|(n, _)| *n)
            .collect();
        behind.sort();
        if decision.write_back_to != behind {
            return Err(format!(
                "{context}: it must write back to {behind:?}, the replicas whose reply is older \
                 than {:?}, sorted, and to nobody already up to date",
                newest.version
            ));
        }
        Ok(())
    });
}

#[test]
fn majority() {
    Property::new(
        "majority: QuorumConfig::majority(n) makes every read quorum meet every write quorum \
         (r + w > n) with the smallest quorum that does (a majority), a 250 ms deadline and a \
         retry every 20 ms",
    )
    .cases(200)
    .replay_command("cargo test -p quorum --test step1_decisions majority")
    .book("book/src/02-quorum.md#intersection")
    .check_inputs(1usize..=60, |n| {
        let n = *n;
        let config = QuorumConfig::majority(n);
        let context = format!("majority({n}) gives r = {}, w = {}", config.r, config.w);
        if config.r + config.w <= n {
            return Err(format!(
                "{context}: r + w = {} is not more than {n}, so a read quorum can miss every \
                 replica of a completed write",
                config.r + config.w
            ));
        }
        let smallest = n / 2 + 1;
        if config.r != smallest || config.w != smallest {
            return Err(format!(
                "{context}: a majority of {n} is {smallest}, the fewest replicas that are more \
                 than half (more would stop the register while a minority is down)"
            ));
        }
        let narrow = QuorumConfig {
            r: 1,
            w: n.saturating_sub(1).max(1),
            ..config
        };
        if !config.intersects(n) || narrow.intersects(n) && n > 1 {
            return Err(format!(
                "{context}: intersects({n}) must say whether r + w > {n}: it says {} for r = {}, \
                 w = {} and {} for r = 1, w = {}",
                config.intersects(n),
                config.r,
                config.w,
                narrow.intersects(n),
                narrow.w
            ));
        }
        if config.deadline != Duration::from_millis(250)
            || config.retry_every != Duration::from_millis(20)
        {
            return Err(format!(
                "{context}, a deadline of {:?} and a retry every {:?}: the tests' time bounds \
                 assume 250ms and 20ms",
                config.deadline, config.retry_every
            ));
        }
        Ok(())
    });
}

//! Step 2: the grantor's decision (`Grantor::decide`) and the storage's check
//! (`Resource::accept`), each checked rule by rule over many random sequences of requests, and
//! shown on one fixed sequence in a snapshot.
//!
//! `cargo test --test step2_decisions` runs just this step.

use leader_lease::{Decision, Entry, Granted, Grantor, Resource};
use sim::check::Property;
use sim::proptest::prelude::*;
use sim::{NodeId, Time};
use std::fmt::Write;
use std::time::Duration;

const LEASE: Duration = Duration::from_millis(600);

/// When the next request arrives: after a gap, or exactly at one of the two instants where a
/// decision flips (the end of the quiet period, the expiry of the current lease), since that
/// is where `<` and `<=` differ.
#[derive(Clone, Copy, Debug)]
enum Arrival {
    AfterMicros(u64),
    AtQuietEnd,
    AtExpiry,
}

/// A grantor quiet until some instant, a counter that starts anywhere, and requests from
/// `n2`..`n4` arriving after gaps of up to 0.7 s (so leases expire now and then), or right at
/// a boundary.
fn request_sequences() -> impl Strategy<Value = (u64, u64, Vec<(Arrival, u32)>)> {
    let arrival = prop_oneof![
        6 => (0u64..=700_000).prop_map(Arrival::AfterMicros),
        1 => Just(Arrival::AtQuietEnd),
        1 => Just(Arrival::AtExpiry),
    ];
    (
        0u64..=1_000,
        0u64..=5,
        sim::proptest::collection::vec((arrival, 2u32..=4), 1..40),
    )
}

#[test]
fn decisions() {
    Property::new(
        "decisions: the grantor is quiet before quiet_until; while a lease runs it renews it \
         for its holder (same token, expiry now + lease) and refuses everyone else; once it has \
         expired, it grants a new lease with the next token",
    )
    .cases(300)
    .replay_command("cargo test -p leader-lease --test step2_decisions decisions")
    .book("book/src/03-leader-lease.md#leases")
    .check_inputs(request_sequences(), |(quiet_ms, first_token, requests)| {
        let quiet_until = Time::from_millis(*quiet_ms);
        let mut grantor = Grantor::new(quiet_until);
        let mut counter = *first_token;
        // What the rules say the grantor holds.
        let mut current: Option<Granted> = None;
        let mut now = Time::ZERO;
        for (arrival, from) in requests {
            // Time never goes back: a boundary already passed is simply now.
            now = now.max(match arrival {
                Arrival::AfterMicros(gap) => now + Duration::from_micros(*gap),
                Arrival::AtQuietEnd => quiet_until,
                Arrival::AtExpiry => current.map_or(now, |l| l.expires),
            });
            let from = NodeId(*from);
            let before = counter;
            let held = current;
            let decision = grantor.decide(now, from, LEASE, &mut counter);
            let expected = if now < quiet_until {
                Decision::Quiet
            } else {
                match current.as_mut() {
                    Some(lease) if now < lease.expires && lease.holder == from => {
                        lease.expires = now + LEASE;
                        Decision::Renewed {
                            token: lease.token,
                            expires: lease.expires,
                        }
                    }
                    Some(lease) if now < lease.expires => Decision::Refused {
                        holder: lease.holder,
                        token: lease.token,
                    },
                    _ => {
                        let lease = Granted {
                            holder: from,
                            token: before + 1,
                            expires: now + LEASE,
                        };
                        current = Some(lease);
                        Decision::Granted {
                            token: lease.token,
                            expires: lease.expires,
                        }
                    }
                }
            };
            let counter_after = match expected {
                Decision::Granted { token, .. } => token,
                _ => before,
            };
            let held = match held {
                Some(l) => format!("{} holds token {} until {}", l.holder, l.token, l.expires),
                None => "none yet".to_string(),
            };
            let context = format!(
                "at {now}, {from} asks (quiet until {quiet_until}; the lease given out last: \
                 {held}; the counter: {before})"
            );
            if decision != expected {
                return Err(format!(
                    "{context}: decide answered {decision:?}, but the rules say {expected:?}"
                ));
            }
            if counter != counter_after {
                return Err(format!(
                    "{context}: after {decision:?} the counter is {counter}, but it must be \
                     {counter_after} (only a new lease takes a token, and it takes the next one)"
                ));
            }
            if grantor.current() != current.as_ref() {
                return Err(format!(
                    "{context}: after {decision:?}, current() is {:?}, but the lease given out \
                     last is {current:?}",
                    grantor.current()
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn token_check() {
    Property::new(
        "token-check: the storage accepts a write whose token is at least the highest it has \
         accepted (then remembers it and appends the entry), and rejects a lower one, changing \
         nothing",
    )
    .cases(300)
    .replay_command("cargo test -p leader-lease --test step2_decisions token_check")
    .book("book/src/03-leader-lease.md#fencing-tokens")
    .check_inputs(
        sim::proptest::collection::vec((2u32..=4, 0u64..=6), 1..30),
        |writes| {
            let mut resource = Resource::default();
            let (mut highest, mut entries) = (0u64, Vec::new());
            for (from, token) in writes {
                let (from, token) = (NodeId(*from), *token);
                let accepted = resource.accept(from, token);
                let seen = highest;
                let should = token >= seen;
                if should {
                    highest = token;
                    entries.push(Entry { from, token });
                }
                if accepted != should {
                    let (verdict, why) = if token == seen {
                        (
                            "accepted",
                            "a token equal to the highest is the same leader writing again",
                        )
                    } else if should {
                        ("accepted", "a higher token is a newer lease")
                    } else {
                        (
                            "rejected",
                            "a lower token is a lease older than one the storage has already \
                             obeyed",
                        )
                    };
                    return Err(format!(
                        "a write from {from} with token {token}, when the highest accepted so \
                         far was {seen}: accept returned {accepted}, but it must be {verdict} \
                         ({why})"
                    ));
                }
                if resource.highest() != highest || resource.entries() != entries.as_slice() {
                    return Err(format!(
                        "after a write from {from} with token {token} ({}), highest() is {} and \
                         entries() {:?}, but they must be {highest} and {entries:?}",
                        if accepted { "accepted" } else { "rejected" },
                        resource.highest(),
                        resource.entries()
                    ));
                }
            }
            Ok(())
        },
    );
}

/// One fixed sequence of requests and writes, with what the grantor and the storage answer.
#[test]
fn decisions_table() {
    let mut out = String::new();
    let mut grantor = Grantor::new(Time::from_millis(600));
    let mut counter = 0;
    let _ = writeln!(out, "grantor quiet until 600.000ms, lease 600ms, counter 0");
    for (ms, from) in [
        (100, 2),
        (601, 2),
        (610, 3),
        (700, 2),
        (1_250, 3),
        (1_300, 3),
        (1_950, 2),
        (1_960, 3),
        (2_100, 4),
    ] {
        let now = Time::from_millis(ms);
        let decision = grantor.decide(now, NodeId(from), LEASE, &mut counter);
        let _ = writeln!(
            out,
            "{now:>12}  n{from} asks: {decision:?}, counter {counter}"
        );
    }
    let mut resource = Resource::default();
    let _ = writeln!(out, "\nstorage");
    for (from, token) in [(2, 1), (2, 1), (3, 2), (2, 1), (3, 2), (2, 3), (3, 2)] {
        let accepted = resource.accept(NodeId(from), token);
        let _ = writeln!(
            out,
            "  write from n{from} with token {token}: {}, highest {}",
            if accepted { "accepted" } else { "rejected" },
            resource.highest()
        );
    }
    insta::with_settings!({
        description => "rules: Grantor::decide (quiet, renew, refuse, grant with the next \
                        token) and Resource::accept (reject a token below the highest) in \
                        src/lib.rs",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("decisions_table", out);
    });
}

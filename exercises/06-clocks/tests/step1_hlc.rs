//! Step 1: the hybrid logical clock on its own ([`Hlc::now`], [`Hlc::observe`]), fed wall-clock
//! readings that stand still, go back and jump ahead, and messages stamped by clocks ahead of
//! and behind it. Nothing here runs a simulation: each property replays a sequence of events
//! on a fresh clock and checks every stamp it returns.
//!
//! `cargo test --test step1_hlc` runs just this step.

use clocks::{Hlc, Stamp};
use sim::WallTime;
use sim::check::Property;
use sim::proptest::prelude::*;

/// One event the clock stamps: a local one at a wall-clock reading, or the receipt of a
/// message stamped `remote`.
#[derive(Clone, Copy, Debug)]
enum Event {
    Local { physical: WallTime },
    Receipt { remote: Stamp, physical: WallTime },
}

/// Readings from a few milliseconds, so that ties between the clock, the message and the
/// reading are common, some before the epoch.
fn readings() -> impl Strategy<Value = WallTime> {
    prop_oneof![
        (-2i64..6).prop_map(|ms| WallTime(ms * 1_000_000)),
        (-2_000_000i64..6_000_000).prop_map(WallTime),
    ]
}

fn remotes() -> impl Strategy<Value = Stamp> {
    (readings(), 0u32..4).prop_map(|(wall, logical)| Stamp { wall, logical })
}

fn events() -> impl Strategy<Value = Vec<Event>> {
    let event = prop_oneof![
        readings().prop_map(|physical| Event::Local { physical }),
        (remotes(), readings()).prop_map(|(remote, physical)| Event::Receipt { remote, physical }),
    ];
    sim::proptest::collection::vec(event, 1..24)
}

/// Replays `events` on a fresh clock; `check` sees each event, the clock's stamp before it
/// and the stamp it returned.
fn replay(
    events: &[Event],
    mut check: impl FnMut(usize, &Event, Stamp, Stamp) -> Result<(), String>,
) -> Result<(), String> {
    let mut clock = Hlc::new();
    for (i, event) in events.iter().enumerate() {
        let before = clock.latest();
        let stamp = match *event {
            Event::Local { physical } => clock.now(physical),
            Event::Receipt { remote, physical } => clock.observe(remote, physical),
        };
        if clock.latest() != stamp {
            return Err(format!(
                "event {i} ({event:?}) returned {stamp}, and latest() then said {}: latest() \
                 is the last stamp the clock issued",
                clock.latest()
            ));
        }
        check(i, event, before, stamp)?;
    }
    Ok(())
}

fn describe(before: Stamp) -> String {
    if before == Stamp::MIN {
        "a fresh clock".into()
    } else {
        format!("a clock whose last stamp was {before}")
    }
}

#[test]
fn stamps_are_later() {
    Property::new(
        "later: every stamp is later than every stamp the clock issued before, and the stamp of \
         a receipt is later than the message's, whatever the wall clock reads",
    )
    .cases(400)
    .replay_command("cargo test -p clocks --test step1_hlc stamps_are_later")
    .book("book/src/06-clocks.md#later")
    .check_inputs(events(), |events| {
        replay(events, |i, event, before, stamp| {
            if stamp <= before {
                return Err(format!(
                    "event {i} ({event:?}) on {} got {stamp}: a later event on one node must \
                     get a later stamp",
                    describe(before)
                ));
            }
            if let Event::Receipt { remote, .. } = event
                && stamp <= *remote
            {
                return Err(format!(
                    "event {i}, the receipt of a message stamped {remote} on {}, got {stamp}: a \
                     receipt happened after the send, so its stamp must be later than the \
                     message's",
                    describe(before)
                ));
            }
            Ok(())
        })
    });
}

#[test]
fn wall_part_is_bounded() {
    Property::new(
        "bounded: a stamp's wall part is the largest of the wall clock's reading, the clock's \
         last wall part and (on receipt) the message's: never behind this node's clock, never \
         ahead of any reading the clock has seen",
    )
    .cases(400)
    .replay_command("cargo test -p clocks --test step1_hlc wall_part_is_bounded")
    .book("book/src/06-clocks.md#bounded")
    .check_inputs(events(), |events| {
        replay(events, |i, event, before, stamp| {
            let (physical, remote) = match *event {
                Event::Local { physical } => (physical, None),
                Event::Receipt { remote, physical } => (physical, Some(remote)),
            };
            let mut largest = physical.max(before.wall);
            if let Some(remote) = remote {
                largest = largest.max(remote.wall);
            }
            if stamp.wall < physical {
                return Err(format!(
                    "event {i} ({event:?}) on {} got {stamp}, behind the wall clock's reading \
                     {}: a stamp never runs behind its own node's clock",
                    describe(before),
                    clocks::wall_text(physical)
                ));
            }
            if stamp.wall != largest {
                return Err(format!(
                    "event {i} ({event:?}) on {} got {stamp}: its wall part must be {}, the \
                     largest reading the clock has seen (its own clock's, its last stamp's and \
                     the message's); anything larger is a time nobody's clock showed",
                    describe(before),
                    clocks::wall_text(largest)
                ));
            }
            Ok(())
        })
    });
}

#[test]
fn counter_resets() {
    Property::new(
        "resets: a stamp's counter is the smallest that makes it later than what the clock and \
         the message had: 0 once the wall part moves past both, one more than the largest \
         counter it ties with otherwise",
    )
    .cases(400)
    .replay_command("cargo test -p clocks --test step1_hlc counter_resets")
    .book("book/src/06-clocks.md#resets")
    .check_inputs(events(), |events| {
        replay(events, |i, event, before, stamp| {
            let remote = match *event {
                Event::Local { .. } => None,
                Event::Receipt { remote, .. } => Some(remote),
            };
            // The largest counter among the stamps this one must pass that share its wall part.
            let ties = [Some(before), remote]
                .into_iter()
                .flatten()
                .filter(|s| s.wall == stamp.wall && *s != Stamp::MIN)
                .map(|s| s.logical)
                .max();
            let smallest = ties.map_or(0, |c| c + 1);
            if stamp.logical != smallest {
                let why = match ties {
                    None => "the wall part moved past everything the clock had seen, so the \
                             counter starts again at 0"
                        .to_string(),
                    Some(c) => format!(
                        "the largest counter it must pass at that wall part is {c}, so it is {}",
                        c + 1
                    ),
                };
                return Err(format!(
                    "event {i} ({event:?}) on {} got {stamp}, counter {}: {why}",
                    describe(before),
                    stamp.logical
                ));
            }
            Ok(())
        })
    });
}

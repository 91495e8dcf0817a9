//! *Happened before* (Lamport, 1978), computed from a trace alone: a vector clock per node,
//! ticked by every event the node handles (a delivery, a timer, a client's request) and merged,
//! at each delivery, with the clock the sender had when it sent. A test can then ask whether one
//! event could have influenced another without trusting the mechanism under test to say so.
//!
//! A client's request is traced when it reaches its node (see [`Simulation::invoke`]): a node
//! that is paused or slowed handles it later, and the clock then places it too early. Tests that
//! rely on this order keep pauses and slow nodes out of their runs.
//!
//! [`Simulation::invoke`]: crate::Simulation::invoke

use crate::trace::{EventKind, Trace};
use std::collections::BTreeMap;

/// A vector clock: for each node, how many of its events happened before (or are) this one.
pub type VectorClock = Vec<u64>;

/// `a` happened before `b`: every event `a` follows, `b` follows too, and `b` follows more.
pub fn happened_before(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x <= y) && a != b
}

/// Each event's vector clock, by its index in `trace.events`: the clock of the node the event
/// happened at, once the event is taken into account (`None` for an event at no node, such as
/// a partition). Events a handler causes (its sends, notes and reply) share the clock of the
/// event that ran the handler.
pub fn vector_clocks(trace: &Trace) -> Vec<Option<VectorClock>> {
    let n = trace.nodes as usize;
    let mut clocks: Vec<VectorClock> = vec![vec![0; n]; n];
    let mut at_send: BTreeMap<u64, VectorClock> = BTreeMap::new();
    let mut out = Vec::with_capacity(trace.events.len());
    for event in &trace.events {
        let node = match &event.kind {
            EventKind::Send { from, id, .. } => {
                let i = from.index();
                if i < n {
                    at_send.insert(*id, clocks[i].clone());
                }
                Some(i)
            }
            EventKind::Deliver { to, id, .. } => {
                let i = to.index();
                if i < n {
                    if let Some(sent) = at_send.get(id) {
                        for (mine, theirs) in clocks[i].iter_mut().zip(sent) {
                            *mine = (*mine).max(*theirs);
                        }
                    }
                    clocks[i][i] += 1;
                }
                Some(i)
            }
            EventKind::Timer { node, .. } | EventKind::Request { node, .. } => {
                let i = node.index();
                if i < n {
                    clocks[i][i] += 1;
                }
                Some(i)
            }
            other => other.node().map(|node| node.index()),
        };
        out.push(node.filter(|i| *i < n).map(|i| clocks[i].clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{NodeId, Time};
    use crate::trace::Event;

    fn event(time: u64, kind: EventKind) -> Event {
        Event {
            time: Time(time),
            kind,
        }
    }

    #[test]
    fn a_delivery_follows_its_send_and_a_reply_follows_both() {
        let send = |from: u32, to: u32, id: u64| EventKind::Send {
            from: NodeId(from),
            to: NodeId(to),
            id,
            msg: String::new(),
        };
        let deliver = |from: u32, to: u32, id: u64| EventKind::Deliver {
            from: NodeId(from),
            to: NodeId(to),
            id,
            msg: String::new(),
            sent: Time(0),
            duplicate: false,
        };
        let trace = Trace {
            events: vec![
                event(
                    0,
                    EventKind::Timer {
                        node: NodeId(0),
                        timer: String::new(),
                    },
                ),
                event(0, send(0, 1, 1)),
                event(1, deliver(0, 1, 1)),
                event(1, send(1, 0, 2)),
                event(
                    1,
                    EventKind::Timer {
                        node: NodeId(2),
                        timer: String::new(),
                    },
                ),
                event(2, deliver(1, 0, 2)),
            ],
            seed: 0,
            nodes: 3,
            states: Vec::new(),
        };
        let clocks = vector_clocks(&trace);
        let at = |i: usize| clocks[i].clone().expect("every event here is at a node");
        assert_eq!(at(0), vec![1, 0, 0]);
        assert_eq!(at(2), vec![1, 1, 0]);
        assert_eq!(at(5), vec![2, 1, 0]);
        assert!(happened_before(&at(1), &at(2)));
        assert!(happened_before(&at(2), &at(5)));
        // n2's timer is concurrent with all of them.
        assert!(!happened_before(&at(4), &at(5)) && !happened_before(&at(5), &at(4)));
        assert!(!happened_before(&at(0), &at(0)));
    }
}

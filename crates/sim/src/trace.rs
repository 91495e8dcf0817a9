//! The record of a run: every event that happened, in order, as plain serde values.
//!
//! A trace is what the renderers draw (text, SVG, Perfetto) and what a determinism test hashes.
//! Messages, timers, requests and responses are kept as their `Debug` text, so a trace does not
//! depend on the node's types and can be saved, diffed and loaded on its own.

use crate::time::{NodeId, Time};
use serde::{Deserialize, Serialize};

/// Why a message never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The network lost it (random loss).
    Lost,
    /// A partition stood between sender and receiver when it would have arrived.
    Partitioned,
    /// The receiver was crashed when it would have arrived.
    NodeDown,
    /// The receiver's queue of waiting work was full when it arrived (see
    /// [`Config::queue_bound`](crate::Config::queue_bound)).
    QueueFull,
}

/// One thing that happened at one instant of real (simulated) time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, in real time.
    pub time: Time,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Message ids (`id`) are unique in a run and match a `Send` with its
/// `Deliver` or `Drop` events; a duplicated message is delivered more than once with one id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The node started: at the beginning of the run, or after a crash (`restart`).
    Start { node: NodeId, restart: bool },
    /// The node crashed: its volatile state, timers and queued events are gone.
    Crash { node: NodeId },
    /// A message left `from`.
    Send {
        from: NodeId,
        to: NodeId,
        id: u64,
        msg: String,
    },
    /// A message was handed to `to`, sent at `sent`.
    Deliver {
        from: NodeId,
        to: NodeId,
        id: u64,
        msg: String,
        sent: Time,
        duplicate: bool,
    },
    /// A message was dropped. For `Lost` the time is the send time; otherwise it is when the
    /// message would have arrived.
    Drop {
        from: NodeId,
        to: NodeId,
        id: u64,
        msg: String,
        sent: Time,
        reason: DropReason,
    },
    /// A timer fired at the node.
    Timer { node: NodeId, timer: String },
    /// The node annotated the timeline ("suspect n2", "became leader").
    Note { node: NodeId, text: String },
    /// The node stopped handling events until `until` (a GC pause, a VM migration).
    Pause { node: NodeId, until: Time },
    /// A paused node runs again; what queued up while it was paused arrives now.
    Resume { node: NodeId },
    /// The node became slow: each event it handles costs `per_event_ns` of real time.
    Slow {
        node: NodeId,
        per_event_ns: u64,
        until: Time,
    },
    /// A slow node is back to full speed.
    SlowEnd { node: NodeId },
    /// A network partition began: messages on the `blocked` links (from, to) are dropped.
    Partition {
        id: u64,
        description: String,
        blocked: Vec<(NodeId, NodeId)>,
    },
    /// The partition `id` healed.
    Heal { id: u64, description: String },
    /// The node's wall clock jumped by `by_ns` (negative: backwards), as an NTP step does.
    ClockStep { node: NodeId, by_ns: i64 },
    /// A client invoked an operation at the node.
    Request {
        node: NodeId,
        client: u32,
        op: u64,
        request: String,
    },
    /// The node answered a client's operation.
    Response {
        node: NodeId,
        client: u32,
        op: u64,
        response: String,
    },
    /// A client stopped waiting for an operation; its outcome is unknown.
    Timeout { node: NodeId, client: u32, op: u64 },
    /// A triggered fault went off: `what` happened (to `node`, its subject), so `fault` starts
    /// now or after its delay.
    Trigger {
        node: NodeId,
        what: String,
        fault: String,
    },
    /// The run stopped early: a node panicked, a monitor failed, or the step budget ran out.
    Halt { reason: String },
}

impl EventKind {
    /// The node whose lane this event belongs on, if it belongs to one node.
    pub fn node(&self) -> Option<NodeId> {
        use EventKind::*;
        match self {
            Start { node, .. }
            | Crash { node }
            | Timer { node, .. }
            | Note { node, .. }
            | Pause { node, .. }
            | Resume { node }
            | Slow { node, .. }
            | SlowEnd { node }
            | ClockStep { node, .. }
            | Request { node, .. }
            | Response { node, .. }
            | Timeout { node, .. }
            | Trigger { node, .. } => Some(*node),
            Send { from, .. } => Some(*from),
            Deliver { to, .. } => Some(*to),
            Drop {
                to, reason, from, ..
            } => Some(if *reason == DropReason::Lost {
                *from
            } else {
                *to
            }),
            Partition { .. } | Heal { .. } | Halt { .. } => None,
        }
    }
}

/// A whole run's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The seed the run used.
    pub seed: u64,
    /// How many nodes the run had: `n0` to `n{nodes-1}`.
    pub nodes: u32,
    /// Every event, in the order it happened.
    pub events: Vec<Event>,
    /// Each node's state after the events it handled, when the run recorded them
    /// ([`Simulation::record_states`](crate::Simulation::record_states)); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<NodeState>,
}

/// A node's state just after it handled an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    /// The index in [`Trace::events`] of the event the node handled (a delivery, a timer, a
    /// start, a request): the state is what the handler left.
    pub after: usize,
    pub node: NodeId,
    /// The node's `Debug`, pretty-printed.
    pub state: String,
}

impl Trace {
    /// A stable 64-bit digest of the trace (FNV-1a over its JSON form), for determinism checks.
    pub fn digest(&self) -> u64 {
        let json = serde_json::to_vec(self).expect("a trace always serializes");
        json.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The notes one node made, with the real time of each, in order.
    pub fn notes(&self, node: NodeId) -> Vec<(Time, &str)> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Note { node: n, text } if *n == node => Some((e.time, text.as_str())),
                _ => None,
            })
            .collect()
    }

    /// The node ids of the run, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes).map(NodeId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_one_node_s_in_order() {
        let note = |ms, node, text: &str| Event {
            time: Time::from_millis(ms),
            kind: EventKind::Note {
                node: NodeId(node),
                text: text.into(),
            },
        };
        let trace = Trace {
            seed: 0,
            nodes: 2,
            events: vec![note(1, 0, "a"), note(2, 1, "b"), note(3, 0, "c")],
            states: Vec::new(),
        };
        assert_eq!(
            trace.notes(NodeId(0)),
            vec![(Time::from_millis(1), "a"), (Time::from_millis(3), "c")]
        );
        assert_ne!(trace.digest(), Trace::default().digest());
    }
}

//! Fault plans: what goes wrong, and when. A plan is a plain serde value, so it can be
//! printed in a failure report, saved, and replayed exactly.

use crate::clock::ClockSpec;
use crate::net::NetConfig;
use crate::time::{NodeId, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Everything that goes wrong in one run: the network's steady behaviour, each node's clocks,
/// and a list of timed faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Latency, loss, duplication and reordering for the whole run.
    pub network: NetConfig,
    /// Clock behaviour per node (`clocks[i]` is node `n{i}`); missing entries are perfect.
    #[serde(default)]
    pub clocks: Vec<ClockSpec>,
    /// Timed faults; they need not be sorted.
    #[serde(default)]
    pub faults: Vec<TimedFault>,
    /// Faults that start when something happens in the run rather than at a fixed time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered: Vec<TriggeredFault>,
    /// When each node starts (`starts[i]` is node `n{i}`'s offset from the start of the run);
    /// missing entries start at once. Until it starts a node is down: messages to it are lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts: Vec<Duration>,
}

/// A fault that starts when something happens in the run: a node notes a text, a message is
/// sent or delivered, or a state predicate over the nodes first holds. It fires at most once.
///
/// Predicates are named in the plan, so that it stays a plain value that can be printed and
/// replayed; the test registers the code behind each name on the simulation
/// ([`Simulation::message_predicate`](crate::Simulation::message_predicate),
/// [`Simulation::state_predicate`](crate::Simulation::state_predicate)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggeredFault {
    /// What sets it off.
    pub when: Trigger,
    /// The trigger is armed from this instant of real time on; earlier events do not count.
    #[serde(default)]
    pub from: Time,
    /// The fault starts this long after the trigger. Zero: right after the event that set it
    /// off has been handled, before anything else happens.
    #[serde(default)]
    pub delay: Duration,
    /// The fault. [`NodeId::SUBJECT`] in it stands for the node the trigger names, and
    /// [`NodeId::PEER`] for the other end of the message that fired it.
    pub fault: Fault,
}

/// Which end of a message a message trigger names as its subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Sender,
    Receiver,
}

/// What sets off a [`TriggeredFault`], and which node it names as the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A node (any, or only `node`) notes a text that contains `contains`. Subject: that node.
    Note {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
        contains: String,
    },
    /// A message for which the named message predicate holds leaves its sender.
    Send { message: String, subject: Side },
    /// A message for which the named message predicate holds is handed to its receiver (the
    /// fault follows the receiver's handler).
    Deliver { message: String, subject: Side },
    /// The named state predicate, evaluated after every event, names a node for the first
    /// time. Subject: that node.
    Holds { state: String },
}

impl Trigger {
    /// A trigger on a note containing `text`, by any node.
    pub fn note(text: impl Into<String>) -> Trigger {
        Trigger::Note {
            node: None,
            contains: text.into(),
        }
    }

    /// A trigger on the sending of a message the predicate `name` accepts.
    pub fn send(name: impl Into<String>, subject: Side) -> Trigger {
        Trigger::Send {
            message: name.into(),
            subject,
        }
    }

    /// A trigger on the delivery of a message the predicate `name` accepts.
    pub fn deliver(name: impl Into<String>, subject: Side) -> Trigger {
        Trigger::Deliver {
            message: name.into(),
            subject,
        }
    }

    /// A trigger on the state predicate `name` naming a node.
    pub fn holds(name: impl Into<String>) -> Trigger {
        Trigger::Holds { state: name.into() }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Side| match s {
            Side::Sender => "its sender",
            Side::Receiver => "its receiver",
        };
        match self {
            Trigger::Note {
                node: Some(node),
                contains,
            } => write!(f, "{node} notes {contains:?}"),
            Trigger::Note {
                node: None,
                contains,
            } => write!(f, "a node notes {contains:?}"),
            Trigger::Send { message, subject } => {
                write!(
                    f,
                    "a \"{message}\" message is sent (n* = {})",
                    side(subject)
                )
            }
            Trigger::Deliver { message, subject } => write!(
                f,
                "a \"{message}\" message is delivered (n* = {})",
                side(subject)
            ),
            Trigger::Holds { state } => write!(f, "\"{state}\" holds for a node n*"),
        }
    }
}

impl Fault {
    /// The fault with every [`NodeId::SUBJECT`] (and [`NodeId::PEER`]) in it replaced by
    /// `subject`: what a trigger that names no message does.
    pub fn resolve(&self, subject: NodeId) -> Fault {
        self.resolve_with_peer(subject, subject)
    }

    /// The fault with every [`NodeId::SUBJECT`] in it replaced by `subject`, and every
    /// [`NodeId::PEER`] by `peer`.
    pub fn resolve_with_peer(&self, subject: NodeId, peer: NodeId) -> Fault {
        let pick = |n: &NodeId| match *n {
            NodeId::SUBJECT => subject,
            NodeId::PEER => peer,
            other => other,
        };
        let all = |ns: &[NodeId]| ns.iter().map(pick).collect::<Vec<_>>();
        match self {
            Fault::Crash {
                node,
                restart_after,
            } => Fault::Crash {
                node: pick(node),
                restart_after: *restart_after,
            },
            Fault::Pause { node, duration } => Fault::Pause {
                node: pick(node),
                duration: *duration,
            },
            Fault::Slow {
                node,
                per_event,
                duration,
            } => Fault::Slow {
                node: pick(node),
                per_event: *per_event,
                duration: *duration,
            },
            Fault::Partition {
                partition,
                duration,
            } => Fault::Partition {
                partition: match partition {
                    Partition::Split(groups) => {
                        Partition::Split(groups.iter().map(|g| all(g)).collect())
                    }
                    Partition::OneWay { from, to } => Partition::OneWay {
                        from: all(from),
                        to: all(to),
                    },
                    Partition::Links(links) => {
                        Partition::Links(links.iter().map(|(a, b)| (pick(a), pick(b))).collect())
                    }
                },
                duration: *duration,
            },
            Fault::ClockStep { node, by_ns } => Fault::ClockStep {
                node: pick(node),
                by_ns: *by_ns,
            },
        }
    }

    /// Every node the fault names (a partition's included), in the order named.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Fault::Crash { node, .. }
            | Fault::Pause { node, .. }
            | Fault::Slow { node, .. }
            | Fault::ClockStep { node, .. } => vec![*node],
            Fault::Partition { partition, .. } => match partition {
                Partition::Split(groups) => groups.iter().flatten().copied().collect(),
                Partition::OneWay { from, to } => from.iter().chain(to).copied().collect(),
                Partition::Links(links) => links.iter().flat_map(|(a, b)| [*a, *b]).collect(),
            },
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crash {
                node,
                restart_after: Some(d),
            } => write!(f, "crash {node}, restart after {d:?}"),
            Fault::Crash {
                node,
                restart_after: None,
            } => write!(f, "crash {node} for good"),
            Fault::Pause { node, duration } => write!(f, "pause {node} for {duration:?}"),
            Fault::Slow {
                node,
                per_event,
                duration,
            } => write!(f, "slow {node} (+{per_event:?} per event) for {duration:?}"),
            Fault::Partition {
                partition,
                duration,
            } => write!(f, "partition {partition} for {duration:?}"),
            Fault::ClockStep { node, by_ns } => {
                write!(f, "step {node}'s wall clock by {:+}ms", *by_ns as f64 / 1e6)
            }
        }
    }
}

/// One fault that starts at `at` (real time since the start of the run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedFault {
    pub at: Time,
    pub fault: Fault,
}

/// A fault. Every fault that has an end carries its own duration, so any list of faults is a
/// valid plan (which is what lets a property test shrink one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// The process dies, losing everything but its durable state; with `restart_after` it is
    /// started again from that durable state.
    Crash {
        node: NodeId,
        restart_after: Option<Duration>,
    },
    /// The process stops handling events (a GC pause, a VM freeze). Messages and timers queue
    /// up and are all handled when it resumes.
    Pause { node: NodeId, duration: Duration },
    /// The node is alive but slow (gray failure): each event costs it `per_event` of real
    /// time, so work queues up behind it.
    Slow {
        node: NodeId,
        per_event: Duration,
        duration: Duration,
    },
    /// Messages between the groups are dropped until the partition heals.
    Partition {
        partition: Partition,
        duration: Duration,
    },
    /// The node's wall clock jumps by `by_ns` nanoseconds (negative: backwards).
    ClockStep { node: NodeId, by_ns: i64 },
}

/// Which links a partition cuts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partition {
    /// The nodes are split into groups; nodes in different groups cannot talk, in either
    /// direction. Nodes not listed form one more group together.
    Split(Vec<Vec<NodeId>>),
    /// Messages from `from` to `to` are dropped; the other direction still works.
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// Only these links are cut, in both directions (a partial partition: `a` cannot reach
    /// `c` but both reach `b`).
    Links(Vec<(NodeId, NodeId)>),
}

impl Partition {
    /// The directed links this partition cuts in a run of `nodes` nodes, sorted.
    pub fn blocked_links(&self, nodes: u32) -> Vec<(NodeId, NodeId)> {
        let mut links = BTreeSet::new();
        match self {
            Partition::Split(groups) => {
                let group_of = |n: NodeId| groups.iter().position(|g| g.contains(&n));
                for a in (0..nodes).map(NodeId) {
                    for b in (0..nodes).map(NodeId) {
                        if a != b && group_of(a) != group_of(b) {
                            links.insert((a, b));
                        }
                    }
                }
            }
            Partition::OneWay { from, to } => {
                for a in from {
                    for b in to {
                        if a != b {
                            links.insert((*a, *b));
                        }
                    }
                }
            }
            Partition::Links(pairs) => {
                for (a, b) in pairs {
                    if a != b {
                        links.insert((*a, *b));
                        links.insert((*b, *a));
                    }
                }
            }
        }
        links
            .into_iter()
            .filter(|(a, b)| a.0 < nodes && b.0 < nodes)
            .collect()
    }
}

fn node_set(nodes: &[NodeId]) -> String {
    let names: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
    format!("{{{}}}", names.join(" "))
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Split(groups) => {
                let parts: Vec<String> = groups.iter().map(|g| node_set(g)).collect();
                write!(f, "{}", parts.join(" | "))?;
                if groups.len() == 1 {
                    write!(f, " | rest")?;
                }
                Ok(())
            }
            Partition::OneWay { from, to } => {
                write!(f, "{} -/-> {}", node_set(from), node_set(to))
            }
            Partition::Links(pairs) => {
                let cut: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}-/-{b}")).collect();
                write!(f, "{}", cut.join(" "))
            }
        }
    }
}

impl FaultPlan {
    /// A plan with this network and no faults.
    pub fn with_network(network: NetConfig) -> FaultPlan {
        FaultPlan {
            network,
            ..FaultPlan::default()
        }
    }

    /// Adds a fault at `at` (builder style).
    pub fn at(mut self, at: Time, fault: Fault) -> FaultPlan {
        self.faults.push(TimedFault { at, fault });
        self
    }

    /// Adds a fault that starts when `when` first happens, at or after `from` (builder style).
    pub fn when(mut self, when: Trigger, from: Time, fault: Fault) -> FaultPlan {
        self.triggered.push(TriggeredFault {
            when,
            from,
            delay: Duration::ZERO,
            fault,
        });
        self
    }

    /// Starts one node late (builder style).
    pub fn start(mut self, node: NodeId, after: Duration) -> FaultPlan {
        if self.starts.len() <= node.index() {
            self.starts.resize(node.index() + 1, Duration::ZERO);
        }
        self.starts[node.index()] = after;
        self
    }

    /// When `node` starts.
    pub fn start_of(&self, node: NodeId) -> Time {
        Time::ZERO + self.starts.get(node.index()).copied().unwrap_or_default()
    }

    /// Sets one node's clocks (builder style).
    pub fn clock(mut self, node: NodeId, spec: ClockSpec) -> FaultPlan {
        if self.clocks.len() <= node.index() {
            self.clocks.resize(node.index() + 1, ClockSpec::default());
        }
        self.clocks[node.index()] = spec;
        self
    }

    /// The plan as one line of JSON, for a replay command.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a plan always serializes")
    }

    /// The timed faults sorted by start time (stable, so equal times keep the plan's order).
    pub fn sorted_faults(&self) -> Vec<TimedFault> {
        let mut faults = self.faults.clone();
        faults.sort_by_key(|f| f.at);
        faults
    }
}

impl fmt::Display for FaultPlan {
    /// A short human summary, one fault a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let net = &self.network;
        write!(f, "network: latency {:?}", net.latency)?;
        if net.loss > 0.0 {
            write!(f, ", loss {:.1}%", net.loss * 100.0)?;
        }
        if net.duplicate > 0.0 {
            write!(f, ", duplicate {:.1}%", net.duplicate * 100.0)?;
        }
        if net.reorder > 0.0 {
            write!(f, ", reorder {:.1}%", net.reorder * 100.0)?;
        }
        for (i, c) in self.clocks.iter().enumerate() {
            if *c != ClockSpec::default() {
                write!(
                    f,
                    "\nclock n{i}: drift {:+}ppm, wall offset {:+}ms, wall drift {:+}ppm",
                    c.drift_ppm,
                    c.wall_offset_ns as f64 / 1e6,
                    c.wall_drift_ppm
                )?;
            }
        }
        for (i, start) in self.starts.iter().enumerate() {
            if !start.is_zero() {
                write!(f, "\nn{i} starts at {start:?}")?;
            }
        }
        for tf in self.sorted_faults() {
            write!(f, "\n{:>12}  {}", tf.at.to_string(), tf.fault)?;
        }
        for tf in &self.triggered {
            write!(f, "\n   triggered  when {}", tf.when)?;
            if tf.from > Time::ZERO {
                write!(f, " from {} on", tf.from)?;
            }
            write!(f, ": ")?;
            if !tf.delay.is_zero() {
                write!(f, "{:?} later, ", tf.delay)?;
            }
            write!(f, "{}", tf.fault)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_cuts_both_directions_between_groups_only() {
        let p = Partition::Split(vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2)]]);
        let links = p.blocked_links(3);
        assert_eq!(links.len(), 4);
        assert!(links.contains(&(NodeId(0), NodeId(2))));
        assert!(links.contains(&(NodeId(2), NodeId(0))));
        assert!(!links.contains(&(NodeId(1), NodeId(2))));
    }

    #[test]
    fn one_group_split_isolates_it_from_the_rest() {
        let p = Partition::Split(vec![vec![NodeId(1)]]);
        let links = p.blocked_links(3);
        assert_eq!(links.len(), 4, "{links:?}");
        assert!(!links.contains(&(NodeId(0), NodeId(2))));
        assert_eq!(p.to_string(), "{n1} | rest");
    }

    #[test]
    fn one_way_and_partial_partitions() {
        let one_way = Partition::OneWay {
            from: vec![NodeId(0)],
            to: vec![NodeId(1), NodeId(2)],
        };
        assert_eq!(
            one_way.blocked_links(3),
            vec![(NodeId(0), NodeId(1)), (NodeId(0), NodeId(2))]
        );
        let partial = Partition::Links(vec![(NodeId(0), NodeId(2))]);
        assert_eq!(
            partial.blocked_links(3),
            vec![(NodeId(0), NodeId(2)), (NodeId(2), NodeId(0))]
        );
    }

    #[test]
    fn a_triggered_fault_can_name_both_ends_of_its_message() {
        let cut = Fault::Partition {
            partition: Partition::Links(vec![(NodeId::SUBJECT, NodeId::PEER)]),
            duration: Duration::from_millis(10),
        };
        match cut.resolve_with_peer(NodeId(2), NodeId(0)) {
            Fault::Partition {
                partition: Partition::Links(links),
                ..
            } => assert_eq!(links, vec![(NodeId(2), NodeId(0))]),
            other => panic!("resolved to {other}"),
        }
        assert_eq!(NodeId::PEER.to_string(), "n**");
    }

    #[test]
    fn a_plan_round_trips_through_json() {
        let plan = FaultPlan::default()
            .at(
                Time::from_millis(5),
                Fault::Crash {
                    node: NodeId(1),
                    restart_after: Some(Duration::from_millis(40)),
                },
            )
            .clock(
                NodeId(2),
                ClockSpec {
                    drift_ppm: 200,
                    ..ClockSpec::default()
                },
            );
        let back: FaultPlan = serde_json::from_str(&plan.to_json()).unwrap();
        assert_eq!(back, plan);
        assert!(plan.to_string().contains("crash n1, restart after 40ms"));
    }
}

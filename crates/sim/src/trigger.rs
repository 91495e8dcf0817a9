//! Triggered faults while a run goes on: which are still armed, the message predicates they
//! name, and the ones that went off and wait to be applied once the current event is handled.

use crate::node::Node;
use crate::plan::{Fault, Side, Trigger, TriggeredFault};
use crate::time::{NodeId, Time};
use std::collections::BTreeMap;
use std::time::Duration;

/// A message predicate: `(from, to, message)`.
pub(crate) type MessagePredicate<N> = Box<dyn Fn(NodeId, NodeId, &<N as Node>::Msg) -> bool>;

/// A triggered fault that went off.
pub(crate) struct Fired {
    /// The node the trigger named.
    pub(crate) subject: NodeId,
    /// What happened, in words, for the trace.
    pub(crate) what: String,
    pub(crate) delay: Duration,
    /// The fault with the subject filled in.
    pub(crate) fault: Fault,
}

pub(crate) struct Triggers<N: Node> {
    /// The triggered faults that have not gone off yet, in plan order.
    armed: Vec<TriggeredFault>,
    messages: BTreeMap<String, MessagePredicate<N>>,
    fired: Vec<Fired>,
}

impl<N: Node> Triggers<N> {
    pub(crate) fn new(plan: &[TriggeredFault]) -> Triggers<N> {
        Triggers {
            armed: plan.to_vec(),
            messages: BTreeMap::new(),
            fired: Vec::new(),
        }
    }

    pub(crate) fn add_message_predicate(&mut self, name: String, predicate: MessagePredicate<N>) {
        self.messages.insert(name, predicate);
    }

    /// Whether nothing is armed: the common case, which costs one check per hook.
    pub(crate) fn is_idle(&self) -> bool {
        self.armed.is_empty()
    }

    /// Whether some armed trigger waits for a note (so note texts must be built even when the
    /// run is not traced).
    pub(crate) fn wants_notes(&self) -> bool {
        self.armed
            .iter()
            .any(|t| matches!(t.when, Trigger::Note { .. }))
    }

    /// The state predicates the armed triggers name, and every name that is not registered.
    pub(crate) fn unregistered(&self, states: &[String]) -> Vec<String> {
        let mut missing = Vec::new();
        for t in &self.armed {
            let (kind, name) = match &t.when {
                Trigger::Send { message, .. } | Trigger::Deliver { message, .. } => {
                    ("message", message)
                }
                Trigger::Holds { state } => ("state", state),
                Trigger::Note { .. } => continue,
            };
            let known = match kind {
                "message" => self.messages.contains_key(name),
                _ => states.contains(name),
            };
            if !known {
                missing.push(format!("{kind} predicate \"{name}\""));
            }
        }
        missing
    }

    pub(crate) fn on_note(&mut self, now: Time, node: NodeId, text: &str) {
        fire(&mut self.armed, &mut self.fired, now, |when| match when {
            Trigger::Note {
                node: wanted,
                contains,
            } if wanted.is_none_or(|w| w == node) && text.contains(contains.as_str()) => {
                Some((node, node, format!("{node} noted {text:?}")))
            }
            _ => None,
        });
    }

    pub(crate) fn on_message(
        &mut self,
        now: Time,
        delivered: bool,
        (from, to, id): (NodeId, NodeId, u64),
        msg: &N::Msg,
    ) {
        let messages = &self.messages;
        fire(&mut self.armed, &mut self.fired, now, |when| {
            let (name, subject) = match (when, delivered) {
                (Trigger::Send { message, subject }, false)
                | (Trigger::Deliver { message, subject }, true) => (message, subject),
                _ => return None,
            };
            let accepts = messages.get(name)?;
            if !accepts(from, to, msg) {
                return None;
            }
            let (node, peer) = match subject {
                Side::Sender => (from, to),
                Side::Receiver => (to, from),
            };
            let what = if delivered {
                format!("{to} received #{id} {msg:?} from {from}")
            } else {
                format!("{from} sent #{id} {msg:?} to {to}")
            };
            Some((node, peer, what))
        });
    }

    /// The armed state triggers' predicate names, with their arming times.
    pub(crate) fn armed_states(&self) -> Vec<(String, Time)> {
        self.armed
            .iter()
            .filter_map(|t| match &t.when {
                Trigger::Holds { state } => Some((state.clone(), t.from)),
                _ => None,
            })
            .collect()
    }

    /// Fires the armed state triggers whose predicate named a node now (`named` maps each
    /// predicate name to the node it named, if any).
    pub(crate) fn on_states(&mut self, now: Time, named: &BTreeMap<String, Option<NodeId>>) {
        fire(&mut self.armed, &mut self.fired, now, |when| match when {
            Trigger::Holds { state } => {
                let node = (*named.get(state)?)?;
                Some((node, node, format!("\"{state}\" holds for {node}")))
            }
            _ => None,
        });
    }

    /// Whether triggered faults went off and wait to be applied.
    pub(crate) fn has_fired(&self) -> bool {
        !self.fired.is_empty()
    }

    pub(crate) fn take_fired(&mut self) -> Vec<Fired> {
        std::mem::take(&mut self.fired)
    }
}

/// Fires every armed trigger for which `matches` names a subject, at most once each.
fn fire(
    armed: &mut Vec<TriggeredFault>,
    fired: &mut Vec<Fired>,
    now: Time,
    mut matches: impl FnMut(&Trigger) -> Option<(NodeId, NodeId, String)>,
) {
    let mut index = 0;
    while index < armed.len() {
        let hit = if armed[index].from <= now {
            matches(&armed[index].when)
        } else {
            None
        };
        match hit {
            Some((subject, peer, what)) => {
                let t = armed.remove(index);
                fired.push(Fired {
                    subject,
                    what,
                    delay: t.delay,
                    fault: t.fault.resolve_with_peer(subject, peer),
                });
            }
            None => index += 1,
        }
    }
}

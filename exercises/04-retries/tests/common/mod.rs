//! What the tests read back from a run's trace: every call the client made, attempt by attempt,
//! and every call the server received. The trace records messages as their `Debug` text, so the
//! `Msg`, `Timer` and `Outcome` types of `src/lib.rs` must keep their derived `Debug`.

#![allow(dead_code)]

use retries::{CLIENT, SERVER};
use sim::{EventKind, Time, Trace};
use std::collections::{BTreeMap, BTreeSet};

/// The number that follows `key` in `text` ("CallId(" in "Call { id: CallId(7), ... }").
fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `(call, attempt)` of a `Call`, a `Reply` or a `Timeout` as the trace prints them.
pub fn call_and_attempt(text: &str) -> Option<(u64, u32)> {
    Some((
        number_after(text, "CallId(")?,
        u32::try_from(number_after(text, "attempt: ")?).ok()?,
    ))
}

/// One call as the client made it.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    /// The user's operation it answers, and when the user asked.
    pub op: u64,
    pub requested: Time,
    /// Each attempt the client sent: when, and its number.
    pub attempts: Vec<(Time, u32)>,
    /// Each answer that reached the client: when, to which attempt, and whether it was `Busy`.
    pub replies: Vec<(Time, u32, bool)>,
    /// Each `Timeout` timer that fired for it: when, and for which attempt.
    pub timeouts: Vec<(Time, u32)>,
    /// What the user got, and when (`Done`, `Busy` or `GaveUp`).
    pub outcome: Option<(Time, String)>,
    /// Where in the trace the first answer reached the client, and where the user got the
    /// outcome: at one instant, the event handled first is the one earlier in the trace.
    pub first_reply_index: Option<usize>,
    pub outcome_index: Option<usize>,
}

/// The client's calls, by call number. A call belongs to the request the client was handling
/// when it sent the call's attempt 0.
pub fn client_calls(trace: &Trace) -> BTreeMap<u64, CallLog> {
    let mut calls: BTreeMap<u64, CallLog> = BTreeMap::new();
    let mut by_op: BTreeMap<u64, u64> = BTreeMap::new();
    let mut handling: Option<(u64, Time)> = None;
    // A message the network duplicated counts once, whichever copy arrives first.
    let mut delivered: BTreeSet<u64> = BTreeSet::new();
    for (index, event) in trace.events.iter().enumerate() {
        match &event.kind {
            EventKind::Request { node, op, .. } if *node == CLIENT => {
                handling = Some((*op, event.time));
            }
            EventKind::Send { from, msg, .. } if *from == CLIENT => {
                let Some((id, attempt)) = call_and_attempt(msg) else {
                    continue;
                };
                let call = calls.entry(id).or_default();
                if attempt == 0
                    && call.attempts.is_empty()
                    && let Some((op, at)) = handling.take()
                {
                    call.op = op;
                    call.requested = at;
                    by_op.insert(op, id);
                }
                call.attempts.push((event.time, attempt));
            }
            EventKind::Deliver { to, msg, id, .. } if *to == CLIENT && delivered.insert(*id) => {
                if let Some((id, attempt)) = call_and_attempt(msg) {
                    let busy = msg.contains("Busy");
                    let call = calls.entry(id).or_default();
                    call.first_reply_index.get_or_insert(index);
                    call.replies.push((event.time, attempt, busy));
                }
            }
            EventKind::Timer { node, timer } if *node == CLIENT && timer.starts_with("Timeout") => {
                if let Some((id, attempt)) = call_and_attempt(timer) {
                    calls
                        .entry(id)
                        .or_default()
                        .timeouts
                        .push((event.time, attempt));
                }
            }
            EventKind::Response {
                node, op, response, ..
            } if *node == CLIENT => {
                if let Some(call) = by_op.get(op).and_then(|id| calls.get_mut(id)) {
                    call.outcome = Some((event.time, response.clone()));
                    call.outcome_index = Some(index);
                }
            }
            _ => {}
        }
    }
    calls
}

/// Every call that reached the server (a message the network duplicated counted once), by call
/// number: when, and which attempt.
pub fn server_calls(trace: &Trace) -> BTreeMap<u64, Vec<(Time, u32)>> {
    let mut calls: BTreeMap<u64, Vec<(Time, u32)>> = BTreeMap::new();
    let mut delivered: BTreeSet<u64> = BTreeSet::new();
    for event in &trace.events {
        if let EventKind::Deliver { to, msg, id, .. } = &event.kind
            && *to == SERVER
            && delivered.insert(*id)
            && msg.starts_with("Call")
            && let Some((id, attempt)) = call_and_attempt(msg)
        {
            calls.entry(id).or_default().push((event.time, attempt));
        }
    }
    calls
}

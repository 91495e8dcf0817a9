//! Chrome trace-event JSON of a trace, which ui.perfetto.dev and chrome://tracing open.
//!
//! The run is one process with a thread per node (`n0` is tid 1) and, when the run had
//! partitions, a `network` thread after the last node's. Crash downtime, pauses, slow periods
//! and partitions are complete (`X`) slices; notes, timers, client operations, clock steps and
//! drops are instants; each message is a pair of short slices (send, receive) joined by a flow
//! arrow. Timestamps are microseconds. Everything is built from vectors and `BTreeMap`s, so the same
//! trace gives the same bytes.

use crate::time::{NodeId, Time};
use crate::trace::{DropReason, EventKind, Trace};
use serde::Serialize;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

const PID: u32 = 1;
/// Length of the slice a message arrow starts or ends on. Flow events must be bound to a
/// slice; one microsecond is invisible at the millisecond scale of the simulated networks.
const MARKER_NS: u64 = 1_000;

/// The JSON object format of the trace-event spec.
#[derive(Serialize)]
struct ChromeTrace {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<TraceEvent>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
}

/// One trace event; absent fields are left out of the JSON, as the spec allows.
#[derive(Clone, Debug, Serialize)]
struct TraceEvent {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'static str>,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    /// Scope of an instant: "t" (thread) or "g" (global).
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    /// "e": bind a flow's end to the enclosing slice rather than the next one.
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    args: BTreeMap<&'static str, Value>,
}

impl TraceEvent {
    fn new(ph: &'static str, name: impl Into<String>, tid: u32, ts_ns: f64) -> Self {
        TraceEvent {
            name: name.into(),
            cat: None,
            ph,
            ts: ts_ns / 1_000.0,
            dur: None,
            pid: PID,
            tid,
            s: None,
            id: None,
            bp: None,
            args: BTreeMap::new(),
        }
    }

    fn metadata(name: &str, tid: u32, key: &'static str, value: impl Into<Value>) -> Self {
        let mut event = TraceEvent::new("M", name, tid, 0.0);
        event.args.insert(key, value.into());
        event
    }

    fn instant(name: impl Into<String>, cat: &'static str, tid: u32, at: Time) -> Self {
        let mut event = TraceEvent::new("i", name, tid, at.as_nanos() as f64);
        event.cat = Some(cat);
        event.s = Some("t");
        event.args.insert("at", at.to_string().into());
        event
    }

    fn arg(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.args.insert(key, value.into());
        self
    }
}

/// The trace as Chrome trace-event JSON (`{"traceEvents":[...],"displayTimeUnit":"ms"}`).
pub fn render(trace: &Trace) -> String {
    let lanes = lane_count(trace);
    // Not tid 0: Perfetto takes tid 0 to mean "no thread" (the idle task) and rejects
    // thread-scoped events on it.
    let network_tid = lanes.saturating_add(1);
    let spans = nest_per_thread(spans(trace, network_tid));
    let mut events = metadata(trace, lanes, spans.iter().any(|s| s.tid == network_tid));
    let mut timed: Vec<(Order, TraceEvent)> = Vec::new();
    for span in &spans {
        let duration = span.end - span.start;
        let mut event = TraceEvent::new("X", span.name.clone(), span.tid, span.start as f64);
        event.cat = Some(span.cat);
        event.dur = Some(duration as f64 / 1_000.0);
        event.args = span.args.clone();
        timed.push((Order::new(span.start, Rank::Span, duration), event));
    }
    let mut markers = Markers::new(&spans);
    let flows = flow_ids(trace);
    for event in &trace.events {
        let at = event.time;
        match &event.kind {
            EventKind::Send { from, to, id, msg } => {
                let (start, dur) = markers.place(tid(*from), at);
                let slice = TraceEvent::new("X", format!("send → {to}"), tid(*from), start as f64);
                timed.push((
                    Order::new(start, Rank::Marker, dur),
                    marker(slice, dur)
                        .arg("msg", msg.as_str())
                        .arg("id", *id)
                        .arg("at", at.to_string()),
                ));
                for flow in flows.get(id).into_iter().flatten() {
                    let begin = flow_event("s", *flow, tid(*from), start);
                    timed.push((Order::new(start, Rank::Flow, 0), begin));
                }
            }
            EventKind::Deliver {
                from,
                to,
                id,
                msg,
                sent,
                duplicate,
            } => {
                let (start, dur) = markers.place(tid(*to), at);
                let name = if *duplicate {
                    format!("recv ← {from} (duplicate)")
                } else {
                    format!("recv ← {from}")
                };
                let slice = TraceEvent::new("X", name, tid(*to), start as f64);
                timed.push((
                    Order::new(start, Rank::Marker, dur),
                    marker(slice, dur)
                        .arg("msg", msg.as_str())
                        .arg("id", *id)
                        .arg("sent", sent.to_string())
                        .arg("at", at.to_string()),
                ));
                if let Some(flow) = flows
                    .get(id)
                    .and_then(|ids| ids.get(markers.delivered(*id)))
                {
                    let mut end = flow_event("f", *flow, tid(*to), start);
                    end.bp = Some("e");
                    timed.push((Order::new(start, Rank::Flow, 0), end));
                }
            }
            kind => {
                if let Some(instant) = instant(kind, at) {
                    timed.push((Order::new(at.as_nanos(), Rank::Instant, 0), instant));
                }
            }
        }
    }
    timed.sort_by_key(|(order, _)| *order);
    events.extend(timed.into_iter().map(|(_, event)| event));
    let chrome = ChromeTrace {
        trace_events: events,
        display_time_unit: "ms",
    };
    serde_json::to_string(&chrome).expect("trace events are plain data and always serialize")
}

/// The instant that marks a one-off event, if it has one (messages and spans are drawn
/// otherwise).
fn instant(kind: &EventKind, at: Time) -> Option<TraceEvent> {
    let on = |node: &NodeId, name: String, cat: &'static str| {
        TraceEvent::instant(name, cat, tid(*node), at)
    };
    let instant = match kind {
        EventKind::Drop {
            from,
            to,
            id,
            msg,
            sent,
            reason,
        } => {
            let (name, node) = match reason {
                DropReason::Lost => (format!("lost → {to}"), from),
                DropReason::Partitioned => (format!("dropped ← {from} (partition)"), to),
                DropReason::NodeDown => (format!("dropped ← {from} (node down)"), to),
                DropReason::QueueFull => (format!("dropped ← {from} (queue full)"), to),
            };
            on(node, name, "drop")
                .arg("msg", msg.as_str())
                .arg("id", *id)
                .arg("sent", sent.to_string())
        }
        EventKind::Note { node, text } => on(node, text.clone(), "note"),
        EventKind::Timer { node, timer } => on(node, format!("timer {timer}"), "timer"),
        EventKind::Request {
            node,
            client,
            op,
            request,
        } => on(node, format!("request c{client}#{op}"), "client").arg("request", request.as_str()),
        EventKind::Response {
            node,
            client,
            op,
            response,
        } => on(node, format!("response c{client}#{op}"), "client")
            .arg("response", response.as_str()),
        EventKind::Timeout { node, client, op } => on(
            node,
            format!("timeout c{client}#{op} (outcome unknown)"),
            "client",
        ),
        EventKind::ClockStep { node, by_ns } => {
            let name = format!("clock step {:+}ms", *by_ns as f64 / 1e6);
            on(node, name, "clock").arg("by_ns", *by_ns)
        }
        EventKind::Trigger { node, what, fault } => {
            on(node, format!("trigger: {fault}"), "fault").arg("what", what.as_str())
        }
        EventKind::Crash { node } => on(node, "crash".into(), "fault"),
        EventKind::Start {
            node,
            restart: true,
        } => on(node, "restart".into(), "fault"),
        EventKind::Halt { reason } => {
            // Global, so the tid only has to name a thread that exists: n0's.
            let mut halt = on(&NodeId(0), "halt".into(), "halt").arg("reason", reason.as_str());
            halt.s = Some("g");
            halt
        }
        EventKind::Send { .. }
        | EventKind::Deliver { .. }
        | EventKind::Start { restart: false, .. }
        | EventKind::Pause { .. }
        | EventKind::Resume { .. }
        | EventKind::Slow { .. }
        | EventKind::SlowEnd { .. }
        | EventKind::Partition { .. }
        | EventKind::Heal { .. } => return None,
    };
    Some(instant)
}

fn tid(node: NodeId) -> u32 {
    node.0.saturating_add(1)
}

fn marker(mut slice: TraceEvent, dur_ns: u64) -> TraceEvent {
    slice.cat = Some("msg");
    slice.dur = Some(dur_ns as f64 / 1_000.0);
    slice
}

fn flow_event(ph: &'static str, id: u64, tid: u32, at_ns: u64) -> TraceEvent {
    let mut event = TraceEvent::new(ph, "msg", tid, at_ns as f64);
    event.cat = Some("msg");
    event.id = Some(id);
    event
}

/// Where an event goes among those with the same timestamp. Perfetto binds a flow event to
/// the innermost slice open on its thread when it reads the flow, and an instant counts as open
/// until the thread's next slice; so at one instant the long slices come first (the shorter ones
/// nest in them), then the message slices, then their flow events, and the instants last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    ts_ns: u64,
    rank: Rank,
    longest_first: Reverse<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Span,
    Marker,
    Flow,
    Instant,
}

impl Order {
    fn new(ts_ns: u64, rank: Rank, duration: u64) -> Self {
        Order {
            ts_ns,
            rank,
            longest_first: Reverse(duration),
        }
    }
}

/// Threads for every node the trace declares, and for any node an event names beyond that.
fn lane_count(trace: &Trace) -> u32 {
    let named = trace
        .events
        .iter()
        .flat_map(|e| match &e.kind {
            EventKind::Send { from, to, .. }
            | EventKind::Deliver { from, to, .. }
            | EventKind::Drop { from, to, .. } => vec![*from, *to],
            other => other.node().into_iter().collect(),
        })
        .map(|node| node.0.saturating_add(1))
        .max()
        .unwrap_or(0);
    named.max(trace.nodes)
}

fn metadata(trace: &Trace, lanes: u32, with_network: bool) -> Vec<TraceEvent> {
    // Every event names a thread, even this one; n0's is one that exists anyway.
    let mut events = vec![TraceEvent::metadata(
        "process_name",
        tid(NodeId(0)),
        "name",
        format!("simulation seed {}", trace.seed),
    )];
    let nodes = (0..lanes).map(|index| (tid(NodeId(index)), NodeId(index).to_string(), index + 1));
    // Sort index 0 puts the network first in chrome://tracing (Perfetto ignores it).
    let network = with_network.then(|| (lanes.saturating_add(1), "network".to_string(), 0));
    for (tid, name, sort_index) in network.into_iter().chain(nodes) {
        events.push(TraceEvent::metadata("thread_name", tid, "name", name));
        let sort = TraceEvent::metadata("thread_sort_index", tid, "sort_index", sort_index);
        events.push(sort);
    }
    events
}

/// The flow ids of each message's deliveries, in delivery order. The first delivery's flow
/// takes the message id; a duplicate needs its own id (a flow id joins one start to one end),
/// so duplicates count on from above the largest message id.
fn flow_ids(trace: &Trace) -> BTreeMap<u64, Vec<u64>> {
    let largest = trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Send { id, .. }
            | EventKind::Deliver { id, .. }
            | EventKind::Drop { id, .. } => Some(*id),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let sent: BTreeSet<u64> = trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Send { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let mut next_spare = largest.saturating_add(1);
    let mut flows: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for event in &trace.events {
        if let EventKind::Deliver { id, .. } = &event.kind
            && sent.contains(id)
        {
            let ids = flows.entry(*id).or_default();
            if ids.is_empty() {
                ids.push(*id);
            } else {
                ids.push(next_spare);
                next_spare = next_spare.saturating_add(1);
            }
        }
    }
    flows
}

/// A stretch of time drawn as a complete slice on one thread.
#[derive(Clone, Debug)]
struct Span {
    tid: u32,
    name: String,
    cat: &'static str,
    start: u64,
    end: u64,
    args: BTreeMap<&'static str, Value>,
}

/// Crash downtime, pauses and slow periods per node, and partitions on the network thread,
/// each paired with the event that ends it. One with no end runs to its planned end (pause,
/// slow) or to the end of the trace (crash, partition).
fn spans(trace: &Trace, network_tid: u32) -> Vec<Span> {
    let trace_end = trace
        .events
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or(Time::ZERO);
    let mut spans = Vec::new();
    let mut down: BTreeMap<NodeId, Time> = BTreeMap::new();
    let mut paused: BTreeMap<NodeId, (Time, Time)> = BTreeMap::new();
    let mut slow: BTreeMap<NodeId, (Time, Time, u64)> = BTreeMap::new();
    let mut partitions: BTreeMap<u64, (Time, String, Vec<String>)> = BTreeMap::new();
    let span = |tid: u32, name: &str, cat: &'static str, start: Time, end: Time| Span {
        tid,
        name: name.to_string(),
        cat,
        start: start.as_nanos(),
        end: end.max(start).as_nanos(),
        args: BTreeMap::from([
            ("from", Value::from(start.to_string())),
            ("to", Value::from(end.max(start).to_string())),
        ]),
    };
    let slow_span = |node: NodeId, start: Time, end: Time, per_event_ns: u64| {
        let mut slow = span(tid(node), "slow", "fault", start, end);
        slow.args.insert("per_event_ns", per_event_ns.into());
        slow
    };
    let partition_span =
        |start: Time, end: Time, id: u64, description: &str, blocked: &[String]| {
            let mut partition = span(network_tid, description, "partition", start, end);
            partition.args.insert("id", id.into());
            partition.args.insert("blocked", blocked.into());
            partition
        };
    for event in &trace.events {
        let at = event.time;
        match &event.kind {
            EventKind::Crash { node } => {
                down.entry(*node).or_insert(at);
            }
            EventKind::Start { node, .. } => {
                if let Some(start) = down.remove(node) {
                    spans.push(span(tid(*node), "crashed", "fault", start, at));
                }
            }
            EventKind::Pause { node, until } => {
                paused.entry(*node).or_insert((at, *until));
            }
            EventKind::Resume { node } => {
                if let Some((start, _)) = paused.remove(node) {
                    spans.push(span(tid(*node), "paused", "fault", start, at));
                }
            }
            EventKind::Slow {
                node,
                per_event_ns,
                until,
            } => {
                slow.entry(*node).or_insert((at, *until, *per_event_ns));
            }
            EventKind::SlowEnd { node } => {
                if let Some((start, _, per_event_ns)) = slow.remove(node) {
                    spans.push(slow_span(*node, start, at, per_event_ns));
                }
            }
            EventKind::Partition {
                id,
                description,
                blocked,
            } => {
                let links = blocked.iter().map(|(a, b)| format!("{a}→{b}")).collect();
                partitions
                    .entry(*id)
                    .or_insert((at, description.clone(), links));
            }
            EventKind::Heal { id, .. } => {
                if let Some((start, description, blocked)) = partitions.remove(id) {
                    spans.push(partition_span(start, at, *id, &description, &blocked));
                }
            }
            _ => {}
        }
    }
    for (node, start) in down {
        spans.push(span(tid(node), "crashed", "fault", start, trace_end));
    }
    for (node, (start, until)) in paused {
        spans.push(span(
            tid(node),
            "paused",
            "fault",
            start,
            until.min(trace_end),
        ));
    }
    for (node, (start, until, per_event_ns)) in slow {
        spans.push(slow_span(node, start, until.min(trace_end), per_event_ns));
    }
    for (id, (start, description, blocked)) in partitions {
        spans.push(partition_span(start, trace_end, id, &description, &blocked));
    }
    // An empty slice would nest inside a message slice at the same instant and capture its
    // flow; the crash and restart instants still mark the moment.
    spans.retain(|span| span.end > span.start);
    spans
}

/// Splits spans that overlap without nesting (a crash during a slow period, two partitions
/// that overlap), thread by thread: trace viewers stack a thread's slices and mangle one that
/// ends after the slice it started inside.
fn nest_per_thread(spans: Vec<Span>) -> Vec<Span> {
    let mut by_thread: BTreeMap<u32, Vec<Span>> = BTreeMap::new();
    for span in spans {
        by_thread.entry(span.tid).or_default().push(span);
    }
    by_thread.into_values().flat_map(nest).collect()
}

fn nest(mut pending: Vec<Span>) -> Vec<Span> {
    let key = |s: &Span| (s.start, Reverse(s.end));
    pending.sort_by_key(key);
    pending.reverse();
    let mut nested = Vec::new();
    let mut open_ends: Vec<u64> = Vec::new();
    while let Some(mut span) = pending.pop() {
        while open_ends.last().is_some_and(|&end| end <= span.start) {
            open_ends.pop();
        }
        if let Some(&enclosing_end) = open_ends.last()
            && span.end > enclosing_end
        {
            let mut rest = span.clone();
            rest.start = enclosing_end;
            span.end = enclosing_end;
            // `pending` is in descending order so that pop takes the earliest.
            let at = pending.partition_point(|s| key(s) > key(&rest));
            pending.insert(at, rest);
        }
        open_ends.push(span.end);
        nested.push(span);
    }
    nested
}

/// Places the short slices that message arrows attach to. On one thread they never overlap
/// each other (a flow binds to the innermost slice, so two sends at one instant need two
/// slices one after the other) and never straddle the start or end of a longer slice.
struct Markers {
    free_from: BTreeMap<u32, u64>,
    boundaries: BTreeMap<u32, BTreeSet<u64>>,
    deliveries: BTreeMap<u64, usize>,
}

impl Markers {
    fn new(spans: &[Span]) -> Self {
        let mut boundaries: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
        for span in spans {
            let thread = boundaries.entry(span.tid).or_default();
            thread.insert(span.start);
            thread.insert(span.end);
        }
        Markers {
            free_from: BTreeMap::new(),
            boundaries,
            deliveries: BTreeMap::new(),
        }
    }

    /// The start and duration (ns) of the next marker slice on `tid` for an event at `at`.
    fn place(&mut self, tid: u32, at: Time) -> (u64, u64) {
        let free_from = self.free_from.entry(tid).or_insert(0);
        let start = at.as_nanos().max(*free_from);
        let next_boundary = self
            .boundaries
            .get(&tid)
            .and_then(|b| b.range(start.saturating_add(1)..).next().copied());
        let duration = next_boundary.map_or(MARKER_NS, |b| (b - start).min(MARKER_NS));
        *free_from = start + duration;
        (start, duration)
    }

    /// How many times message `id` was delivered before this delivery.
    fn delivered(&mut self, id: u64) -> usize {
        let count = self.deliveries.entry(id).or_insert(0);
        *count += 1;
        *count - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;

    fn at(ms: u64, kind: EventKind) -> Event {
        at_ns(ms * 1_000_000, kind)
    }

    fn at_ns(ns: u64, kind: EventKind) -> Event {
        Event {
            time: Time(ns),
            kind,
        }
    }

    fn send(ms: u64, from: u32, to: u32, id: u64) -> Event {
        at(
            ms,
            EventKind::Send {
                from: NodeId(from),
                to: NodeId(to),
                id,
                msg: format!("Ping({id})"),
            },
        )
    }

    fn deliver(ms: u64, sent_ms: u64, from: u32, to: u32, id: u64, duplicate: bool) -> Event {
        at(
            ms,
            EventKind::Deliver {
                from: NodeId(from),
                to: NodeId(to),
                id,
                msg: format!("Ping({id})"),
                sent: Time::from_millis(sent_ms),
                duplicate,
            },
        )
    }

    fn sample() -> Trace {
        let n = NodeId;
        Trace {
            seed: 7,
            nodes: 3,
            events: vec![
                at(
                    0,
                    EventKind::Start {
                        node: n(0),
                        restart: false,
                    },
                ),
                send(1, 0, 1, 1),
                deliver(4, 1, 0, 1, 1, false),
                send(5, 1, 2, 2),
                at(
                    5,
                    EventKind::Drop {
                        from: n(1),
                        to: n(2),
                        id: 2,
                        msg: "Ping(2)".into(),
                        sent: Time::from_millis(5),
                        reason: DropReason::Lost,
                    },
                ),
                at(
                    6,
                    EventKind::Note {
                        node: n(1),
                        text: "became leader".into(),
                    },
                ),
                at(
                    7,
                    EventKind::Timer {
                        node: n(2),
                        timer: "Tick".into(),
                    },
                ),
                at(
                    8,
                    EventKind::Partition {
                        id: 1,
                        description: "{n0} | {n1 n2}".into(),
                        blocked: vec![(n(0), n(1)), (n(1), n(0))],
                    },
                ),
                at(
                    12,
                    EventKind::Heal {
                        id: 1,
                        description: "{n0} | {n1 n2}".into(),
                    },
                ),
                at(
                    20,
                    EventKind::Pause {
                        node: n(2),
                        until: Time::from_millis(26),
                    },
                ),
                at(25, EventKind::Resume { node: n(2) }),
                at(30, EventKind::Crash { node: n(1) }),
                at(
                    35,
                    EventKind::Start {
                        node: n(1),
                        restart: true,
                    },
                ),
                at(
                    36,
                    EventKind::ClockStep {
                        node: n(0),
                        by_ns: -2_000_000,
                    },
                ),
                at(
                    37,
                    EventKind::Request {
                        node: n(0),
                        client: 1,
                        op: 1,
                        request: "Get(x)".into(),
                    },
                ),
                at(
                    38,
                    EventKind::Response {
                        node: n(0),
                        client: 1,
                        op: 1,
                        response: "None".into(),
                    },
                ),
                at(
                    40,
                    EventKind::Halt {
                        reason: "monitor failed".into(),
                    },
                ),
            ],
            states: Vec::new(),
        }
    }

    fn parse(trace: &Trace) -> Vec<Value> {
        let json: Value = serde_json::from_str(&render(trace)).expect("valid JSON");
        assert_eq!(json["displayTimeUnit"], "ms");
        json["traceEvents"]
            .as_array()
            .expect("a traceEvents array")
            .clone()
    }

    fn find(events: &[Value], test: impl Fn(&Value) -> bool) -> Vec<&Value> {
        events.iter().filter(|e| test(e)).collect()
    }

    fn ts_ns(event: &Value) -> u64 {
        (event["ts"].as_f64().expect("ts") * 1_000.0).round() as u64
    }

    fn end_ns(event: &Value) -> u64 {
        ts_ns(event) + (event["dur"].as_f64().expect("dur") * 1_000.0).round() as u64
    }

    /// The `X` slice on `event`'s thread that it falls in and that nothing shorter does.
    fn enclosing_marker<'a>(events: &'a [Value], event: &Value) -> &'a Value {
        let inside = find(events, |e| {
            e["ph"] == "X"
                && e["cat"] == "msg"
                && e["tid"] == event["tid"]
                && ts_ns(e) <= ts_ns(event)
                && ts_ns(event) < end_ns(e)
        });
        assert_eq!(inside.len(), 1, "one marker slice around {event}");
        inside[0]
    }

    /// Every thread's `X` slices nest: none ends after the slice it starts inside.
    fn assert_nested(events: &[Value]) {
        let mut slices: Vec<(u64, u64, u64)> = find(events, |e| e["ph"] == "X")
            .into_iter()
            .map(|e| (e["tid"].as_u64().expect("tid"), ts_ns(e), end_ns(e)))
            .collect();
        slices.sort_by_key(|&(tid, start, end)| (tid, start, std::cmp::Reverse(end)));
        let mut open: Vec<(u64, u64)> = Vec::new();
        for (tid, start, end) in slices {
            while open.last().is_some_and(|&(t, e)| t != tid || e <= start) {
                open.pop();
            }
            if let Some(&(_, enclosing_end)) = open.last() {
                assert!(
                    end <= enclosing_end,
                    "slice {start}..{end} on {tid} straddles {enclosing_end}"
                );
            }
            open.push((tid, end));
        }
    }

    #[test]
    fn metadata_names_the_process_and_one_thread_per_node() {
        let events = parse(&sample());
        let process = find(&events, |e| e["ph"] == "M" && e["name"] == "process_name");
        assert_eq!(process.len(), 1);
        assert_eq!(process[0]["args"]["name"], "simulation seed 7");
        assert_eq!(process[0]["pid"], 1);
        let thread = |tid: u64| {
            find(&events, |e| {
                e["ph"] == "M" && e["name"] == "thread_name" && e["tid"] == tid
            })
            .first()
            .map(|e| e["args"]["name"].clone())
        };
        assert_eq!(thread(0), None, "Perfetto takes tid 0 for no thread");
        assert_eq!(thread(4), Some(Value::from("network")));
        assert_eq!(thread(1), Some(Value::from("n0")));
        assert_eq!(thread(3), Some(Value::from("n2")));
        assert_eq!(thread(5), None);
        let sort_index = |tid: u64| {
            let sort = find(&events, |e| {
                e["name"] == "thread_sort_index" && e["tid"] == tid
            });
            sort[0]["args"]["sort_index"].clone()
        };
        assert_eq!(sort_index(2), 2);
        assert_eq!(sort_index(4), 0, "the network thread first");
    }

    #[test]
    fn a_delivered_message_is_a_flow_from_the_send_slice_to_the_receive_slice() {
        let events = parse(&sample());
        let starts = find(&events, |e| e["ph"] == "s");
        assert_eq!(starts.len(), 1, "one flow: the lost message has none");
        let start = starts[0];
        assert_eq!(
            (
                start["cat"].clone(),
                start["id"].clone(),
                start["tid"].clone()
            ),
            ("msg".into(), 1.into(), 1.into())
        );
        let ends = find(&events, |e| e["ph"] == "f" && e["id"] == start["id"]);
        assert_eq!(ends.len(), 1);
        let end = ends[0];
        assert_eq!(
            (end["tid"].clone(), end["bp"].clone(), end["name"].clone()),
            (2.into(), "e".into(), start["name"].clone())
        );

        let sent = enclosing_marker(&events, start);
        assert_eq!(sent["name"], "send → n1");
        assert_eq!(sent["ts"], 1_000.0);
        assert_eq!(sent["dur"], 1.0);
        assert_eq!(sent["args"]["msg"], "Ping(1)");
        let received = enclosing_marker(&events, end);
        assert_eq!(received["name"], "recv ← n0");
        assert_eq!(received["ts"], 4_000.0);
        assert_eq!(received["args"]["msg"], "Ping(1)");
        let position = |e: &Value| events.iter().position(|x| x == e).expect("present");
        assert!(
            position(sent) < position(start),
            "the slice comes before the flow bound to it"
        );
    }

    #[test]
    fn a_pause_is_a_complete_event_in_microseconds() {
        let events = parse(&sample());
        let pauses = find(&events, |e| e["ph"] == "X" && e["name"] == "paused");
        assert_eq!(pauses.len(), 1);
        assert_eq!(pauses[0]["tid"], 3);
        assert_eq!(pauses[0]["ts"], 20_000.0);
        assert_eq!(pauses[0]["dur"], 5_000.0);
        let down = find(&events, |e| e["ph"] == "X" && e["name"] == "crashed");
        assert_eq!(
            (
                down[0]["tid"].clone(),
                down[0]["ts"].clone(),
                down[0]["dur"].clone()
            ),
            (2.into(), 30_000.0.into(), 5_000.0.into())
        );
    }

    #[test]
    fn partitions_sit_on_the_network_thread_and_a_halt_is_global() {
        let events = parse(&sample());
        let partition = find(&events, |e| e["ph"] == "X" && e["cat"] == "partition");
        assert_eq!(partition.len(), 1);
        assert_eq!(partition[0]["tid"], 4);
        assert_eq!(partition[0]["name"], "{n0} | {n1 n2}");
        assert_eq!(
            (partition[0]["ts"].clone(), partition[0]["dur"].clone()),
            (8_000.0.into(), 4_000.0.into())
        );
        assert_eq!(
            partition[0]["args"]["blocked"],
            serde_json::json!(["n0→n1", "n1→n0"])
        );
        let halt = find(&events, |e| e["name"] == "halt");
        assert_eq!(
            (halt[0]["ph"].clone(), halt[0]["s"].clone()),
            ("i".into(), "g".into())
        );
        let note = find(&events, |e| e["name"] == "became leader");
        assert_eq!(
            (
                note[0]["ph"].clone(),
                note[0]["s"].clone(),
                note[0]["tid"].clone()
            ),
            ("i".into(), "t".into(), 2.into())
        );
        let lost = find(&events, |e| e["cat"] == "drop");
        assert_eq!(
            (
                lost[0]["name"].clone(),
                lost[0]["tid"].clone(),
                lost[0]["ts"].clone()
            ),
            ("lost → n2".into(), 2.into(), 5_000.0.into())
        );
    }

    #[test]
    fn the_same_trace_gives_the_same_bytes() {
        let trace = sample();
        assert_eq!(render(&trace), render(&trace.clone()));
        assert_ne!(render(&trace), render(&Trace { seed: 8, ..trace }));
    }

    #[test]
    fn a_duplicate_delivery_gets_its_own_flow_and_simultaneous_sends_their_own_slices() {
        let trace = Trace {
            seed: 1,
            nodes: 3,
            events: vec![
                send(1, 0, 1, 5),
                send(1, 0, 2, 6),
                deliver(3, 1, 0, 1, 5, false),
                deliver(3, 1, 0, 2, 6, false),
                deliver(4, 1, 0, 1, 5, true),
            ],
            states: Vec::new(),
        };
        let events = parse(&trace);
        let starts = find(&events, |e| e["ph"] == "s");
        let ends = find(&events, |e| e["ph"] == "f");
        let ids = |flows: &[&Value]| -> BTreeSet<u64> {
            flows
                .iter()
                .map(|e| e["id"].as_u64().expect("id"))
                .collect()
        };
        assert_eq!(ids(&starts), BTreeSet::from([5, 6, 7]));
        assert_eq!(ids(&ends), ids(&starts));
        let send_slices: BTreeSet<u64> = starts
            .iter()
            .map(|s| ts_ns(enclosing_marker(&events, s)))
            .collect();
        assert_eq!(send_slices.len(), 2, "two sends at one instant, two slices");
        let duplicate = find(&events, |e| e["ph"] == "f" && e["id"] == 7);
        assert_eq!(
            enclosing_marker(&events, duplicate[0])["name"],
            "recv ← n0 (duplicate)"
        );
        assert_nested(&events);
    }

    #[test]
    fn overlapping_faults_and_markers_near_their_edges_still_nest() {
        let n = NodeId;
        let trace = Trace {
            seed: 1,
            nodes: 2,
            events: vec![
                at(
                    10,
                    EventKind::Slow {
                        node: n(0),
                        per_event_ns: 5,
                        until: Time::from_millis(30),
                    },
                ),
                at(20, EventKind::Crash { node: n(0) }),
                at_ns(
                    9_999_800,
                    EventKind::Send {
                        from: n(0),
                        to: n(1),
                        id: 1,
                        msg: "edge".into(),
                    },
                ),
                at(30, EventKind::SlowEnd { node: n(0) }),
                at(
                    40,
                    EventKind::Start {
                        node: n(0),
                        restart: true,
                    },
                ),
                at(
                    41,
                    EventKind::Partition {
                        id: 1,
                        description: "a".into(),
                        blocked: vec![],
                    },
                ),
                at(
                    43,
                    EventKind::Partition {
                        id: 2,
                        description: "b".into(),
                        blocked: vec![],
                    },
                ),
                at(
                    45,
                    EventKind::Heal {
                        id: 1,
                        description: "a".into(),
                    },
                ),
                at(
                    50,
                    EventKind::Note {
                        node: n(1),
                        text: "end".into(),
                    },
                ),
            ],
            states: Vec::new(),
        };
        let events = parse(&trace);
        assert_nested(&events);
        let crashed = find(&events, |e| e["name"] == "crashed");
        assert_eq!(
            crashed.len(),
            2,
            "the crash is split where the slow period ends"
        );
        let edge = find(&events, |e| e["name"] == "send → n1");
        assert_eq!(
            edge[0]["dur"], 0.2,
            "cut short where the slow period begins"
        );
        let unhealed = find(&events, |e| e["name"] == "b");
        assert_eq!(
            unhealed.len(),
            2,
            "split where partition a heals, then runs to the end"
        );
        assert_eq!(end_ns(unhealed[1]), 50_000_000);
    }

    #[test]
    fn the_nesting_check_catches_a_straddling_slice() {
        let straddling = serde_json::json!([
            {"ph": "X", "tid": 1, "ts": 0.0, "dur": 10.0},
            {"ph": "X", "tid": 1, "ts": 5.0, "dur": 10.0},
        ]);
        let events = straddling.as_array().expect("array").clone();
        assert!(std::panic::catch_unwind(|| assert_nested(&events)).is_err());
    }

    #[test]
    fn at_one_instant_flows_come_before_instants_and_empty_spans_are_left_out() {
        let n = NodeId;
        let trace = Trace {
            seed: 1,
            nodes: 2,
            events: vec![
                at(2, EventKind::Crash { node: n(1) }),
                at(
                    2,
                    EventKind::Start {
                        node: n(1),
                        restart: true,
                    },
                ),
                at(
                    5,
                    EventKind::Timer {
                        node: n(0),
                        timer: "Tick".into(),
                    },
                ),
                send(5, 0, 1, 1),
                deliver(6, 5, 0, 1, 1, false),
                at(
                    6,
                    EventKind::Note {
                        node: n(1),
                        text: "got it".into(),
                    },
                ),
            ],
            states: Vec::new(),
        };
        let events = parse(&trace);
        let position =
            |test: &dyn Fn(&Value) -> bool| events.iter().position(test).expect("present");
        let timer = position(&|e| e["name"] == "timer Tick");
        let flow_start = position(&|e| e["ph"] == "s");
        assert!(
            flow_start < timer,
            "the timer instant would capture the flow"
        );
        let note = position(&|e| e["name"] == "got it");
        let flow_end = position(&|e| e["ph"] == "f");
        assert!(flow_end < note);
        assert!(find(&events, |e| e["name"] == "crashed").is_empty());
        assert_eq!(
            find(&events, |e| e["name"] == "crash" || e["name"] == "restart").len(),
            2
        );
    }
}

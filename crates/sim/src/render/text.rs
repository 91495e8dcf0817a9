//! The plain-text timeline: one line per event, fixed columns, stable enough for snapshots.
//!
//! ```text
//!      0.000ms  n0    send #1 → n1  Ping(0)
//!      1.000ms  n1    recv #1 ← n0  Ping(0)
//!      2.000ms  n0    lost #3 → n1  Ping(1)
//!     50.000ms  net   PARTITION #1 {n0} | {n1 n2}
//! ```

use crate::time::{NodeId, Time};
use crate::trace::{DropReason, Event, EventKind, Trace};
use std::fmt::Write;

/// One line for one event, without a trailing newline.
pub fn line(event: &Event) -> String {
    let lane = match event.kind.node() {
        Some(node) => node.to_string(),
        None => "net".to_string(),
    };
    format!(
        "{:>12}  {:<5} {}",
        event.time.to_string(),
        lane,
        describe(&event.kind)
    )
    .trim_end()
    .to_string()
}

fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::Start { restart: false, .. } => "start".into(),
        EventKind::Start { restart: true, .. } => "RESTART (from durable state)".into(),
        EventKind::Crash { .. } => "CRASH".into(),
        EventKind::Send { to, id, msg, .. } => format!("send #{id} → {to}  {msg}"),
        EventKind::Deliver {
            from,
            id,
            msg,
            duplicate,
            ..
        } => {
            let dup = if *duplicate { " (duplicate)" } else { "" };
            format!("recv #{id} ← {from}  {msg}{dup}")
        }
        EventKind::Drop {
            from,
            to,
            id,
            msg,
            reason,
            ..
        } => match reason {
            DropReason::Lost => format!("lost #{id} → {to}  {msg}"),
            DropReason::Partitioned => format!("drop #{id} ← {from} (partitioned)  {msg}"),
            DropReason::NodeDown => format!("drop #{id} ← {from} (node down)  {msg}"),
            DropReason::QueueFull => format!("drop #{id} ← {from} (queue full)  {msg}"),
        },
        EventKind::Timer { timer, .. } => format!("timer {timer}"),
        EventKind::Note { text, .. } => format!("» {text}"),
        EventKind::Pause { until, .. } => format!("PAUSE until {until}"),
        EventKind::Resume { .. } => "resume (queued events follow)".into(),
        EventKind::Slow {
            per_event_ns,
            until,
            ..
        } => format!("SLOW +{} per event until {until}", Time(*per_event_ns)),
        EventKind::SlowEnd { .. } => "full speed again".into(),
        EventKind::Partition {
            id, description, ..
        } => format!("PARTITION #{id} {description}"),
        EventKind::Heal { id, description } => format!("HEAL #{id} {description}"),
        EventKind::ClockStep { by_ns, .. } => {
            let sign = if *by_ns < 0 { "-" } else { "+" };
            format!("wall clock steps {sign}{}", Time(by_ns.unsigned_abs()))
        }
        EventKind::Request {
            client,
            op,
            request,
            ..
        } => format!("request c{client}#{op}  {request}"),
        EventKind::Response {
            client,
            op,
            response,
            ..
        } => format!("reply c{client}#{op}  {response}"),
        EventKind::Timeout { client, op, .. } => {
            format!("timeout c{client}#{op} (outcome unknown)")
        }
        EventKind::Trigger { what, fault, .. } => format!("TRIGGER {what} → {fault}"),
        EventKind::Halt { reason } => format!("HALT {reason}"),
    }
}

/// Which events a rendering shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only events at or after this time.
    pub from: Option<Time>,
    /// Only events at or before this time.
    pub to: Option<Time>,
    /// Only events on these nodes' lanes (and network-wide ones); all when empty.
    pub nodes: Vec<NodeId>,
    /// Leave out timer firings (they can crowd out everything else).
    pub hide_timers: bool,
}

impl Filter {
    /// Whether the event passes.
    pub fn accepts(&self, event: &Event) -> bool {
        if self.from.is_some_and(|from| event.time < from)
            || self.to.is_some_and(|to| event.time > to)
        {
            return false;
        }
        if self.hide_timers && matches!(event.kind, EventKind::Timer { .. }) {
            return false;
        }
        match event.kind.node() {
            Some(node) if !self.nodes.is_empty() => self.nodes.contains(&node),
            _ => true,
        }
    }
}

/// The whole trace, one line per event.
pub fn render(trace: &Trace) -> String {
    render_filtered(trace, &Filter::default())
}

/// The events that pass `filter`, one line each.
pub fn render_filtered(trace: &Trace, filter: &Filter) -> String {
    let mut out = String::new();
    for event in trace.events.iter().filter(|e| filter.accepts(e)) {
        let _ = writeln!(out, "{}", line(event));
    }
    out
}

/// The last `count` events, with a line saying how many came before.
pub fn tail(trace: &Trace, count: usize) -> String {
    let skip = trace.events.len().saturating_sub(count);
    let mut out = String::new();
    if skip > 0 {
        let _ = writeln!(out, "{:>12}  ({skip} earlier events)", "...");
    }
    for event in &trace.events[skip..] {
        let _ = writeln!(out, "{}", line(event));
    }
    out
}

/// The stretch of the trace around `at`: up to `before` events before it and `after` after it.
pub fn around(trace: &Trace, at: Time, before: usize, after: usize) -> String {
    let pivot = trace.events.partition_point(|e| e.time <= at);
    let start = pivot.saturating_sub(before);
    let end = (pivot + after).min(trace.events.len());
    let mut out = String::new();
    if start > 0 {
        let _ = writeln!(out, "{:>12}  ({start} earlier events)", "...");
    }
    for event in &trace.events[start..end] {
        let _ = writeln!(out, "{}", line(event));
    }
    if end < trace.events.len() {
        let _ = writeln!(
            out,
            "{:>12}  ({} later events)",
            "...",
            trace.events.len() - end
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ms: u64, kind: EventKind) -> Event {
        Event {
            time: Time::from_millis(ms),
            kind,
        }
    }

    #[test]
    fn lines_have_fixed_columns() {
        let trace = Trace {
            seed: 1,
            nodes: 2,
            events: vec![
                ev(
                    0,
                    EventKind::Send {
                        from: NodeId(0),
                        to: NodeId(1),
                        id: 1,
                        msg: "Ping".into(),
                    },
                ),
                ev(
                    1234,
                    EventKind::Drop {
                        from: NodeId(0),
                        to: NodeId(1),
                        id: 1,
                        msg: "Ping".into(),
                        sent: Time::ZERO,
                        reason: DropReason::Partitioned,
                    },
                ),
                ev(
                    1500,
                    EventKind::Heal {
                        id: 1,
                        description: "{n0} | {n1}".into(),
                    },
                ),
            ],
            states: Vec::new(),
        };
        let expected = [
            "     0.000ms  n0    send #1 → n1  Ping",
            "  1234.000ms  n1    drop #1 ← n0 (partitioned)  Ping",
            "  1500.000ms  net   HEAL #1 {n0} | {n1}",
        ];
        assert_eq!(render(&trace), expected.map(|l| format!("{l}\n")).concat());
    }

    #[test]
    fn around_and_tail_elide_with_counts() {
        let events: Vec<Event> = (0..10)
            .map(|i| {
                ev(
                    i,
                    EventKind::Note {
                        node: NodeId(0),
                        text: format!("e{i}"),
                    },
                )
            })
            .collect();
        let trace = Trace {
            seed: 0,
            nodes: 1,
            events,
            states: Vec::new(),
        };
        let near = around(&trace, Time::from_millis(5), 2, 1);
        assert!(near.contains("(4 earlier events)"), "{near}");
        assert!(near.contains("» e4") && near.contains("» e5") && near.contains("» e6"));
        assert!(!near.contains("» e7") && near.contains("(3 later events)"));
        let end = tail(&trace, 3);
        assert!(end.contains("(7 earlier events)") && end.contains("» e9"));
    }
}

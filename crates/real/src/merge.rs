//! One timeline from many processes: their events, each stamped on the machine's monotonic
//! clock since the run's epoch, put in order of time, with message ids renumbered 1, 2, 3... in
//! the order the merged timeline first mentions them.
//!
//! The order is only as good as the clocks: on one machine every process reads the same
//! monotonic clock, but an event is stamped when the process gets to it, so two events less
//! than a scheduling delay apart may come out in either order.

use sim::{Event, EventKind, Trace};
use std::collections::BTreeMap;

/// Events as they come from the processes, released in order once they are old enough that
/// nothing earlier can still arrive (a window of lateness), with ids renumbered.
#[derive(Debug, Default)]
pub struct Merger {
    pending: Vec<Event>,
    released: Vec<Event>,
    ids: BTreeMap<u64, u64>,
}

impl Merger {
    /// A merger with nothing yet.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// One event from one process.
    pub fn push(&mut self, event: Event) {
        self.pending.push(event);
    }

    /// The events stamped at or before `upto`, in order of time, renumbered. Events of the same
    /// instant keep the order they were pushed in.
    pub fn release(&mut self, upto: sim::Time) -> Vec<Event> {
        self.pending.sort_by_key(|e| e.time);
        let cut = self.pending.partition_point(|e| e.time <= upto);
        let ready: Vec<Event> = self.pending.drain(..cut).collect();
        let ready: Vec<Event> = ready.into_iter().map(|e| self.renumber(e)).collect();
        self.released.extend(ready.iter().cloned());
        ready
    }

    /// Changes an event already released (the conductor learns when a pause ends only at
    /// its end): the first released event for which `find` holds.
    pub fn amend(&mut self, find: impl Fn(&Event) -> bool, change: impl FnOnce(&mut Event)) {
        if let Some(event) = self
            .released
            .iter_mut()
            .chain(self.pending.iter_mut())
            .find(|e| find(e))
        {
            change(event);
        }
    }

    /// Everything, released or not, as one trace in order of time.
    pub fn finish(mut self, seed: u64, nodes: u32) -> (Trace, Vec<Event>) {
        let rest = self.release(sim::Time::MAX);
        let mut events = self.released;
        events.sort_by_key(|e| e.time);
        (
            Trace {
                seed,
                nodes,
                events,
                states: Vec::new(),
            },
            rest,
        )
    }

    fn renumber(&mut self, mut event: Event) -> Event {
        let next = self.ids.len() as u64 + 1;
        match &mut event.kind {
            EventKind::Send { id, .. }
            | EventKind::Deliver { id, .. }
            | EventKind::Drop { id, .. } => {
                *id = *self.ids.entry(*id).or_insert(next);
            }
            _ => {}
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::{NodeId, Time};

    fn send(at: u64, id: u64) -> Event {
        Event {
            time: Time(at),
            kind: EventKind::Send {
                from: NodeId(0),
                to: NodeId(1),
                id,
                msg: "Ping".into(),
            },
        }
    }

    fn deliver(at: u64, id: u64) -> Event {
        Event {
            time: Time(at),
            kind: EventKind::Deliver {
                from: NodeId(0),
                to: NodeId(1),
                id,
                msg: "Ping".into(),
                sent: Time(0),
                duplicate: false,
            },
        }
    }

    #[test]
    fn events_come_out_in_time_order_and_ids_count_from_one() {
        let mut merger = Merger::new();
        merger.push(deliver(30, 7 << 44));
        merger.push(send(10, 7 << 44));
        merger.push(send(20, 9 << 44));
        let first = merger.release(Time(25));
        assert_eq!(first, vec![send(10, 1), send(20, 2)]);
        let (trace, rest) = merger.finish(1, 2);
        assert_eq!(rest, vec![deliver(30, 1)]);
        assert_eq!(trace.events, vec![send(10, 1), send(20, 2), deliver(30, 1)]);
    }

    #[test]
    fn a_late_event_still_lands_in_order_in_the_final_trace() {
        let mut merger = Merger::new();
        merger.push(send(20, 1));
        assert_eq!(merger.release(Time(25)).len(), 1);
        merger.push(send(10, 2));
        let (trace, _) = merger.finish(1, 2);
        let times: Vec<u64> = trace.events.iter().map(|e| e.time.0).collect();
        assert_eq!(times, vec![10, 20]);
    }
}

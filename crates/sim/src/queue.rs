//! The event queue: events ordered by time, and by the order they were scheduled among events
//! at the same time. Events at one instant share a FIFO bucket, so scheduling order needs no
//! sequence number, and bursts of simultaneous events (the common case: constant latencies,
//! timers set together) cost one map lookup per bucket instead of a heap sift per event.

use crate::time::Time;
use std::collections::{BTreeMap, VecDeque};

pub(crate) struct Queue<T> {
    buckets: BTreeMap<Time, VecDeque<T>>,
    /// Emptied buckets kept for reuse, so a steady run stops allocating.
    spare: Vec<VecDeque<T>>,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            buckets: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, time: Time, item: T) {
        self.buckets
            .entry(time)
            .or_insert_with(|| self.spare.pop().unwrap_or_default())
            .push_back(item);
    }

    /// The time of the next event, if any.
    pub(crate) fn next_time(&self) -> Option<Time> {
        self.buckets.first_key_value().map(|(t, _)| *t)
    }

    /// The next event: the earliest time, and among those the first scheduled.
    pub(crate) fn pop(&mut self) -> Option<(Time, T)> {
        let mut bucket = self.buckets.first_entry()?;
        let time = *bucket.key();
        let item = bucket
            .get_mut()
            .pop_front()
            .expect("buckets are never empty");
        if bucket.get().is_empty() {
            let (_, empty) = bucket.remove_entry();
            self.spare.push(empty);
        }
        Some((time, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_scheduling_order() {
        let mut q = Queue::new();
        q.push(Time(5), "b1");
        q.push(Time(1), "a");
        q.push(Time(5), "b2");
        assert_eq!(q.pop(), Some((Time(1), "a")));
        q.push(Time(5), "b3");
        q.push(Time(2), "c");
        let rest: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            rest,
            vec![
                (Time(2), "c"),
                (Time(5), "b1"),
                (Time(5), "b2"),
                (Time(5), "b3")
            ]
        );
        assert_eq!(q.next_time(), None);
    }
}

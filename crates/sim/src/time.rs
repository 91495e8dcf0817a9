//! Simulated time and node identities.
//!
//! Real (simulated) time is a [`Time`]: nanoseconds since the run began. Nodes never see it
//! directly; they read their own clocks (see [`crate::clock`]), which drift and jump.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A node's address in a run: `n0`, `n1`, ...
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    /// In a [triggered fault](crate::plan::TriggeredFault), the node the trigger names (the
    /// node that noted the text, the sender or receiver of the message, the node for which the
    /// state predicate holds). Shown as `n*`. In a timed fault it names no node: it does nothing.
    pub const SUBJECT: NodeId = NodeId(u32::MAX);

    /// In a fault triggered by a message, the node at the message's other end from the
    /// subject (the receiver when the subject is the sender, the sender when it is the
    /// receiver): a fault can then cut the very link the message used. For other triggers it
    /// is the subject. Shown as `n**`.
    pub const PEER: NodeId = NodeId(u32::MAX - 1);

    /// The node's position in the run's node list.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NodeId::SUBJECT {
            return write!(f, "n*");
        }
        if *self == NodeId::PEER {
            return write!(f, "n**");
        }
        write!(f, "n{}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An instant: nanoseconds since the start of the run (for real time) or since the node's
/// clock started (for a node's monotonic clock reading).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// The start of the run.
    pub const ZERO: Time = Time(0);
    /// Later than any event a run can schedule.
    pub const MAX: Time = Time(u64::MAX);

    /// `ms` milliseconds after the start.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole and fractional milliseconds since the start.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// The duration from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(nanos(d)))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(nanos(d)))
    }
}

impl Sub for Time {
    type Output = Duration;
    /// The duration between two instants; zero if `rhs` is later.
    fn sub(self, rhs: Time) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for Time {
    /// Milliseconds with microsecond precision: `1234.567ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0 / 1_000;
        let text = format!("{}.{:03}ms", micros / 1_000, micros % 1_000);
        f.pad(&text)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

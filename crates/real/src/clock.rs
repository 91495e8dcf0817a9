//! The clocks of a real node: the machine's monotonic clock, counted from an epoch that the
//! conductor hands every process of a run, and the system's wall clock.
//!
//! On one machine `CLOCK_MONOTONIC` is the same clock for every process, so timestamps taken
//! from it in different processes can be compared: that is what lets the conductor merge their
//! traces into one timeline. Across machines they could not be.

use sim::{Time, WallTime};
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine's monotonic clock, in nanoseconds since an unspecified start (boot).
pub fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// A node's view of time: the monotonic clock since the run's epoch, and the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch_ns: u64,
}

impl Clock {
    /// A clock that reads zero at `epoch_ns` of the machine's monotonic clock.
    pub fn from_epoch(epoch_ns: u64) -> Clock {
        Clock { epoch_ns }
    }

    /// A clock that reads zero now.
    pub fn starting_now() -> Clock {
        Clock::from_epoch(monotonic_ns())
    }

    /// The epoch, to hand to the processes of the same run.
    pub fn epoch_ns(&self) -> u64 {
        self.epoch_ns
    }

    /// Time since the epoch on the monotonic clock: what [`sim::Context::now`] reads.
    pub fn now(&self) -> Time {
        Time(monotonic_ns().saturating_sub(self.epoch_ns))
    }

    /// The system's wall clock, in nanoseconds since the Unix epoch: what
    /// [`sim::Context::wall_clock`] reads. NTP may step it.
    pub fn wall(&self) -> WallTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        WallTime(since)
    }
}

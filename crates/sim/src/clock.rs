//! Each node's two clocks, as a real machine has them.
//!
//! The **monotonic** clock never jumps but runs fast or slow by a drift in parts per million;
//! a node's timers run on it, so drift moves when they fire in real time. The **wall** clock
//! has an offset, its own drift, and can be stepped forwards or backwards (an NTP step, a leap
//! second): measuring a duration on it, or comparing two nodes' readings, is how real systems
//! go wrong.

use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A wall-clock reading: nanoseconds since the run's epoch, as the node believes it. A perfect
/// wall clock reads the same as real time; a stepped one can read less than it did before.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WallTime(pub i64);

impl WallTime {
    /// Nanoseconds since the epoch (negative before it).
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// `self - earlier` in nanoseconds: negative when the clock went backwards.
    pub fn nanos_since(self, earlier: WallTime) -> i64 {
        self.0 - earlier.0
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let micros = self.0.unsigned_abs() / 1_000;
        let text = format!("{sign}{}.{:03}ms", micros / 1_000, micros % 1_000);
        f.pad(&text)
    }
}

impl fmt::Debug for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wall {self}")
    }
}

/// How one node's clocks misbehave for the whole run. The default is a perfect machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSpec {
    /// Monotonic clock rate error in parts per million: +100 runs 100 µs fast per second.
    pub drift_ppm: i32,
    /// Wall clock offset from real time at the start, in nanoseconds.
    pub wall_offset_ns: i64,
    /// Wall clock rate error in parts per million (on top of nothing: NTP slews it separately).
    pub wall_drift_ppm: i32,
}

impl ClockSpec {
    /// What a wall clock of this spec reads at real time `real`, once steps adding up to
    /// `steps_ns` have been applied to it: what a node's `Context::wall_clock` returns, for a
    /// test that must know every node's reading at any instant.
    pub fn wall_at(&self, real: Time, steps_ns: i64) -> WallTime {
        let reading = scale(real, self.wall_drift_ppm.max(-999_999))
            + i128::from(self.wall_offset_ns)
            + i128::from(steps_ns);
        WallTime(reading.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// What a monotonic clock of this spec reads at real time `real`.
    pub fn monotonic_at(&self, real: Time) -> Time {
        Time(scale(real, self.drift_ppm.max(-999_999)).clamp(0, i128::from(u64::MAX)) as u64)
    }
}

/// The running state of one node's clocks.
#[derive(Clone, Debug)]
pub(crate) struct NodeClock {
    spec: ClockSpec,
    /// The sum of every step applied to the wall clock so far.
    wall_steps_ns: i64,
}

fn scale(real: Time, ppm: i32) -> i128 {
    let t = i128::from(real.as_nanos());
    t + t * i128::from(ppm) / 1_000_000
}

impl NodeClock {
    pub(crate) fn new(mut spec: ClockSpec) -> NodeClock {
        // A clock must move forwards: at -1,000,000 ppm it would stand still.
        spec.drift_ppm = spec.drift_ppm.max(-999_999);
        spec.wall_drift_ppm = spec.wall_drift_ppm.max(-999_999);
        NodeClock {
            spec,
            wall_steps_ns: 0,
        }
    }

    /// The monotonic reading at real time `real`.
    pub(crate) fn monotonic(&self, real: Time) -> Time {
        self.spec.monotonic_at(real)
    }

    /// The wall-clock reading at real time `real`.
    pub(crate) fn wall(&self, real: Time) -> WallTime {
        self.spec.wall_at(real, self.wall_steps_ns)
    }

    /// The earliest real time at which the monotonic clock, read at real time `now`, has
    /// advanced by at least `after`.
    pub(crate) fn real_deadline(&self, now: Time, after: Duration) -> Time {
        let target = i128::from(self.monotonic(now).as_nanos()) + after.as_nanos() as i128;
        let rate = 1_000_000 + i128::from(self.spec.drift_ppm);
        // Invert `monotonic`, rounding up, then step forward past any rounding shortfall.
        let mut real = ((target * 1_000_000 + rate - 1) / rate).max(i128::from(now.as_nanos()));
        while i128::from(self.monotonic(Time(real as u64)).as_nanos()) < target {
            real += 1;
        }
        Time(real.min(i128::from(u64::MAX)) as u64)
    }

    pub(crate) fn step_wall(&mut self, by_ns: i64) {
        self.wall_steps_ns = self.wall_steps_ns.saturating_add(by_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_clock_reads_real_time() {
        let clock = NodeClock::new(ClockSpec::default());
        assert_eq!(
            clock.monotonic(Time::from_millis(1500)),
            Time::from_millis(1500)
        );
        assert_eq!(clock.wall(Time::from_millis(1500)), WallTime(1_500_000_000));
    }

    #[test]
    fn a_fast_clock_fires_timers_early_in_real_time() {
        let fast = NodeClock::new(ClockSpec {
            drift_ppm: 100_000, // 10% fast, to make the effect large
            ..ClockSpec::default()
        });
        let deadline = fast.real_deadline(Time::ZERO, Duration::from_millis(1100));
        assert_eq!(deadline, Time::from_millis(1000));
        let slow = NodeClock::new(ClockSpec {
            drift_ppm: -500_000,
            ..ClockSpec::default()
        });
        assert_eq!(
            slow.real_deadline(Time::from_millis(10), Duration::from_millis(5)),
            Time::from_millis(20)
        );
    }

    #[test]
    fn deadlines_are_never_early_whatever_the_rounding() {
        for ppm in [-999_999, -123_457, -1, 0, 1, 7, 333_333, 1_000_000] {
            let clock = NodeClock::new(ClockSpec {
                drift_ppm: ppm,
                ..ClockSpec::default()
            });
            for start in [0u64, 1, 999, 1_000_003] {
                for after in [0u64, 1, 3, 1_000_001] {
                    let now = Time(start);
                    let at = clock.real_deadline(now, Duration::from_nanos(after));
                    let elapsed = clock.monotonic(at).as_nanos() - clock.monotonic(now).as_nanos();
                    assert!(elapsed >= after, "ppm {ppm} start {start} after {after}");
                    assert!(at >= now);
                }
            }
        }
    }

    #[test]
    fn wall_clock_steps_backwards_and_forwards() {
        let mut clock = NodeClock::new(ClockSpec {
            wall_offset_ns: 5_000_000,
            ..ClockSpec::default()
        });
        let before = clock.wall(Time::from_millis(100));
        clock.step_wall(-50_000_000);
        let after = clock.wall(Time::from_millis(101));
        assert_eq!(before, WallTime(105_000_000));
        assert!(
            after < before,
            "a backward step makes the wall clock read less"
        );
        assert_eq!(after.nanos_since(before), -49_000_000);
        assert_eq!(format!("{}", WallTime(-1_234_567)), "-1.234ms");
    }
}

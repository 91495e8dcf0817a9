//! The reference solution of chapter 1, *Is it dead, or just slow?*: a phi accrual failure
//! detector and a heartbeat node, with the same API and documentation as the exercise
//! (`exercises/01-failure-detector`), whose tests it runs unchanged.
//!
//! Cargo features swap in the classic mistakes the tests must reject (`course.toml` names the
//! property that rejects each): `mistake-fixed-timeout`, `mistake-sticky-suspicion`,
//! `mistake-no-floor`, `mistake-sample-std-dev`, `mistake-wall-clock`,
//! `mistake-trust-on-heartbeat` and `mistake-suspect-unheard`.

use serde::{Deserialize, Serialize};
use sim::{Context, Node, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

// ANCHOR: detector
/// A phi accrual failure detector for **one** peer.
///
/// It remembers when the last heartbeat from the peer arrived and the last `window`
/// inter-arrival times (the gaps between consecutive arrivals). From those it answers one
/// question: given how heartbeats have been arriving, how surprising is the silence so far?
/// The answer, `phi`, is `-log10` of the probability that a heartbeat would still be on its way
/// after this long, so `phi = 1` means "one chance in 10 of hearing nothing for this long",
/// `phi = 8` one chance in 10^8. A node compares it with a threshold to decide whether to
/// suspect the peer.
///
/// All times come from the observing node's own monotonic clock ([`Context::now`]); the
/// detector never sees real time, nor the peer's clock.
///
/// The numbers must come out exactly as specified below: step 1 of the tests checks each rule
/// to 9 digits and compares a table of them, rounded to 3 decimals, with a snapshot, so any
/// correct implementation matches.
#[derive(Clone, Debug)]
pub struct PhiDetector {
    /// The most inter-arrival times kept; older ones are forgotten first.
    window: usize,
    /// The smallest standard deviation the detector will assume (see [`PhiDetector::sigma_ms`]).
    min_std_dev: Duration,
    /// The last `window` inter-arrival times, oldest at the front.
    intervals: VecDeque<Duration>,
    /// When the last heartbeat arrived, if one ever did.
    last_arrival: Option<Time>,
}
// ANCHOR_END: detector

impl PhiDetector {
    /// A detector that has heard nothing yet. `window` must be at least 1.
    pub fn new(window: usize, min_std_dev: Duration) -> PhiDetector {
        assert!(
            window >= 1,
            "a window of zero intervals cannot estimate anything"
        );
        PhiDetector {
            window,
            min_std_dev,
            intervals: VecDeque::with_capacity(window),
            last_arrival: None,
        }
    }

    /// The most inter-arrival times this detector keeps.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The floor under the standard deviation.
    pub fn min_std_dev(&self) -> Duration {
        self.min_std_dev
    }

    /// How many inter-arrival times the window holds now (0 until the second heartbeat).
    pub fn samples(&self) -> usize {
        self.intervals.len()
    }

    /// When the last heartbeat arrived, on the observer's monotonic clock.
    pub fn last_arrival(&self) -> Option<Time> {
        self.last_arrival
    }

    // ANCHOR: detector_api
    /// Records a heartbeat that arrived at `arrival` (the observer's monotonic clock).
    ///
    /// - The first heartbeat only records its arrival time: there is no gap to measure yet.
    /// - Every later one pushes `arrival - previous arrival` to the back of the window, then,
    ///   if the window holds more than `window` intervals, drops the oldest from the front.
    ///   Then `arrival` becomes the last arrival.
    ///
    /// Duplicated heartbeats are not special: each arrival counts, even a gap of zero.
    pub fn heartbeat(&mut self, arrival: Time) {
        if let Some(previous) = self.last_arrival {
            self.intervals.push_back(arrival - previous);
            if self.intervals.len() > self.window {
                self.intervals.pop_front();
            }
        }
        self.last_arrival = Some(arrival);
    }

    /// The arithmetic mean of the intervals in the window, in milliseconds (0.0 when the window
    /// is empty).
    ///
    /// Convert each interval with `interval.as_secs_f64() * 1000.0`, then divide their sum by
    /// how many there are.
    pub fn mean_ms(&self) -> f64 {
        if self.intervals.is_empty() {
            return 0.0;
        }
        let sum: f64 = self.intervals.iter().map(|d| millis(*d)).sum();
        sum / self.intervals.len() as f64
    }

    /// The standard deviation phi assumes, in milliseconds: the **population** standard
    /// deviation of the window's intervals, or `min_std_dev` if that is larger (and
    /// `min_std_dev` when the window is empty).
    ///
    /// With `m` the mean and `x1..xn` the intervals in milliseconds, the population standard
    /// deviation is `sqrt(((x1 - m)^2 + ... + (xn - m)^2) / n)` (divide by `n`, not `n - 1`).
    ///
    /// The floor matters: heartbeats on a quiet network arrive so regularly that the measured
    /// deviation is almost zero, and then a delay of a millisecond looks infinitely unlikely.
    pub fn sigma_ms(&self) -> f64 {
        let floor = millis(self.min_std_dev);
        if self.intervals.is_empty() {
            return floor;
        }
        let mean = self.mean_ms();
        let squares: f64 = self
            .intervals
            .iter()
            .map(|d| (millis(*d) - mean).powi(2))
            .sum();
        #[cfg(not(feature = "mistake-sample-std-dev"))]
        let count = self.intervals.len() as f64;
        // The mistake: the sample standard deviation of a statistics course, divided by n - 1.
        // (With one interval that is 0 / 0, NaN, and `max` then quietly picks the floor.)
        #[cfg(feature = "mistake-sample-std-dev")]
        let count = (self.intervals.len() - 1) as f64;
        let std_dev = (squares / count).sqrt();
        // Without the floor, a steady stream of heartbeats measures a deviation near zero and a
        // one-millisecond hiccup becomes an infinitely unlikely event.
        #[cfg(not(feature = "mistake-no-floor"))]
        let sigma = std_dev.max(floor);
        #[cfg(feature = "mistake-no-floor")]
        let sigma = std_dev;
        sigma
    }

    /// The suspicion level at `now` (the observer's monotonic clock): 0.0 while the window is
    /// empty, otherwise computed as follows, in `f64`, with times in milliseconds.
    ///
    /// 1. `elapsed` = `now - last arrival` (zero if `now` is earlier: `Time - Time` saturates).
    /// 2. `y = (elapsed - mean) / sigma`, with `mean` from [`mean_ms`](Self::mean_ms) and
    ///    `sigma` from [`sigma_ms`](Self::sigma_ms): how many standard deviations late the
    ///    next heartbeat is.
    /// 3. `e = exp(-y * (1.5976 + 0.070566 * y * y))`. Then `1 / (1 + e)` is a close logistic
    ///    approximation of the standard normal distribution function at `y` (the one Akka's
    ///    phi detector uses), so the chance that a heartbeat comes even later than
    ///    `elapsed` is `1 - 1 / (1 + e)`, which equals `e / (1 + e)`.
    /// 4. `phi = -log10(e / (1 + e))` when `elapsed > mean`, and
    ///    `phi = -log10(1 - 1 / (1 + e))` otherwise. The two forms are the same number; each
    ///    keeps floating-point precision on its side of the mean, so write them exactly so.
    ///
    /// phi grows with `elapsed`. Far past the mean `e` underflows to 0 and phi is
    /// `f64::INFINITY`, which is a fine answer: that silence is not plausible any more.
    pub fn phi(&self, now: Time) -> f64 {
        let Some(last) = self.last_arrival else {
            return 0.0;
        };
        if self.intervals.is_empty() {
            return 0.0;
        }
        let elapsed = millis(now - last);
        let mean = self.mean_ms();
        let y = (elapsed - mean) / self.sigma_ms();
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        if elapsed > mean {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        }
    }
    // ANCHOR_END: detector_api
}

// ANCHOR: config
/// How a [`HeartbeatNode`] heartbeats and judges its peers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorConfig {
    /// How often a node sends a heartbeat to every peer.
    pub interval: Duration,
    /// How many inter-arrival times each detector remembers.
    pub window: usize,
    /// The floor under the standard deviation each detector assumes.
    pub min_std_dev: Duration,
    /// Suspect a peer while its phi is **above** this.
    pub threshold: f64,
    /// How often a node evaluates phi for every peer.
    pub check_every: Duration,
}

impl Default for DetectorConfig {
    /// A heartbeat every 100 ms, the last 10 gaps, a 10 ms floor, threshold 8 (one chance in
    /// 10^8 that a live peer is this late), checked every 10 ms.
    fn default() -> DetectorConfig {
        DetectorConfig {
            interval: Duration::from_millis(100),
            window: 10,
            min_std_dev: Duration::from_millis(10),
            threshold: 8.0,
            check_every: Duration::from_millis(10),
        }
    }
}
// ANCHOR_END: config

/// What heartbeat nodes send each other.
/// Serde values too: a real run (`cargo xtask real`) sends them through a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// "I am alive." It carries nothing: its arrival time is the whole message.
    Heartbeat,
}

/// A heartbeat node's two timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Time to send the next heartbeats.
    Beat,
    /// Time to evaluate phi for every peer.
    Check,
}

// ANCHOR: node
/// A node that heartbeats every peer and suspects the ones that fall silent.
///
/// What it does, exactly (step 2 of the tests checks every rule):
///
/// - **Start** (`on_start`): send [`Msg::Heartbeat`] to every peer (in `ctx.peers()` order),
///   then set a [`Timer::Beat`] for `interval` and a [`Timer::Check`] for `check_every`.
/// - **Beat**: send a heartbeat to every peer, and set the next `Beat` for `interval`.
/// - **A heartbeat arrives** from a peer: feed `ctx.now()` to that peer's detector (create
///   it with the config's `window` and `min_std_dev` the first time the peer is heard from).
///   Nothing else: a node changes its mind only when it checks.
/// - **Check**: for every peer that has a detector, in increasing id order, compute
///   `phi(ctx.now())`. If phi is above `threshold` and the peer was not suspected, suspect it
///   and note `suspect n2` (for peer `n2`, with `ctx.note`); if phi is not above `threshold`
///   and the peer was suspected, stop suspecting it and note `trust n2`. No note when nothing
///   changes. Then set the next `Check` for `check_every`.
///
/// A peer that was never heard from is never suspected: there is nothing to compare its
/// silence with. The state is volatile: after a crash the node starts over, trusting everyone.
#[derive(Clone, Debug)]
pub struct HeartbeatNode {
    config: DetectorConfig,
    /// One detector per peer heard from (a `BTreeMap`, so iterating it is in id order).
    detectors: BTreeMap<NodeId, PhiDetector>,
    /// The peers this node suspects now.
    suspected: BTreeSet<NodeId>,
}
// ANCHOR_END: node

impl HeartbeatNode {
    /// A node with this configuration that has heard from nobody and suspects nobody.
    pub fn new(config: DetectorConfig) -> HeartbeatNode {
        HeartbeatNode {
            config,
            detectors: BTreeMap::new(),
            suspected: BTreeSet::new(),
        }
    }

    /// The node's configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Whether this node suspects `peer` right now.
    pub fn suspects(&self, peer: NodeId) -> bool {
        self.suspected.contains(&peer)
    }

    /// Every peer this node suspects right now, in increasing id order.
    pub fn suspected(&self) -> Vec<NodeId> {
        self.suspected.iter().copied().collect()
    }

    /// The detector watching `peer`, once `peer` has been heard from.
    pub fn detector(&self, peer: NodeId) -> Option<&PhiDetector> {
        self.detectors.get(&peer)
    }

    /// Re-judges every peer heard from and notes each change of mind.
    fn check(&mut self, ctx: &mut Context<'_, Self>) {
        let now = clock(ctx);
        #[cfg(not(feature = "mistake-suspect-unheard"))]
        for (peer, detector) in &self.detectors {
            let silent = self.is_too_silent(detector, now);
            judge(&mut self.suspected, ctx, *peer, silent);
        }
        // The mistake: every peer is judged, and one never heard from counts as silent for
        // ever, so a node that has not started yet (or never will) is accused at once.
        #[cfg(feature = "mistake-suspect-unheard")]
        for peer in ctx.peers() {
            let silent = self
                .detectors
                .get(&peer)
                .is_none_or(|detector| self.is_too_silent(detector, now));
            judge(&mut self.suspected, ctx, peer, silent);
        }
    }

    /// Whether `detector`'s peer has been silent for too long at `now`.
    #[cfg(not(feature = "mistake-fixed-timeout"))]
    fn is_too_silent(&self, detector: &PhiDetector, now: Time) -> bool {
        detector.phi(now) > self.config.threshold
    }

    /// The mistake: a timeout tuned on the typical latency (the interval plus 10%), blind to
    /// the tail, so one slow heartbeat is enough to accuse a live peer.
    #[cfg(feature = "mistake-fixed-timeout")]
    fn is_too_silent(&self, detector: &PhiDetector, now: Time) -> bool {
        let timeout = self.config.interval + self.config.interval / 10;
        detector.samples() > 0
            && detector
                .last_arrival()
                .is_some_and(|last| now - last > timeout)
    }
}

/// Suspects `peer` if it is `silent` and trusts it otherwise, noting each change of mind.
fn judge(
    suspected: &mut BTreeSet<NodeId>,
    ctx: &mut Context<'_, HeartbeatNode>,
    peer: NodeId,
    silent: bool,
) {
    if silent && suspected.insert(peer) {
        ctx.note(format!("suspect {peer}"));
    }
    // Once suspected, a peer stays suspected: the mistake never forgives.
    #[cfg(not(feature = "mistake-sticky-suspicion"))]
    if !silent && suspected.remove(&peer) {
        ctx.note(format!("trust {peer}"));
    }
}

/// The time a node measures silences with: its monotonic clock.
#[cfg(not(feature = "mistake-wall-clock"))]
fn clock(ctx: &Context<'_, HeartbeatNode>) -> Time {
    ctx.now()
}

/// The mistake: the wall clock's nanoseconds taken for a `Time`. It reads like the monotonic
/// clock on a quiet machine, until NTP steps it: forwards, and every peer looks silent at
/// once; backwards, and a peer that just died looks as if it spoke a moment ago.
#[cfg(feature = "mistake-wall-clock")]
fn clock(ctx: &Context<'_, HeartbeatNode>) -> Time {
    Time(ctx.wall_clock().as_nanos() as u64)
}

/// Sends a heartbeat to every peer.
fn beat(ctx: &mut Context<'_, HeartbeatNode>) {
    for peer in ctx.peers() {
        ctx.send(peer, Msg::Heartbeat);
    }
}

/// A duration in (fractional) milliseconds, as the specification computes phi.
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ANCHOR: node_impl
impl Node for HeartbeatNode {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        beat(ctx);
        ctx.set_timer(self.config.interval, Timer::Beat);
        ctx.set_timer(self.config.check_every, Timer::Check);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let Msg::Heartbeat = msg;
        let config = self.config;
        self.detectors
            .entry(from)
            .or_insert_with(|| PhiDetector::new(config.window, config.min_std_dev))
            .heartbeat(clock(ctx));
        // The mistake: a heartbeat is taken as proof of life on the spot, instead of waiting
        // for the next check to weigh it.
        #[cfg(feature = "mistake-trust-on-heartbeat")]
        if self.suspected.remove(&from) {
            ctx.note(format!("trust {from}"));
        }
        // The drill's broken variant: any heartbeat is taken as news of every suspect, so a
        // live peer's heartbeat clears the suspicion of a dead one.
        #[cfg(feature = "drill-any-heartbeat-trusts-all")]
        for peer in std::mem::take(&mut self.suspected) {
            ctx.note(format!("trust {peer}"));
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::Beat => {
                beat(ctx);
                ctx.set_timer(self.config.interval, Timer::Beat);
            }
            Timer::Check => {
                self.check(ctx);
                ctx.set_timer(self.config.check_every, Timer::Check);
            }
        }
    }
}
// ANCHOR_END: node_impl

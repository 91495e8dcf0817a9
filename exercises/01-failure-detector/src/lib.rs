//! Chapter 1 of *Distributed Systems, Like It or Not*: **Is it dead, or just slow?**
//!
//! Read the chapter first: `book/src/01-failure-detector.md` (or `cargo xtask serve` and open
//! the book). Then build, in this file:
//!
//! 1. [`PhiDetector`]: a phi accrual failure detector (Hayashibara et al., 2004) that watches one
//!    peer and turns the time since its last heartbeat into a suspicion level, `phi`.
//! 2. [`HeartbeatNode`]: a simulated node that sends heartbeats to every peer, keeps one
//!    detector per peer, and says on the timeline when it starts and stops suspecting one.
//!
//! Every `todo!()` is yours. Run the tests from this folder:
//!
//! ```text
//! cargo test                              # every step, in order
//! cargo test --test step1_detector        # step 1: the numbers your detector must produce
//! cargo test --test step2_node            # step 2: what each handler of the node must do
//! cargo test --test step3_under_faults    # step 3: the node under crashes, pauses, a
//!                                         #   long-tailed network and stepped wall clocks
//! cargo xtask hint failure-detector       # stuck? one hint at a time
//! cargo xtask scenario failure-detector/gc-pause --mine  # the book's figure, run on your code
//! cargo xtask scenario failure-detector/gc-pause --compare  # where yours departs from it
//! ```
//!
//! A failing property names the rule it checks, prints the timeline around the moment it
//! broke, and gives a command that replays exactly that run.

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
/// All its arithmetic is in `f64` milliseconds, fractions kept: a gap of 100.25 ms counts as
/// 100.25, not 100 (the tests draw gaps to the microsecond). The numbers must come out exactly
/// as specified below: step 1 of the tests checks each rule to 9 digits and compares a table of
/// them, rounded to 3 decimals, with a snapshot, so any correct implementation matches.
///
/// The API you need, besides the fields below: subtracting an earlier [`Time`] from a later one
/// gives the [`Duration`] between them (and zero, not a panic, if what you subtract is the
/// later one), and [`Duration::as_secs_f64`] turns a duration into a number.
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
    /// What an arrival teaches the detector is a gap: how long it came after the previous one.
    ///
    /// - Every heartbeat becomes the last arrival.
    /// - The first one gives no gap, since nothing came before it: the window stays empty until
    ///   the second heartbeat.
    /// - Every later one adds exactly one gap, the time from the previous arrival to this one.
    /// - The window keeps the `window` most recent gaps; when a new gap would make one too
    ///   many, the oldest is forgotten. The detector should describe the network as it is now:
    ///   a long silence a minute ago should not keep it lenient for ever.
    /// - Duplicates are not special. A heartbeat carries nothing, so a copy cannot be told
    ///   from a fresh one: every arrival counts, and two at the same instant add a gap of zero,
    ///   kept like any other.
    pub fn heartbeat(&mut self, arrival: Time) {
        let _ = arrival;
        todo!("decide what one arrival adds to what the detector knows, and what it must forget")
    }

    /// The arithmetic mean of the gaps in the window, in milliseconds: how long the detector
    /// expects the next heartbeat to take. 0.0 when the window is empty, by convention (no gap,
    /// no expectation; [`phi`](Self::phi) does not use it then).
    pub fn mean_ms(&self) -> f64 {
        todo!("the average gap in the window, in milliseconds (and the answer when there is none)")
    }

    /// The standard deviation phi assumes, in milliseconds: the **population** standard
    /// deviation of the window's gaps, or `min_std_dev` if that is larger (and `min_std_dev`
    /// when the window is empty).
    ///
    /// The population standard deviation of n gaps is the square root of the mean of their
    /// squared distances from their mean ([`mean_ms`](Self::mean_ms)): the sum of squares is
    /// divided by n, not by n − 1. The window is not a sample from which the detector estimates
    /// some larger population; it is everything the detector knows, taken as the distribution
    /// itself (and with a single gap, n − 1 would be a division by zero).
    ///
    /// The floor matters: heartbeats on a quiet network arrive so regularly that the measured
    /// deviation is almost zero, and then a delay of a millisecond looks infinitely unlikely.
    pub fn sigma_ms(&self) -> f64 {
        todo!(
            "how spread out the gaps are, as the doc comment defines it, and the least spread the detector will assume"
        )
    }

    /// The suspicion level at `now` (the observer's monotonic clock).
    ///
    /// While the window is empty phi is 0.0: with no gap seen there is no expectation, so no
    /// silence can be surprising (which is also why a peer heard from only once is never
    /// suspected). Otherwise phi is defined in four steps, in `f64`, with times in milliseconds:
    ///
    /// 1. **The silence**, elapsed: the time from the last arrival to `now`, or zero if `now`
    ///    is earlier (a silence is never negative).
    /// 2. **How late, in standard deviations**: y = (elapsed − mean) / sigma, with mean and
    ///    sigma as [`mean_ms`](Self::mean_ms) and [`sigma_ms`](Self::sigma_ms) give them. y is
    ///    negative while the next heartbeat is not yet due, 0 at the mean, positive past it.
    /// 3. **The chance of a silence this long.** Gaps are taken to be normally distributed,
    ///    and the standard normal distribution function at y is approximated by the logistic
    ///    F(y) = 1 / (1 + e(y)), with e(y) = exp(−y · (1.5976 + 0.070566 · y²)). This is the
    ///    approximation Akka's phi detector uses; its two constants are part of this
    ///    specification. The chance that the next heartbeat comes even later than elapsed is
    ///    P = 1 − F(y), which is the same number as e(y) / (1 + e(y)).
    /// 4. **phi = −log10 P**, with P in whichever of its two forms keeps its digits on that
    ///    side of the mean:
    ///    - **past the mean** (elapsed greater than mean), P = e / (1 + e). There e shrinks
    ///      towards 0 as the silence grows, F comes within rounding of 1, and 1 − F loses its
    ///      digits and then rounds to 0, which would make phi infinite long before it should;
    ///    - **at or before the mean**, P = 1 − F. There e is at least 1 and grows as `now`
    ///      moves earlier; far enough before the mean it overflows to infinity, where
    ///      e / (1 + e) is infinity over infinity, not a number, while F is simply 0 and P 1.
    ///
    /// phi only grows with the silence. Far past the mean e underflows to 0 and phi is
    /// infinite, which is a fine answer: that silence is not plausible any more.
    pub fn phi(&self, now: Time) -> f64 {
        let _ = now;
        todo!(
            "how surprising the silence since the last arrival is, by the steps of the doc comment"
        )
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
    /// Suspect a peer while its phi is **above** this (strictly: at the threshold, trust it).
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
/// The rules (step 2 of the tests checks each of them):
///
/// - **Heartbeats.** A node tells its peers it is alive when it starts, and again each time
///   its [`Timer::Beat`] fires, every `interval`: one [`Msg::Heartbeat`] to each peer, all
///   peers every time, in [`Context::peers`] order (increasing id), so that the message
///   numbers on the timeline are reproducible. Heartbeats are the only messages it sends.
/// - **Rhythm.** Each of the two timers first fires one period after the start (`interval`
///   for `Beat`, `check_every` for `Check`), and is armed again each time it fires, for one
///   period from that moment, with never two of a kind pending: a node that was stalled picks
///   its rhythm up again rather than catching up in a burst.
/// - **Arrivals.** A heartbeat is evidence about the peer that sent it and no other: its
///   arrival goes to that peer's detector, stamped with the observer's monotonic clock
///   ([`Context::now`]). Only that clock measures gaps truthfully; the wall clock is offset,
///   drifts and gets stepped. Every copy that arrives is fed once. A peer's detector is made
///   the first time that peer is heard from, with the configuration's `window` and
///   `min_std_dev`, and not before.
/// - **Judging.** An arrival changes no belief: a node changes its mind only when its
///   [`Timer::Check`] fires, so every belief comes from one rule applied at a known rhythm.
///   A check judges every peer that has a detector, by its phi at that instant on the
///   observer's monotonic clock, in increasing id order, so that the notes of one check come
///   out in a reproducible order. A peer is suspected while its phi is strictly **above**
///   `threshold`, and trusted when it is at or below it.
/// - **Notes.** Every change of mind is noted, and nothing else: exactly `suspect n2` when the
///   node starts suspecting peer `n2`, `trust n2` when it stops (the peer as [`NodeId`]
///   displays it). A check that changes nothing notes nothing.
/// - **Memory.** A peer never heard from is never suspected: there is nothing to compare its
///   silence with. A peer heard from stays watched however long it is silent (its phi may be
///   infinite), so that the first check after it speaks again can trust it. The state is
///   volatile: after a crash the node starts over, having heard from nobody and trusting
///   everyone.
///
/// The API you need: the three handlers of [`sim::Node`] (`on_message` is told `from`, the
/// node that sent the message); [`Context::peers`], [`Context::send`], [`Context::set_timer`],
/// [`Context::now`] and [`Context::note`]; the detector's [`PhiDetector::new`],
/// [`PhiDetector::heartbeat`] and [`PhiDetector::phi`].
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
}

// ANCHOR: node_impl
impl Node for HeartbeatNode {
    type Msg = Msg;
    type Timer = Timer;
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = ctx;
        todo!(
            "decide what a node does first, so that its peers hear from it and it starts judging them"
        )
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let _ = (ctx, from, msg);
        todo!(
            "decide whose detector learns from this arrival, what it learns, and what else changes (nothing should)"
        )
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: Timer) {
        let _ = (ctx, timer);
        todo!(
            "decide what each timer means, when the node may change its mind about a peer, and when each timer must fire again"
        )
    }
}
// ANCHOR_END: node_impl

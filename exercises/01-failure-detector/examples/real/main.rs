//! One node of chapter failure-detector as a real process: a heartbeat node with the default configuration (a beat every 100 ms, threshold 8).
//! `cargo xtask real failure-detector` starts one per node on loopback, built from this crate (or the
//! reference with `--reference`), and draws their merged timeline.

use failure_detector::{DetectorConfig, HeartbeatNode};

fn main() {
    real::node_main(|_id, _durable| HeartbeatNode::new(DetectorConfig::default()))
}

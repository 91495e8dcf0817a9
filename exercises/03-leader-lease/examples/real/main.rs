//! One node of chapter leader-lease as a real process: a lease node with the default configuration (600 ms leases renewed every 100 ms): `n0` grants, `n1` stores, the others compete.
//! `cargo xtask real leader-lease` starts one per node on loopback, built from this crate (or the
//! reference with `--reference`), and draws their merged timeline.

use leader_lease::{LeaseConfig, LeaseNode};

fn main() {
    real::node_main(|id, _durable| LeaseNode::new(id, LeaseConfig::default()))
}

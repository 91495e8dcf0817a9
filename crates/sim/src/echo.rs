//! The echo workload, in the exact shape used to compare simulators' throughput: one server
//! (`n0`) echoes every message back to its sender; `clients` client nodes each send a burst of
//! `burst` 16-byte messages, wait for all the echoes, and repeat for `rounds` rounds. Every link
//! has a fixed 1 ms latency and no faults, so a run makes `2 * clients * burst * rounds`
//! deliveries.

use crate::{Config, Context, Node, NodeId, Simulation};

/// A 16-byte payload: the round and the message's index in its burst, then padding.
pub type Payload = [u8; 16];

/// The server echoes; a client counts echoes and starts the next burst when it has them all.
pub enum EchoNode {
    Server,
    Client {
        burst: u32,
        rounds_left: u32,
        echoes: u32,
        /// Every echo of every round, counted to prove none went missing.
        total_echoes: u64,
    },
}

impl EchoNode {
    fn send_burst(ctx: &mut Context<'_, Self>, burst: u32, round: u32) {
        for i in 0..burst {
            let mut payload = [0u8; 16];
            payload[..4].copy_from_slice(&round.to_le_bytes());
            payload[4..8].copy_from_slice(&i.to_le_bytes());
            ctx.send(NodeId(0), payload);
        }
    }
}

impl Node for EchoNode {
    type Msg = Payload;
    type Timer = ();
    type Request = ();
    type Response = ();
    type Durable = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if let EchoNode::Client {
            burst, rounds_left, ..
        } = self
            && *rounds_left > 0
        {
            Self::send_burst(ctx, *burst, *rounds_left);
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Payload) {
        match self {
            EchoNode::Server => ctx.send(from, msg),
            EchoNode::Client {
                burst,
                rounds_left,
                echoes,
                total_echoes,
            } => {
                *echoes += 1;
                *total_echoes += 1;
                if *echoes == *burst {
                    *echoes = 0;
                    *rounds_left -= 1;
                    if *rounds_left > 0 {
                        Self::send_burst(ctx, *burst, *rounds_left);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, _: &mut Context<'_, Self>, _: ()) {}
}

/// What one echo run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoRun {
    pub deliveries: u64,
    /// Whether every client got every echo of every round.
    pub complete: bool,
}

/// Runs the echo workload once, without tracing (as a throughput measurement would).
pub fn run(clients: u32, burst: u32, rounds: u32) -> EchoRun {
    let config = Config::new(clients + 1, 0)
        .trace(false)
        .step_budget(u64::MAX);
    let mut sim = Simulation::new(config, move |id, _| {
        if id == NodeId(0) {
            EchoNode::Server
        } else {
            EchoNode::Client {
                burst,
                rounds_left: rounds,
                echoes: 0,
                total_echoes: 0,
            }
        }
    });
    sim.run().expect("the echo workload never halts");
    let expected = u64::from(burst) * u64::from(rounds);
    let complete = (1..=clients).all(|c| match sim.node(NodeId(c)) {
        Some(EchoNode::Client {
            total_echoes,
            rounds_left,
            ..
        }) => *total_echoes == expected && *rounds_left == 0,
        _ => false,
    });
    EchoRun {
        deliveries: sim.deliveries(),
        complete,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_echo_arrives_and_deliveries_are_counted_exactly() {
        let run = super::run(3, 5, 4);
        assert!(run.complete);
        assert_eq!(run.deliveries, 2 * 3 * 5 * 4);
    }
}

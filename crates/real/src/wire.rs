//! What travels between the processes of a real run: one UDP datagram per message, as JSON,
//! and the conductor's control datagrams (partitions and network settings), which reach every
//! node's own socket so that one event loop serves both.

use serde::{Deserialize, Serialize};
use sim::{NetConfig, NodeId, Time};
use std::net::SocketAddr;

/// The largest datagram a node accepts; a message that encodes longer is refused on sending.
pub const MAX_DATAGRAM: usize = 60_000;

/// One datagram.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Datagram<M> {
    /// A node's message to another.
    Msg {
        from: NodeId,
        /// Unique in the run: see [`message_id`].
        id: u64,
        /// The sender's monotonic clock when it sent the message (the run's shared epoch).
        sent: Time,
        /// A copy the runtime's injected duplication made.
        copy: bool,
        msg: M,
    },
    /// From the conductor.
    Control(Control),
}

/// What the conductor tells every node while a run goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Control {
    /// From now on drop every message on these directed links (sender and receiver both check).
    Cut {
        id: u64,
        blocked: Vec<(NodeId, NodeId)>,
    },
    /// The cut `id` is gone.
    Heal { id: u64 },
    /// The network faults each sender injects from now on.
    Network(NetConfig),
}

/// The cluster: every node's address, and the conductor's if a conductor runs the cluster.
/// Written by the conductor, or by hand to start nodes in separate terminals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `nodes[i]` is node `n{i}`'s UDP address; every one must be on loopback.
    pub nodes: Vec<SocketAddr>,
    /// Where control datagrams come from; none when nodes run by hand.
    #[serde(default)]
    pub conductor: Option<SocketAddr>,
}

impl Cluster {
    /// Reads and checks a cluster file.
    pub fn load(path: &std::path::Path) -> Result<Cluster, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the cluster file {}: {e}", path.display()))?;
        let cluster: Cluster = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a cluster file: {e}", path.display()))?;
        cluster.check()?;
        Ok(cluster)
    }

    /// Every address on loopback: a real run never listens beyond this machine.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a cluster needs at least one node".into());
        }
        for addr in self.nodes.iter().chain(self.conductor.iter()) {
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "{addr} is not a loopback address: real runs listen on 127.0.0.1 only"
                ));
            }
        }
        Ok(())
    }
}

/// A message id unique in a run without asking anyone: the sender, its life (restarts count
/// up) and a counter. The conductor renumbers them 1, 2, 3... when it merges the traces.
pub fn message_id(from: NodeId, incarnation: u32, counter: u64) -> u64 {
    (u64::from(from.0) << 44) | ((u64::from(incarnation) & 0xfff) << 32) | (counter & 0xffff_ffff)
}

/// Encodes a datagram, or says why it cannot travel.
pub fn encode<M: Serialize>(datagram: &Datagram<M>) -> Result<Vec<u8>, String> {
    let bytes = serde_json::to_vec(datagram).map_err(|e| format!("cannot encode: {e}"))?;
    if bytes.len() > MAX_DATAGRAM {
        return Err(format!(
            "a message of {} bytes is larger than one datagram ({MAX_DATAGRAM})",
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_different_senders_and_lives_differ() {
        let a = message_id(NodeId(1), 0, 7);
        let b = message_id(NodeId(2), 0, 7);
        let c = message_id(NodeId(1), 1, 7);
        assert!(a != b && a != c && b != c);
    }

    #[test]
    fn a_control_datagram_decodes_whatever_the_message_type() {
        let bytes = encode(&Datagram::<()>::Control(Control::Heal { id: 3 })).unwrap();
        let back: Datagram<String> = serde_json::from_slice(&bytes).unwrap();
        assert!(matches!(back, Datagram::Control(Control::Heal { id: 3 })));
    }

    #[test]
    fn clusters_beyond_loopback_are_refused() {
        let cluster = Cluster {
            nodes: vec!["10.0.0.1:7000".parse().unwrap()],
            conductor: None,
        };
        assert!(cluster.check().unwrap_err().contains("loopback"));
    }
}

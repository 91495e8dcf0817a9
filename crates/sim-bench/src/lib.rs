//! Shared pieces of the benches: a baseline for the echo workload, and loading the public
//! Porcupine histories.

use std::collections::VecDeque;
use std::path::PathBuf;

/// The echo workload's message flow with no simulator at all: a FIFO of (time, from, to,
/// payload) processed in order, the server echoing, clients re-sending after a full burst.
/// It is the floor any simulator pays for, and what the echo bench reports its ratio against.
pub fn echo_baseline(clients: u32, burst: u32, rounds: u32) -> u64 {
    let mut queue: VecDeque<(u64, u32, u32, [u8; 16])> = VecDeque::new();
    let mut echoes = vec![0u32; clients as usize + 1];
    let mut left = vec![rounds; clients as usize + 1];
    for c in 1..=clients {
        for i in 0..burst {
            queue.push_back((1, c, 0, [i as u8; 16]));
        }
    }
    let mut deliveries = 0;
    while let Some((time, from, to, payload)) = queue.pop_front() {
        deliveries += 1;
        if to == 0 {
            queue.push_back((time + 1, 0, from, payload));
        } else {
            let c = to as usize;
            echoes[c] += 1;
            if echoes[c] == burst {
                echoes[c] = 0;
                left[c] -= 1;
                if left[c] > 0 {
                    for i in 0..burst {
                        queue.push_back((time + 1, to, 0, [i as u8; 16]));
                    }
                }
            }
        }
    }
    deliveries
}

/// The folder of the public Porcupine histories, if this machine has it.
pub fn porcupine_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/porcupine");
    dir.join("jepsen").is_dir().then_some(dir)
}

/// The text of every file in `sub` (sorted by name), with its name.
pub fn read_all(sub: &str) -> Vec<(String, String)> {
    let Some(dir) = porcupine_data() else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
        .expect("readable data folder")
        .map(|e| e.expect("readable entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable history"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_baseline_makes_the_same_deliveries_as_the_simulator() {
        assert_eq!(
            super::echo_baseline(3, 5, 4),
            sim::echo::run(3, 5, 4).deliveries
        );
    }
}

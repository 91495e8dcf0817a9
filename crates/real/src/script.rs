//! The commands a real run takes, typed while it runs or read from a script whose lines are a
//! time and a command (`2s pause n2`). One grammar for both:
//!
//! ```text
//! pause n2            SIGSTOP: the process freezes, its socket keeps queueing
//! resume n2           SIGCONT
//! crash n2            SIGKILL: only the durable file survives
//! restart n2          start it again from its durable file
//! start n3            start a node the run has held back (a script that starts a node later)
//! partition n0 n1 | n2    cut every link between the groups (unlisted nodes form one more)
//! partition n0 -> n2      cut one way only
//! heal                remove every cut
//! loss 0.3            each sender drops this fraction of its messages from now on
//! stop                end the run
//! ```

use sim::{NodeId, Partition};
use std::time::Duration;

/// One command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Pause(NodeId),
    Resume(NodeId),
    Crash(NodeId),
    Restart(NodeId),
    Start(NodeId),
    Partition(Partition),
    Heal,
    Loss(f64),
    Stop,
}

/// A command at a time since the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheduled {
    pub at: Duration,
    pub command: Command,
}

/// Parses `n2`.
pub fn node(word: &str, nodes: u32) -> Result<NodeId, String> {
    let index: u32 = word
        .strip_prefix('n')
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| format!("{word:?} is not a node (n0, n1, ...)"))?;
    if index >= nodes {
        return Err(format!(
            "there is no {word}: the run has n0 to n{}",
            nodes - 1
        ));
    }
    Ok(NodeId(index))
}

/// Parses `1.5s`, `500ms` or `2`. (seconds).
pub fn duration(word: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = word.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = word.strip_suffix('s') {
        (s, 1.0)
    } else {
        (word, 1.0)
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{word:?} is not a duration (500ms, 2s, 1.5s)"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("{word:?} is not a duration (500ms, 2s, 1.5s)"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Parses one command of a run of `nodes` nodes.
pub fn command(line: &str, nodes: u32) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let one_node = |what: fn(NodeId) -> Command| -> Result<Command, String> {
        match words.as_slice() {
            [_, n] => Ok(what(node(n, nodes)?)),
            _ => Err(format!("{:?} takes one node: `{} n2`", words[0], words[0])),
        }
    };
    match words.first().copied() {
        Some("pause") => one_node(Command::Pause),
        Some("resume") => one_node(Command::Resume),
        Some("crash") => one_node(Command::Crash),
        Some("restart") => one_node(Command::Restart),
        Some("start") => one_node(Command::Start),
        Some("heal") if words.len() == 1 => Ok(Command::Heal),
        Some("stop" | "quit") if words.len() == 1 => Ok(Command::Stop),
        Some("loss") => match words.as_slice() {
            [_, p] => match p.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(Command::Loss(p)),
                _ => Err(format!("{p:?} is not a loss rate between 0 and 1")),
            },
            _ => Err("loss takes a rate: `loss 0.3`".into()),
        },
        Some("partition") => partition(&words[1..], nodes).map(Command::Partition),
        Some(other) => Err(format!(
            "{other:?} is not a command (pause, resume, crash, restart, start, partition, heal, loss, stop)"
        )),
        None => Err("an empty command".into()),
    }
}

fn partition(words: &[&str], nodes: u32) -> Result<Partition, String> {
    let group = |part: &[&str]| -> Result<Vec<NodeId>, String> {
        part.iter().map(|w| node(w, nodes)).collect()
    };
    if let Some(arrow) = words.iter().position(|w| *w == "->") {
        let (from, to) = (group(&words[..arrow])?, group(&words[arrow + 1..])?);
        if from.is_empty() || to.is_empty() {
            return Err(
                "a one-way partition needs nodes on both sides: `partition n0 -> n2`".into(),
            );
        }
        return Ok(Partition::OneWay { from, to });
    }
    let groups: Vec<Vec<NodeId>> = words
        .split(|w| *w == "|")
        .map(group)
        .collect::<Result<_, _>>()?;
    if groups.iter().all(Vec::is_empty) {
        return Err("partition takes groups: `partition n0 n1 | n2` or `partition n2`".into());
    }
    Ok(Partition::Split(
        groups.into_iter().filter(|g| !g.is_empty()).collect(),
    ))
}

/// Parses a script: a time and a command per line; `#` starts a comment.
pub fn script(text: &str, nodes: u32) -> Result<Vec<Scheduled>, String> {
    let mut scheduled = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (at, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {}: a time, then a command: `2s pause n2`", number + 1))?;
        let at = duration(at).map_err(|e| format!("line {}: {e}", number + 1))?;
        let command = command(rest, nodes).map_err(|e| format!("line {}: {e}", number + 1))?;
        scheduled.push(Scheduled { at, command });
    }
    scheduled.sort_by_key(|s| s.at);
    Ok(scheduled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_reads_as_times_and_commands() {
        let parsed = script("# freeze n2\n2s pause n2\n3.5s resume n2 # and back\n", 3).unwrap();
        assert_eq!(
            parsed,
            vec![
                Scheduled {
                    at: Duration::from_secs(2),
                    command: Command::Pause(NodeId(2))
                },
                Scheduled {
                    at: Duration::from_millis(3_500),
                    command: Command::Resume(NodeId(2))
                },
            ]
        );
    }

    #[test]
    fn partitions_split_or_cut_one_way() {
        assert_eq!(
            command("partition n0 n1 | n2", 3).unwrap(),
            Command::Partition(Partition::Split(vec![
                vec![NodeId(0), NodeId(1)],
                vec![NodeId(2)]
            ]))
        );
        assert_eq!(
            command("partition n0 -> n2", 3).unwrap(),
            Command::Partition(Partition::OneWay {
                from: vec![NodeId(0)],
                to: vec![NodeId(2)]
            })
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert!(command("pause n7", 3).unwrap_err().contains("n0 to n2"));
        assert!(
            command("freeze n1", 3)
                .unwrap_err()
                .contains("not a command")
        );
        assert!(
            command("loss 2", 3)
                .unwrap_err()
                .contains("between 0 and 1")
        );
        assert!(script("pause n1", 3).unwrap_err().contains("line 1"));
    }
}

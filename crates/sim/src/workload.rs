//! Clients and their history. Clients are closed-loop: each has at most one operation
//! outstanding, invokes it at a node, and waits for the reply or for its timeout. Every
//! invocation and completion is recorded on real (simulated) time, ready for a checker.

use crate::node::{Node, OpId, SimRng};
use crate::time::{NodeId, Time};
use std::time::Duration;

/// The next operation a client wants to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation<R> {
    /// The node the client sends it to.
    pub node: NodeId,
    /// What it asks.
    pub request: R,
    /// How long the client waits (think time) before invoking it.
    pub after: Duration,
}

/// Where clients' operations come from. Called when a client starts and after each of its
/// operations completes or times out; `None` means that client is done.
pub trait Workload<N: Node> {
    fn next(&mut self, client: u32, now: Time, rng: &mut SimRng) -> Option<Invocation<N::Request>>;
}

impl<N, F> Workload<N> for F
where
    N: Node,
    F: FnMut(u32, Time, &mut SimRng) -> Option<Invocation<N::Request>>,
{
    fn next(&mut self, client: u32, now: Time, rng: &mut SimRng) -> Option<Invocation<N::Request>> {
        self(client, now, rng)
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<Resp> {
    /// Still outstanding when the run ended: it may or may not have taken effect.
    Pending,
    /// The client got this answer at this time.
    Ok { at: Time, response: Resp },
    /// The client gave up waiting at this time: it may or may not have taken effect.
    TimedOut { at: Time },
}

/// One client operation, from invocation to outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct OpRecord<Req, Resp> {
    pub op: OpId,
    pub node: NodeId,
    pub request: Req,
    pub invoked: Time,
    pub outcome: Outcome<Resp>,
}

impl<Req, Resp> OpRecord<Req, Resp> {
    /// The response, if the client got one.
    pub fn response(&self) -> Option<&Resp> {
        match &self.outcome {
            Outcome::Ok { response, .. } => Some(response),
            _ => None,
        }
    }
}

/// Every client operation of a run, in invocation order.
#[derive(Clone, Debug, PartialEq)]
pub struct History<Req, Resp> {
    pub ops: Vec<OpRecord<Req, Resp>>,
}

impl<Req, Resp> Default for History<Req, Resp> {
    fn default() -> Self {
        History { ops: Vec::new() }
    }
}

impl<Req, Resp> History<Req, Resp> {
    /// The history in the checker's form. `convert` maps a request and its response (`None`
    /// when the outcome is unknown) to the model's input and output.
    pub fn to_lincheck<I, O>(
        &self,
        mut convert: impl FnMut(&Req, Option<&Resp>) -> (I, Option<O>),
    ) -> Vec<lincheck::Operation<I, O>> {
        self.ops
            .iter()
            .map(|rec| {
                let (input, output) = convert(&rec.request, rec.response());
                let ret = match &rec.outcome {
                    Outcome::Ok { at, .. } => Some(at.as_nanos()),
                    _ => None,
                };
                lincheck::Operation {
                    client: u64::from(rec.op.client),
                    call: rec.invoked.as_nanos(),
                    ret,
                    input,
                    output: if ret.is_some() { output } else { None },
                }
            })
            .collect()
    }

    /// How many operations completed with an answer.
    pub fn completed(&self) -> usize {
        self.ops.iter().filter(|r| r.response().is_some()).count()
    }
}

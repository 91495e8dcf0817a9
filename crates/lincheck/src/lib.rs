//! A linearizability checker.
//!
//! A history of concurrent operations is *linearizable* when every operation can be given a
//! single instant between its invocation and its response such that, executed one at a time in
//! the order of those instants, the operations produce exactly the outputs that were observed.
//! [`check`] decides that for any sequential specification written as a [`Model`], with the
//! just-in-time search of Wing & Gong and Lowe (the algorithm Porcupine uses): walk the
//! invocations and responses in time order, linearize an operation as late as possible, undo on a
//! dead end, and remember every (set of linearized operations, model state) pair already explored
//! so that no configuration is searched twice.
//!
//! When a history is not linearizable, the [`Explanation`] shows the longest prefix the search
//! could linearize and the operations that could not come next, which is usually enough to see
//! the anomaly (a stale read, a lost write, ...).
//!
//! ```
//! use lincheck::{check, Operation, Register, RegisterOp, RegisterRet, Verdict};
//!
//! // Client 0 writes 1 and finishes at t=2; client 1 reads at t=3..4 and still sees nil.
//! let history = vec![
//!     Operation { client: 0, call: 0, ret: Some(2), input: RegisterOp::Write(1), output: Some(RegisterRet::Write) },
//!     Operation { client: 1, call: 3, ret: Some(4), input: RegisterOp::Read, output: Some(RegisterRet::Read(None)) },
//! ];
//! match check(&Register, &history) {
//!     Verdict::Linearizable => unreachable!("a stale read after a completed write"),
//!     Verdict::NotLinearizable(why) => println!("{why}"),
//! }
//! ```
//!
//! The library never reads a clock and its output never depends on hash-map iteration order, so
//! the same history always gives the same verdict and the same explanation.

mod fxhash;
mod models;
mod search;

pub mod formats;

use std::fmt;

pub use models::{Kv, KvOp, KvRet, Register, RegisterOp, RegisterRet, check_kv};

/// One operation of a history. Times are integers on one real-time axis (ns or any unit).
///
/// Operation `a` precedes operation `b` in real time iff `a.ret < b.call` (strictly): operations
/// whose intervals merely touch are concurrent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operation<I, O> {
    /// Who issued it (process id); only used to describe the operation.
    pub client: u64,
    /// Invocation time.
    pub call: u64,
    /// Completion time; `None` = outcome unknown (timed out, never completed).
    pub ret: Option<u64>,
    pub input: I,
    /// `None` exactly when the outcome is unknown.
    pub output: Option<O>,
}

/// The sequential specification of an object.
pub trait Model {
    type State: Clone + Eq + std::hash::Hash + std::fmt::Debug;
    type Input: std::fmt::Debug;
    type Output: std::fmt::Debug;
    fn init(&self) -> Self::State;
    /// Apply input to state. With Some(output): return the next state if `output` is what the
    /// operation returns from `state`, None if inconsistent. With None (unknown outcome): the op
    /// took effect, return the next state.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// The result of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Explanation),
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Why a history is not linearizable, as far as the search got.
///
/// Operations are described as `[client c] input -> output  (call..ret)`, with `?` for an unknown
/// output or return time. The lists are complete; [`Display`](fmt::Display) shortens them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The key whose sub-history failed (only for [`check_kv`]).
    pub key: Option<String>,
    /// The longest sequence of operations the search could linearize, in linearization order.
    pub linearized: Vec<String>,
    /// The model state after `linearized`.
    pub state: String,
    /// The operations that were candidates to come next (invoked before the earliest pending
    /// return) and could not, each with the reason.
    pub stuck: Vec<String>,
}

/// How many entries of each list [`Explanation`]'s `Display` shows.
const SHOWN: usize = 10;

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(key) = &self.key {
            writeln!(f, "key {key:?} is not linearizable")?;
        }
        if self.linearized.is_empty() {
            writeln!(f, "no operation could be linearized first")?;
        } else {
            writeln!(
                f,
                "longest linearizable prefix ({} operations):",
                self.linearized.len()
            )?;
            // The operations just before the dead end matter most, so keep the tail.
            let skipped = self.linearized.len().saturating_sub(SHOWN);
            if skipped > 0 {
                writeln!(f, "  ... {skipped} earlier operations")?;
            }
            for (i, op) in self.linearized.iter().enumerate().skip(skipped) {
                writeln!(f, "  {:>3}. {op}", i + 1)?;
            }
        }
        writeln!(f, "state after it: {}", self.state)?;
        writeln!(f, "operations that could not come next:")?;
        for op in self.stuck.iter().take(SHOWN) {
            writeln!(f, "  {op}")?;
        }
        if self.stuck.len() > SHOWN {
            writeln!(f, "  ... and {} more", self.stuck.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// Decides whether `history` is linearizable with respect to `model`.
///
/// An operation with an unknown outcome (`ret: None`) may take effect at any point after its
/// call, or never.
///
/// # Panics
///
/// If an operation has `ret` and `output` not both `Some` or both `None`, or returns before it
/// is called: such a history is malformed, not merely non-linearizable.
pub fn check<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> Verdict {
    let ops: Vec<&Operation<M::Input, M::Output>> = history.iter().collect();
    search::check_refs(model, &ops, None)
}

/// Describes one operation for an [`Explanation`].
fn describe<I: fmt::Debug, O: fmt::Debug>(op: &Operation<I, O>) -> String {
    let output = match &op.output {
        Some(o) => format!("{o:?}"),
        None => "?".to_string(),
    };
    let ret = match op.ret {
        Some(t) => t.to_string(),
        None => "?".to_string(),
    };
    format!(
        "[client {}] {:?} -> {output}  ({}..{ret})",
        op.client, op.input, op.call
    )
}

//! The just-in-time linearization search (Wing & Gong, Lowe; as in Porcupine).
//!
//! The calls and returns of all operations form one list in time order. The operations that
//! may come next in a linearization are those whose call lies before the first return left in
//! the list: the operation of that return must take effect before it, and so may any
//! operation invoked before it. The search walks the list from its head, and at each call tries
//! to apply the operation to the model state; if the model accepts it, the operation is
//! linearized (its call and return leave the list, so that a later return may come first) and
//! the walk starts again from the head. Meeting a return means nothing invoked before it could
//! be linearized next with success, so the last linearized operation is undone and the walk goes
//! on after its call. The history is linearizable once every operation that returned is placed,
//! and is not once there is nothing left to undo.
//!
//! Two configurations with the same set of linearized operations and the same model state
//! have the same future, so each one seen is remembered and never explored again; this turns
//! a search over orders (factorial) into one over sets (at worst exponential, in practice
//! often small).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};

use crate::fxhash::{FxBuildHasher, FxHasher};
use crate::{Explanation, Model, Operation, Verdict, describe};

/// Marks "no return entry" (an operation with an unknown outcome never returns).
const NONE: u32 = u32::MAX;

/// The history as a doubly-linked list of call and return entries in time order.
///
/// Node 0 is the head sentinel and node `len - 1` the tail sentinel, so unlinking never has to
/// test for the ends of the list.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// The operation of each entry.
    op: Vec<u32>,
    /// For a call entry, its return entry (or `NONE`); for a return entry, `NONE`.
    ret: Vec<u32>,
    is_call: Vec<bool>,
    /// The call entries and return entries in time order (for the explanation).
    order: Vec<(bool, u32)>,
}

impl Entries {
    fn new<I, O>(ops: &[&Operation<I, O>]) -> Self {
        // (time, is_return, op): at equal times calls sort before returns, so two operations
        // that touch (a.ret == b.call) are concurrent, as `a precedes b iff a.ret < b.call`
        // requires. The op index breaks the remaining ties, which keeps the search order, and
        // so the explanation, deterministic.
        let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            let i = u32::try_from(i).expect("history has fewer than 2^32 operations");
            events.push((op.call, false, i));
            if let Some(t) = op.ret {
                events.push((t, true, i));
            }
        }
        events.sort_unstable();
        let len = events.len() + 2;
        let tail = (len - 1) as u32;
        let mut e = Entries {
            next: (1..=len as u32).collect(),
            prev: (0..len as u32).map(|k| k.wrapping_sub(1)).collect(),
            op: vec![NONE; len],
            ret: vec![NONE; len],
            is_call: vec![false; len],
            order: events.iter().map(|&(_, r, i)| (r, i)).collect(),
        };
        e.next[tail as usize] = NONE;
        e.prev[0] = NONE;
        let mut call_node = vec![NONE; ops.len()];
        for (k, &(_, is_ret, i)) in events.iter().enumerate() {
            let node = k + 1;
            e.op[node] = i;
            if is_ret {
                e.ret[call_node[i as usize] as usize] = node as u32;
            } else {
                e.is_call[node] = true;
                call_node[i as usize] = node as u32;
            }
        }
        e
    }

    fn tail(&self) -> usize {
        self.next.len() - 1
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    /// Relinks a node unlinked last (dancing links: the node still knows its neighbours).
    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p as usize] = node as u32;
        self.prev[n as usize] = node as u32;
    }

    /// Takes a linearized operation (its call and return entries) out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.ret[call];
        if ret != NONE {
            self.unlink(ret as usize);
        }
    }

    /// Undoes the last `lift`, in reverse order.
    fn unlift(&mut self, call: usize) {
        let ret = self.ret[call];
        if ret != NONE {
            self.relink(ret as usize);
        }
        self.relink(call);
    }
}

/// Panics on an operation that is malformed, not merely non-linearizable.
pub(crate) fn validate<'a, I: 'a, O: 'a>(ops: impl IntoIterator<Item = &'a Operation<I, O>>) {
    for (i, op) in ops.into_iter().enumerate() {
        match (op.ret, op.output.is_some()) {
            (Some(ret), true) => assert!(
                ret >= op.call,
                "operation {i} returns at {ret}, before its call at {}",
                op.call
            ),
            (None, false) => {}
            (Some(_), false) => panic!(
                "operation {i} has a return time but no output (an unknown outcome has ret: None)"
            ),
            (None, true) => panic!(
                "operation {i} has an output but no return time (a known outcome has ret: Some)"
            ),
        }
    }
}

/// The set of configurations (linearized operations, model state) already explored.
///
/// Entries live in flat arrays and the hash table maps a 64-bit hash to the newest entry with
/// that hash, the rest chained through `chain`: growing the table then rehashes integers only,
/// and a bitset costs no allocation of its own.
struct Memo<S> {
    words: usize,
    bits: Vec<u64>,
    states: Vec<S>,
    chain: Vec<u32>,
    heads: HashMap<u64, u32, FxBuildHasher>,
}

impl<S: Clone + Eq + Hash> Memo<S> {
    fn new(words: usize) -> Self {
        Memo {
            words,
            bits: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
            heads: HashMap::default(),
        }
    }

    /// Adds a configuration; false if it was already there.
    fn insert(&mut self, bits: &[u64], state: &S) -> bool {
        let mut hasher = FxHasher::default();
        for &w in bits {
            hasher.write_u64(w);
        }
        state.hash(&mut hasher);
        let new = u32::try_from(self.states.len()).expect("fewer than 2^32 configurations");
        match self.heads.entry(hasher.finish()) {
            Entry::Occupied(mut head) => {
                let mut k = *head.get();
                while k != NONE {
                    let at = k as usize * self.words;
                    if self.bits[at..at + self.words] == *bits && self.states[k as usize] == *state
                    {
                        return false;
                    }
                    k = self.chain[k as usize];
                }
                self.chain.push(*head.get());
                head.insert(new);
            }
            Entry::Vacant(head) => {
                self.chain.push(NONE);
                head.insert(new);
            }
        }
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        true
    }
}

/// A linearization search that can be run in slices (for checking several keys fairly).
pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [&'a Operation<M::Input, M::Output>],
    entries: Entries,
    /// The current linearized set, one bit per operation.
    linearized: Vec<u64>,
    memo: Memo<M::State>,
    /// Each linearized operation's call entry and the state before it, to undo.
    stack: Vec<(usize, M::State)>,
    state: M::State,
    /// Operations with a known outcome not linearized yet. Operations with an unknown outcome
    /// never have to be: the search is over once every operation that returned is placed.
    unplaced: usize,
    /// The entry the walk is at.
    node: usize,
    best_ops: Vec<u32>,
    best_state: M::State,
    outcome: Option<bool>,
}

impl<'a, M: Model> Search<'a, M> {
    /// `ops` must have passed [`validate`].
    pub(crate) fn new(model: &'a M, ops: &'a [&'a Operation<M::Input, M::Output>]) -> Self {
        let entries = Entries::new(ops);
        let state = model.init();
        let words = ops.len().div_ceil(64);
        let unplaced = ops.iter().filter(|op| op.ret.is_some()).count();
        Search {
            model,
            ops,
            node: entries.next[0] as usize,
            entries,
            linearized: vec![0; words],
            memo: Memo::new(words),
            stack: Vec::with_capacity(ops.len()),
            best_state: state.clone(),
            state,
            unplaced,
            best_ops: Vec::new(),
            outcome: (unplaced == 0).then_some(true),
        }
    }

    /// Searches for at most `budget` steps: `Some(linearizable)` once decided.
    pub(crate) fn run(&mut self, mut budget: u64) -> Option<bool> {
        if self.outcome.is_some() {
            return self.outcome;
        }
        let tail = self.entries.tail();
        let mut node = self.node;
        while budget > 0 {
            budget -= 1;
            if node != tail && self.entries.is_call[node] {
                let i = self.entries.op[node] as usize;
                let op = self.ops[i];
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                if let Some(next) = self.model.step(&self.state, &op.input, op.output.as_ref()) {
                    // An unknown-outcome operation that changes nothing is never worth placing:
                    // any linearization that uses it also works without it.
                    let useless = op.ret.is_none() && next == self.state;
                    self.linearized[word] |= bit;
                    if !useless && self.memo.insert(&self.linearized, &next) {
                        let before = std::mem::replace(&mut self.state, next);
                        self.stack.push((node, before));
                        self.entries.lift(node);
                        if op.ret.is_some() {
                            self.unplaced -= 1;
                            if self.unplaced == 0 {
                                self.outcome = Some(true);
                                return self.outcome;
                            }
                        }
                        if self.stack.len() > self.best_ops.len() {
                            self.best_ops = self
                                .stack
                                .iter()
                                .map(|&(n, _)| self.entries.op[n])
                                .collect();
                            self.best_state = self.state.clone();
                        }
                        node = self.entries.next[0] as usize;
                        continue;
                    }
                    self.linearized[word] &= !bit;
                }
                node = self.entries.next[node] as usize;
            } else {
                // A return entry: its operation must have taken effect by now and has not, so
                // this branch is dead. (The tail cannot be reached while a returned operation
                // is unplaced, as its return entry lies ahead; were it reached, backtracking is
                // still the safe move.)
                debug_assert!(
                    node != tail,
                    "walked off the end with returned operations left"
                );
                let Some((call, before)) = self.stack.pop() else {
                    self.outcome = Some(false);
                    return self.outcome;
                };
                let i = self.entries.op[call] as usize;
                self.linearized[i / 64] &= !(1u64 << (i % 64));
                if self.ops[i].ret.is_some() {
                    self.unplaced += 1;
                }
                self.state = before;
                self.entries.unlift(call);
                node = self.entries.next[call] as usize;
            }
        }
        self.node = node;
        None
    }

    /// What the search got to, for a history found not linearizable. `show_state` describes
    /// a model state (models whose states are handles into tables of their own cannot do it
    /// with `Debug`).
    pub(crate) fn explanation(
        &self,
        key: Option<&str>,
        show_state: impl Fn(&M::State) -> String,
    ) -> Explanation {
        let (ops, best_state) = (self.ops, &self.best_state);
        let mut placed = vec![false; ops.len()];
        for &i in &self.best_ops {
            placed[i as usize] = true;
        }
        // The candidates are the unplaced operations invoked before the earliest pending return.
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for &(is_ret, i) in &self.entries.order {
            let op = ops[i as usize];
            if placed[i as usize] {
                continue;
            }
            if is_ret {
                break;
            }
            let reason = match self.model.step(best_state, &op.input, op.output.as_ref()) {
                None => "inconsistent with this state",
                Some(next) if op.ret.is_none() && next == *best_state => {
                    "outcome unknown, no effect from this state"
                }
                Some(_) => "possible here, but no linearization goes on from there",
            };
            let line = format!("{}: {reason}", describe(op));
            if op.ret.is_some() {
                known.push(line);
            } else {
                unknown.push(line);
            }
        }
        // The operations that did return come first: they are the ones that had to be placed.
        known.extend(unknown);
        Explanation {
            key: key.map(str::to_string),
            linearized: self
                .best_ops
                .iter()
                .map(|&i| describe(ops[i as usize]))
                .collect(),
            state: show_state(best_state),
            stuck: known,
        }
    }
}

pub(crate) fn check_refs<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    key: Option<&str>,
) -> Verdict {
    validate(ops.iter().copied());
    let mut search = Search::new(model, ops);
    match search.run(u64::MAX) {
        Some(true) => Verdict::Linearizable,
        _ => Verdict::NotLinearizable(search.explanation(key, |s| format!("{s:?}"))),
    }
}

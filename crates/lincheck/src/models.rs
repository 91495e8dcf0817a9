//! Ready-made models: a compare-and-set register and a key-value store.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::fxhash::FxBuildHasher;
use crate::search::{self, Search};
use crate::{Model, Operation, Verdict};

/// A register holding an integer or nil (its initial value), with compare-and-set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    Read,
    Write(i64),
    Cas { from: i64, to: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterRet {
    /// The value read; `None` is nil.
    Read(Option<i64>),
    Write,
    /// `false`: the register did not hold `from`, and was left unchanged.
    Cas(bool),
}

impl Model for Register {
    type State = Option<i64>;
    type Input = RegisterOp;
    type Output = RegisterRet;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterOp,
        output: Option<&RegisterRet>,
    ) -> Option<Option<i64>> {
        let state = *state;
        match (*input, output) {
            (RegisterOp::Read, None) => Some(state),
            (RegisterOp::Read, Some(&RegisterRet::Read(v))) => (v == state).then_some(state),
            (RegisterOp::Write(v), None | Some(RegisterRet::Write)) => Some(Some(v)),
            (RegisterOp::Cas { from, to }, None) => {
                Some(if state == Some(from) { Some(to) } else { state })
            }
            (RegisterOp::Cas { from, to }, Some(&RegisterRet::Cas(true))) => {
                (state == Some(from)).then_some(Some(to))
            }
            (RegisterOp::Cas { from, .. }, Some(&RegisterRet::Cas(false))) => {
                (state != Some(from)).then_some(state)
            }
            // An output of another operation's kind is never what this operation returns.
            _ => None,
        }
    }
}

/// A key-value store of strings; every key starts as "" and append concatenates.
///
/// As a [`Model`] it tracks the whole store, which is correct for any history but makes the
/// search explore the product of all keys' states. Keys are independent, so [`check_kv`], which
/// checks each key's sub-history on its own, is much faster and gives the same verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Kv;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get { key: String },
    Put { key: String, value: String },
    Append { key: String, value: String },
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key } | KvOp::Put { key, .. } | KvOp::Append { key, .. } => key,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvRet {
    /// The value read ("" for a key never written).
    Get(String),
    Put,
    Append,
}

/// What one key's value becomes, or `None` if `output` is inconsistent with `value`.
fn step_value(value: &str, input: &KvOp, output: Option<&KvRet>) -> Option<String> {
    match (input, output) {
        (KvOp::Get { .. }, None) => Some(value.to_string()),
        (KvOp::Get { .. }, Some(KvRet::Get(v))) => (v == value).then(|| value.to_string()),
        (KvOp::Put { value: new, .. }, None | Some(KvRet::Put)) => Some(new.clone()),
        (KvOp::Append { value: tail, .. }, None | Some(KvRet::Append)) => {
            Some(format!("{value}{tail}"))
        }
        _ => None,
    }
}

impl Model for Kv {
    /// Only keys whose value is not "" are stored, so equal stores compare equal.
    type State = BTreeMap<String, String>;
    type Input = KvOp;
    type Output = KvRet;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvOp,
        output: Option<&KvRet>,
    ) -> Option<Self::State> {
        let key = input.key();
        let old = state.get(key).map_or("", String::as_str);
        let new = step_value(old, input, output)?;
        if new == old {
            return Some(state.clone());
        }
        let mut next = state.clone();
        if new.is_empty() {
            next.remove(key);
        } else {
            next.insert(key.to_string(), new);
        }
        Some(next)
    }
}

/// One key's value, as a node of a trie of appends kept by [`Values`].
///
/// Appends make values grow with the history (a kilobyte after a hundred appends), and the
/// search hashes and compares a state at every step: a node number costs one integer however
/// long its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Node(u32);

/// The values of one or more keys: each node is a put value (a root) or its parent node with
/// one more string appended.
///
/// The same append to the same node always gives the same node, but two different paths may
/// spell the same string (put "ab" vs put "a", append "b") and stay two nodes. That only costs
/// the memo a few hits: every comparison with an observed value goes by the text.
#[derive(Default)]
struct Values {
    /// (parent or `ROOT`, text appended or put, length of the whole value).
    nodes: Vec<(u32, u32, usize)>,
    texts: Vec<Box<str>>,
    text_ids: HashMap<Box<str>, u32, FxBuildHasher>,
    roots: HashMap<u32, u32, FxBuildHasher>,
    children: HashMap<(u32, u32), u32, FxBuildHasher>,
}

const ROOT: u32 = u32::MAX;

impl Values {
    fn text_id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.text_ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).expect("fewer than 2^32 strings");
        self.texts.push(text.into());
        self.text_ids.insert(text.into(), id);
        id
    }

    fn node(&mut self, parent: u32, text: u32) -> u32 {
        let len = self.texts[text as usize].len()
            + if parent == ROOT {
                0
            } else {
                self.nodes[parent as usize].2
            };
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 values");
        self.nodes.push((parent, text, len));
        id
    }

    fn put(&mut self, value: &str) -> Node {
        let text = self.text_id(value);
        if let Some(&node) = self.roots.get(&text) {
            return Node(node);
        }
        let node = self.node(ROOT, text);
        self.roots.insert(text, node);
        Node(node)
    }

    fn append(&mut self, to: Node, suffix: &str) -> Node {
        let text = self.text_id(suffix);
        if let Some(&node) = self.children.get(&(to.0, text)) {
            return Node(node);
        }
        let node = self.node(to.0, text);
        self.children.insert((to.0, text), node);
        Node(node)
    }

    /// Whether `node` spells `value`, compared from the end: appended values are usually
    /// unique, so a mismatch shows at once.
    fn spells(&self, node: Node, value: &str) -> bool {
        let value = value.as_bytes();
        let mut node = node.0;
        if self.nodes[node as usize].2 != value.len() {
            return false;
        }
        let mut end = value.len();
        while node != ROOT {
            let (parent, text, _) = self.nodes[node as usize];
            let text = self.texts[text as usize].as_bytes();
            if !value[..end].ends_with(text) {
                return false;
            }
            end -= text.len();
            node = parent;
        }
        true
    }

    fn text(&self, node: Node) -> String {
        let mut parts = Vec::new();
        let mut node = node.0;
        while node != ROOT {
            let (parent, text, _) = self.nodes[node as usize];
            parts.push(&*self.texts[text as usize]);
            node = parent;
        }
        parts.iter().rev().copied().collect()
    }
}

/// One key of a [`Kv`] store: a string register. Only meaningful on a single key's sub-history.
#[derive(Default)]
struct KvKey {
    values: RefCell<Values>,
}

impl Model for KvKey {
    type State = Node;
    type Input = KvOp;
    type Output = KvRet;

    fn init(&self) -> Node {
        self.values.borrow_mut().put("")
    }

    fn step(&self, &state: &Node, input: &KvOp, output: Option<&KvRet>) -> Option<Node> {
        match (input, output) {
            (KvOp::Get { .. }, None) => Some(state),
            (KvOp::Get { .. }, Some(KvRet::Get(v))) => {
                self.values.borrow().spells(state, v).then_some(state)
            }
            (KvOp::Put { value, .. }, None | Some(KvRet::Put)) => {
                Some(self.values.borrow_mut().put(value))
            }
            (KvOp::Append { value, .. }, None | Some(KvRet::Append)) => {
                Some(self.values.borrow_mut().append(state, value))
            }
            _ => None,
        }
    }
}

/// Checks a key-value history one key at a time.
///
/// A history is linearizable iff each key's sub-history is (linearizability is compositional),
/// so the verdict is the same as `check(&Kv, history)`, found far faster. The keys' searches
/// take turns, a fixed number of steps each in sorted key order, and the first to fail is
/// reported: a key whose search would take very long cannot hide another key's quick failure,
/// and the reported key is still the same on every run.
///
/// # Panics
///
/// On a malformed operation, as [`check`](crate::check).
pub fn check_kv(history: &[Operation<KvOp, KvRet>]) -> Verdict {
    /// Search steps per key per turn: large enough that switching costs nothing.
    const SLICE: u64 = 4096;
    search::validate(history);
    // A BTreeMap so that the order of turns does not depend on hashing.
    let mut by_key: BTreeMap<&str, Vec<&Operation<KvOp, KvRet>>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.input.key()).or_default().push(op);
    }
    let model = KvKey::default();
    let mut searches: Vec<(&str, Search<'_, KvKey>)> = by_key
        .iter()
        .map(|(key, ops)| (*key, Search::new(&model, ops)))
        .collect();
    while !searches.is_empty() {
        let mut k = 0;
        while k < searches.len() {
            match searches[k].1.run(SLICE) {
                Some(false) => {
                    let (key, search) = &searches[k];
                    let show = |&node: &Node| format!("{:?}", model.values.borrow().text(node));
                    return Verdict::NotLinearizable(search.explanation(Some(key), show));
                }
                // Done: drop its memo now rather than at the end.
                Some(true) => drop(searches.remove(k)),
                None => k += 1,
            }
        }
    }
    Verdict::Linearizable
}

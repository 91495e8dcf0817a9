//! A chapter's scenarios as the book draws them: the runner is in `course`, the trace is parsed
//! here into a `sim::Trace`.

use course::Chapter;
use serde::{Deserialize, Serialize};
use sim::Trace;
use std::path::Path;

pub use course::scenario::{split, table};

#[derive(Clone, Debug, Deserialize)]
pub struct Listed {
    pub name: String,
    pub title: String,
    pub seed: u64,
    /// The knobs the served book shows beside the figure (see `sim::scenario::Param`).
    #[serde(default)]
    pub params: Vec<Param>,
}

/// A scenario's declared knob, as its list gives it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Param {
    pub name: String,
    pub label: String,
    pub unit: String,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

/// The scenarios a chapter's solution offers.
pub fn list(root: &Path, chapter: &Chapter) -> Result<Vec<Listed>, String> {
    let json = course::scenario::list_json(root, chapter)?;
    serde_json::from_str(&json).map_err(|e| format!("bad scenario list from {}: {e}", chapter.slug))
}

/// The trace of one scenario, with its own seed or the one given.
pub fn trace(
    root: &Path,
    chapter: &Chapter,
    name: &str,
    seed: Option<u64>,
) -> Result<Trace, String> {
    let json = course::scenario::trace_json(root, chapter, name, seed)?;
    serde_json::from_str(&json).map_err(|e| format!("bad trace from {}/{name}: {e}", chapter.slug))
}

/// The metrics chart of one scenario of the reference.
pub fn chart(root: &Path, chapter: &Chapter, name: &str) -> Result<sim::metrics::Chart, String> {
    let json = course::scenario::chart_json(root, chapter, name)?;
    serde_json::from_str(&json).map_err(|e| format!("bad chart from {}/{name}: {e}", chapter.slug))
}

/// The trace of one scenario run by the reference with `feature` (a drill's broken variant),
/// whatever it shows.
pub fn variant_trace(
    root: &Path,
    chapter: &Chapter,
    name: &str,
    feature: &str,
) -> Result<Trace, String> {
    let run = course::scenario::any_trace_json(
        root,
        chapter,
        course::scenario::Mechanism::Variant(feature),
        name,
        None,
    )
    .map_err(|stderr| {
        format!(
            "scenario {}/{name} with {feature} failed:\n{stderr}",
            chapter.slug
        )
    })?;
    serde_json::from_str(&run.trace_json)
        .map_err(|e| format!("bad trace from {}/{name} with {feature}: {e}", chapter.slug))
}

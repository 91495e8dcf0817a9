//! Renderers: the same trace as a plain-text timeline (terminals and snapshots), an SVG
//! Lamport diagram (the book) and Chrome trace-event JSON (Perfetto).

pub mod chart;
pub mod perfetto;
pub mod svg;
pub mod text;

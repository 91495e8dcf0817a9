//! The SVG space-time (Lamport) diagram: one lane per node, time left to right, messages as
//! arrows between lanes, faults as shaded bands.
//!
//! The output is one self-contained `<svg>` element meant to sit inline in a book page with a
//! light or a dark theme, so text and lanes use `currentColor` and explicit colours only carry
//! meaning (red: crash or loss, amber: pause or slowness, purple: partition, blue: message,
//! green: client operation). Coordinates are printed with fixed precision, so the same trace and
//! options always give the same bytes.

use crate::time::{NodeId, Time};
use crate::trace::{DropReason, EventKind, Trace};
use std::collections::BTreeSet;
use std::fmt::Write;

/// What part of a trace to draw, and how wide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvgOptions {
    /// Shown above the diagram and read out by screen readers; "timeline" when absent.
    pub title: Option<String>,
    /// Draw only from this instant on (the whole trace when absent).
    pub from: Option<Time>,
    /// Draw only up to this instant (the whole trace when absent).
    pub to: Option<Time>,
    /// Width in pixels; the height follows from the number of nodes.
    pub width: u32,
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions {
            title: None,
            from: None,
            to: None,
            width: 760,
        }
    }
}

/// The whole trace at the default width.
pub fn render_default(trace: &Trace) -> String {
    render(trace, &SvgOptions::default())
}

const LANE_GAP: f64 = 70.0;
const PLOT_LEFT: f64 = 44.0;
const RIGHT_MARGIN: f64 = 20.0;
/// Advance of one character of 11 px monospace text (0.6 em): how labels are measured, since
/// there is no font metrics to ask.
const CHAR_WIDTH: f64 = 6.6;
const NOTE_ROWS: usize = 4;
const NOTE_ROW_HEIGHT: f64 = 11.0;
const NOTE_MAX_CHARS: usize = 60;
const NOTE_CUT_CHARS: usize = 28;
const NOTE_SHORT_CHARS: usize = 12;
const LEGEND_ROW_HEIGHT: f64 = 18.0;
const MIN_WIDTH: u32 = 240;

const MESSAGE: &str = "#2f7fd8";
const RED: &str = "#dc2626";
const AMBER: &str = "#f59e0b";
const AMBER_TEXT: &str = "#d97706";
const PURPLE: &str = "#8b5cf6";
const GREEN: &str = "#16a34a";
const CYAN: &str = "#0891b2";
const GREY: &str = "#888888";

/// Draws `trace` (or the window of it that `options` asks for) as an SVG document.
pub fn render(trace: &Trace, options: &SvgOptions) -> String {
    let width = f64::from(options.width.max(MIN_WIDTH));
    let lanes = lane_count(trace);
    let trace_end = trace
        .events
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or(Time::ZERO);
    let (t0, t1) = window(trace, options);
    let spans = node_spans(trace, lanes, trace_end);
    let partitions: Vec<PartitionSpan> = partition_spans(trace, trace_end)
        .into_iter()
        .filter(|p| p.start <= t1 && p.end >= t0)
        .collect();

    let mut top = 8.0;
    let title_baseline = options.title.as_ref().map(|_| {
        top += 22.0;
        top - 8.0
    });
    let plot = Plot {
        t0: t0.as_nanos(),
        t1: t1.as_nanos(),
        left: PLOT_LEFT,
        right: width - RIGHT_MARGIN,
        lane0: 0.0,
    };
    let strip_rows = strip_rows(&plot, &partitions);
    let strip_top = top;
    let strip_row_count = strip_rows.iter().copied().max().map_or(0, |r| r + 1);
    if strip_row_count > 0 {
        top += strip_row_count as f64 * 16.0 + 4.0;
    }
    // Room above the first lane for its note rows (the lowest sits 5 px above the lane).
    let lane0 = top + 5.0 + NOTE_ROWS as f64 * NOTE_ROW_HEIGHT;
    let plot = Plot { lane0, ..plot };
    let last_lane = lane0 + LANE_GAP * lanes.saturating_sub(1) as f64;
    let axis_y = last_lane + 36.0;

    let mut body = Body {
        out: String::new(),
        plot,
        lanes,
        legend: BTreeSet::new(),
        notes: vec![LabelRows::new(NOTE_ROWS); lanes],
        band_labels: vec![LabelRows::new(1); lanes],
        axis_y,
        width,
        event: 0,
    };
    body.grid();
    body.partition_bands(&partitions, strip_top, &strip_rows);
    body.node_bands(&spans);
    body.lanes(&spans);
    body.messages(trace);
    body.markers(trace);
    body.axis();

    let legend_top = axis_y + 34.0;
    let (legend, legend_rows) = legend(&body.legend, width, legend_top);
    let height = legend_top + legend_rows as f64 * LEGEND_ROW_HEIGHT + 4.0;

    let label = options.title.as_deref().unwrap_or("timeline");
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{label}\" \
         font-family=\"ui-monospace, Menlo, Consolas, monospace\" font-size=\"11\" \
         style=\"max-width:100%;height:auto\">\n<title>{label}</title>\n",
        w = format!("{width:.0}"),
        h = format!("{height:.0}"),
        label = escape(label),
    );
    if let (Some(baseline), Some(title)) = (title_baseline, &options.title) {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" \
             fill=\"currentColor\">{}</text>",
            num(PLOT_LEFT),
            num(baseline),
            escape(title)
        );
    }
    svg.push_str(&body.out);
    svg.push_str(&legend);
    svg.push_str("</svg>\n");
    svg
}

/// Lanes for every node the trace declares, and for any node an event names beyond that, so
/// a hand-made or truncated trace still draws.
fn lane_count(trace: &Trace) -> usize {
    let named = trace
        .events
        .iter()
        .flat_map(|e| match &e.kind {
            EventKind::Send { from, to, .. }
            | EventKind::Deliver { from, to, .. }
            | EventKind::Drop { from, to, .. } => vec![*from, *to],
            EventKind::Partition { blocked, .. } => {
                blocked.iter().flat_map(|(a, b)| [*a, *b]).collect()
            }
            other => other.node().into_iter().collect(),
        })
        .map(|node| node.index() + 1)
        .max()
        .unwrap_or(0);
    named.max(trace.nodes as usize)
}

/// The drawn time range. An explicit bound wins (clamped to the trace, so `to: Time::MAX` means
/// "to the end"); otherwise the first and last event times. Never empty, so scaling never
/// divides by zero.
fn window(trace: &Trace, options: &SvgOptions) -> (Time, Time) {
    let times = trace.events.iter().map(|e| e.time);
    let first = times.clone().min().unwrap_or(Time::ZERO);
    let last = times.max().unwrap_or(Time::ZERO);
    let t0 = options.from.unwrap_or(first);
    let t1 = options.to.map_or(last, |to| to.min(last)).max(t0);
    if t1 > t0 {
        (t0, t1)
    } else {
        let start = Time(t0.as_nanos().saturating_sub(500_000));
        (start, Time(start.as_nanos() + 1_000_000))
    }
}

/// Maps time and nodes to pixels.
#[derive(Clone, Copy)]
struct Plot {
    t0: u64,
    t1: u64,
    left: f64,
    right: f64,
    lane0: f64,
}

impl Plot {
    fn x(&self, time: Time) -> f64 {
        let offset = time.as_nanos() as f64 - self.t0 as f64;
        self.left + offset / (self.t1 - self.t0) as f64 * (self.right - self.left)
    }

    fn lane_y(&self, node: NodeId) -> f64 {
        self.lane0 + LANE_GAP * node.index() as f64
    }

    fn contains(&self, time: Time) -> bool {
        (self.t0..=self.t1).contains(&time.as_nanos())
    }

    fn overlaps(&self, start: Time, end: Time) -> bool {
        start.as_nanos() <= self.t1 && end.as_nanos() >= self.t0
    }

    fn clamp_x(&self, x: f64) -> f64 {
        x.clamp(self.left, self.right)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpanKind {
    Down,
    Slow,
    Paused,
}

/// A stretch of time a node spent crashed, slow or paused.
struct NodeSpan {
    node: NodeId,
    kind: SpanKind,
    start: Time,
    end: Time,
    /// Whether the trace ended before the span did.
    open: bool,
    detail: String,
}

/// Pairs each Crash, Pause and Slow with the event that ends it on the same node. A span with
/// no end event runs to its planned end (pause, slow) or to the end of the trace (crash).
fn node_spans(trace: &Trace, lanes: usize, trace_end: Time) -> Vec<NodeSpan> {
    let mut spans = Vec::new();
    let mut down: Vec<Option<Time>> = vec![None; lanes];
    let mut paused: Vec<Option<(Time, Time)>> = vec![None; lanes];
    let mut slow: Vec<Option<(Time, Time, u64)>> = vec![None; lanes];
    for event in &trace.events {
        match &event.kind {
            EventKind::Crash { node } => {
                down[node.index()].get_or_insert(event.time);
            }
            EventKind::Start { node, .. } => {
                if let Some(start) = down[node.index()].take() {
                    spans.push(NodeSpan {
                        node: *node,
                        kind: SpanKind::Down,
                        start,
                        end: event.time,
                        open: false,
                        detail: format!("{node} crashed at {start}, restarted at {}", event.time),
                    });
                }
            }
            EventKind::Pause { node, until } => {
                paused[node.index()].get_or_insert((event.time, *until));
            }
            EventKind::Resume { node } => {
                if let Some((start, _)) = paused[node.index()].take() {
                    spans.push(NodeSpan {
                        node: *node,
                        kind: SpanKind::Paused,
                        start,
                        end: event.time,
                        open: false,
                        detail: format!("{node} paused {start} – {}", event.time),
                    });
                }
            }
            EventKind::Slow {
                node,
                per_event_ns,
                until,
            } => {
                slow[node.index()].get_or_insert((event.time, *until, *per_event_ns));
            }
            EventKind::SlowEnd { node } => {
                if let Some((start, _, per_event_ns)) = slow[node.index()].take() {
                    spans.push(NodeSpan {
                        node: *node,
                        kind: SpanKind::Slow,
                        start,
                        end: event.time,
                        open: false,
                        detail: format!(
                            "{node} slow (+{} per event) {start} – {}",
                            Time(per_event_ns),
                            event.time
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    for (index, start) in down.into_iter().enumerate() {
        if let Some(start) = start {
            let node = NodeId(index as u32);
            spans.push(NodeSpan {
                node,
                kind: SpanKind::Down,
                start,
                end: trace_end,
                open: true,
                detail: format!("{node} crashed at {start}, still down at the end"),
            });
        }
    }
    for (index, pause) in paused.into_iter().enumerate() {
        if let Some((start, until)) = pause {
            let node = NodeId(index as u32);
            spans.push(NodeSpan {
                node,
                kind: SpanKind::Paused,
                start,
                end: until.min(trace_end).max(start),
                open: true,
                detail: format!("{node} paused from {start} until {until}"),
            });
        }
    }
    for (index, slowness) in slow.into_iter().enumerate() {
        if let Some((start, until, per_event_ns)) = slowness {
            let node = NodeId(index as u32);
            spans.push(NodeSpan {
                node,
                kind: SpanKind::Slow,
                start,
                end: until.min(trace_end).max(start),
                open: true,
                detail: format!(
                    "{node} slow (+{} per event) from {start} until {until}",
                    Time(per_event_ns)
                ),
            });
        }
    }
    spans
}

/// A partition from its start to its heal (or the end of the trace).
struct PartitionSpan {
    description: String,
    /// Every node on either end of a blocked link, ascending.
    nodes: Vec<NodeId>,
    start: Time,
    end: Time,
}

fn partition_spans(trace: &Trace, trace_end: Time) -> Vec<PartitionSpan> {
    let mut spans = Vec::new();
    let mut open: Vec<(u64, PartitionSpan)> = Vec::new();
    for event in &trace.events {
        match &event.kind {
            EventKind::Partition {
                id,
                description,
                blocked,
            } => {
                let nodes: BTreeSet<NodeId> = blocked.iter().flat_map(|(a, b)| [*a, *b]).collect();
                open.push((
                    *id,
                    PartitionSpan {
                        description: description.clone(),
                        nodes: nodes.into_iter().collect(),
                        start: event.time,
                        end: trace_end,
                    },
                ));
            }
            EventKind::Heal { id, .. } => {
                if let Some(position) = open.iter().position(|(open_id, _)| open_id == id) {
                    let (_, mut span) = open.remove(position);
                    span.end = event.time;
                    spans.push(span);
                }
            }
            _ => {}
        }
    }
    spans.extend(open.into_iter().map(|(_, span)| span));
    spans.sort_by_key(|span| (span.start, span.end));
    spans
}

/// Which row of the strip above the lanes each partition's bar goes in, so that bars and their
/// labels never overlap.
fn strip_rows(plot: &Plot, partitions: &[PartitionSpan]) -> Vec<usize> {
    let mut row_ends: Vec<f64> = Vec::new();
    partitions
        .iter()
        .map(|partition| {
            let (start, end) = partition_x(plot, partition);
            let label_end = start + 6.0 + text_width(&shorten(&partition.description, 40));
            let occupied_end = end.max(label_end);
            let row = match row_ends.iter().position(|&row_end| row_end + 4.0 <= start) {
                Some(row) => row,
                None => {
                    row_ends.push(f64::MIN);
                    row_ends.len() - 1
                }
            };
            row_ends[row] = occupied_end;
            row
        })
        .collect()
}

fn partition_x(plot: &Plot, partition: &PartitionSpan) -> (f64, f64) {
    let start = plot.clamp_x(plot.x(partition.start));
    let end = plot.clamp_x(plot.x(partition.end)).max(start + 2.0);
    (start, end)
}

/// Labels stacked in rows beside one lane: each new label takes the first row where it does
/// not overlap the labels already placed.
#[derive(Clone)]
struct LabelRows {
    rows: Vec<Vec<(f64, f64)>>,
}

impl LabelRows {
    fn new(rows: usize) -> Self {
        LabelRows {
            rows: vec![Vec::new(); rows],
        }
    }

    fn free_row(&self, start: f64, end: f64) -> Option<usize> {
        self.rows
            .iter()
            .position(|row| row.iter().all(|&(a, b)| end + 4.0 <= a || start >= b + 4.0))
    }

    fn take(&mut self, row: usize, start: f64, end: f64) {
        self.rows[row].push((start, end));
    }
}

/// Kinds of mark the legend explains; it lists only those that were drawn, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Legend {
    Message,
    Duplicate,
    InFlight,
    Lost,
    Dropped,
    Crashed,
    Paused,
    Slow,
    Partition,
    Note,
    Timer,
    Request,
    Response,
    Timeout,
    ClockStep,
    Trigger,
    Halt,
}

impl Legend {
    fn label(self) -> &'static str {
        match self {
            Legend::Message => "message",
            Legend::Duplicate => "duplicate",
            Legend::InFlight => "in flight at end",
            Legend::Lost => "lost",
            Legend::Dropped => "dropped (partition / node down)",
            Legend::Crashed => "crashed",
            Legend::Paused => "paused",
            Legend::Slow => "slow",
            Legend::Partition => "partition",
            Legend::Note => "note",
            Legend::Timer => "timer",
            Legend::Request => "request",
            Legend::Response => "response",
            Legend::Timeout => "timeout",
            Legend::ClockStep => "clock step",
            Legend::Trigger => "triggered fault",
            Legend::Halt => "halt",
        }
    }
}

/// The diagram between the title and the legend.
struct Body {
    out: String,
    plot: Plot,
    lanes: usize,
    legend: BTreeSet<Legend>,
    /// Per lane, the rows of note and clock-step labels above it.
    notes: Vec<LabelRows>,
    /// Per lane, the single row of band labels ("crashed", "paused") below it.
    band_labels: Vec<LabelRows>,
    axis_y: f64,
    /// The whole diagram's width, which labels must stay inside.
    width: f64,
    /// The index in the trace of the event being drawn, which each mark carries as
    /// `data-event` so that the book's step-through can find the event a click names.
    event: usize,
}

impl Body {
    /// The attribute that ties a mark to its event.
    fn event_attribute(&self) -> String {
        format!(" data-event=\"{}\"", self.event)
    }

    fn lanes_top(&self) -> f64 {
        self.plot.lane0 - 30.0
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        let span_ms = (self.plot.t1 - self.plot.t0) as f64 / 1e6;
        let wanted = ((self.plot.right - self.plot.left) / 90.0).max(2.0);
        let raw = span_ms / wanted;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|step| *step >= raw)
            .unwrap_or(10.0 * magnitude);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let start_ms = self.plot.t0 as f64 / 1e6;
        let end_ms = self.plot.t1 as f64 / 1e6;
        let first = (start_ms / step).ceil() as i64;
        let last = (end_ms / step + 1e-9).floor() as i64;
        (first..=last)
            .map(|k| {
                let ms = k as f64 * step;
                let x = self.plot.x(Time((ms * 1e6).round() as u64));
                (x, format!("{ms:.decimals$}ms"))
            })
            .collect()
    }

    fn grid(&mut self) {
        let top = self.lanes_top();
        for (x, _) in self.ticks() {
            let _ = writeln!(
                self.out,
                "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"currentColor\" \
                 stroke-opacity=\"0.12\"/>",
                x = num(x),
                top = num(top),
                bottom = num(self.axis_y),
            );
        }
    }

    fn axis(&mut self) {
        let y = self.axis_y;
        let _ = writeln!(
            self.out,
            "<line class=\"tl-axis\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" \
             stroke=\"currentColor\" stroke-opacity=\"0.6\"/>",
            num(self.plot.left),
            num(self.plot.right),
            y = num(y),
        );
        for (x, label) in self.ticks() {
            let _ = writeln!(
                self.out,
                "<line x1=\"{x}\" y1=\"{y}\" x2=\"{x}\" y2=\"{tick}\" stroke=\"currentColor\" \
                 stroke-opacity=\"0.6\"/><text x=\"{x}\" y=\"{text}\" text-anchor=\"middle\" \
                 fill=\"currentColor\">{label}</text>",
                x = num(x),
                y = num(y),
                tick = num(y + 4.0),
                text = num(y + 16.0),
            );
        }
    }

    fn partition_bands(&mut self, partitions: &[PartitionSpan], strip_top: f64, rows: &[usize]) {
        if partitions.is_empty() {
            return;
        }
        self.legend.insert(Legend::Partition);
        let _ = writeln!(
            self.out,
            "<text x=\"6\" y=\"{}\" fill=\"currentColor\" fill-opacity=\"0.7\">net</text>",
            num(strip_top + 10.0)
        );
        for (partition, &row) in partitions.iter().zip(rows) {
            let (x0, x1) = partition_x(&self.plot, partition);
            let title = escape(&format!(
                "partition {} from {} to {}",
                partition.description, partition.start, partition.end
            ));
            let _ = write!(self.out, "<g class=\"tl-partition\"><title>{title}</title>");
            // One band per run of adjacent lanes, so a contiguous group reads as one block.
            let mut runs: Vec<(usize, usize)> = Vec::new();
            for node in &partition.nodes {
                match runs.last_mut() {
                    Some((_, last)) if *last + 1 == node.index() => *last = node.index(),
                    _ => runs.push((node.index(), node.index())),
                }
            }
            for (first, last) in runs {
                let top = self.plot.lane_y(NodeId(first as u32)) - 24.0;
                let bottom = self.plot.lane_y(NodeId(last as u32)) + 24.0;
                let _ = write!(
                    self.out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{PURPLE}\" \
                     fill-opacity=\"0.12\"/>",
                    num(x0),
                    num(top),
                    num(x1 - x0),
                    num(bottom - top)
                );
            }
            let bar_y = strip_top + row as f64 * 16.0;
            let _ = writeln!(
                self.out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"13\" fill=\"{PURPLE}\" \
                 fill-opacity=\"0.3\"/><text x=\"{}\" y=\"{}\" fill=\"currentColor\">{}</text></g>",
                num(x0),
                num(bar_y),
                num(x1 - x0),
                num(x0 + 3.0),
                num(bar_y + 10.0),
                escape(&shorten(&partition.description, 40)),
            );
        }
    }

    fn node_bands(&mut self, spans: &[NodeSpan]) {
        // Slow first so that a pause or crash inside a slow period stays visible on top.
        let order = [SpanKind::Slow, SpanKind::Down, SpanKind::Paused];
        for kind in order {
            for span in spans.iter().filter(|s| s.kind == kind) {
                if !self.plot.overlaps(span.start, span.end) {
                    continue;
                }
                let (class, fill, opacity, half, label, label_colour, legend) = match kind {
                    SpanKind::Down => {
                        ("tl-crash", RED, 0.16, 13.0, "crashed", RED, Legend::Crashed)
                    }
                    SpanKind::Paused => (
                        "tl-pause",
                        AMBER,
                        0.35,
                        9.0,
                        "paused",
                        AMBER_TEXT,
                        Legend::Paused,
                    ),
                    SpanKind::Slow => (
                        "tl-slow",
                        AMBER,
                        0.14,
                        9.0,
                        "slow",
                        AMBER_TEXT,
                        Legend::Slow,
                    ),
                };
                self.legend.insert(legend);
                let y = self.plot.lane_y(span.node);
                let x0 = self.plot.clamp_x(self.plot.x(span.start));
                let x1 = self.plot.clamp_x(self.plot.x(span.end)).max(x0 + 2.0);
                let more = if span.open { " (to the end)" } else { "" };
                let _ = write!(
                    self.out,
                    "<g class=\"{class}\"><title>{}{more}</title><rect x=\"{}\" y=\"{}\" \
                     width=\"{}\" height=\"{}\" fill=\"{fill}\" fill-opacity=\"{opacity}\"/>",
                    escape(&span.detail),
                    num(x0),
                    num(y - half),
                    num(x1 - x0),
                    num(2.0 * half),
                );
                let label_start = (x0 + 2.0).min(self.width - 2.0 - text_width(label));
                let label_end = label_start + text_width(label);
                let lane_labels = &mut self.band_labels[span.node.index()];
                if let Some(row) = lane_labels.free_row(label_start, label_end) {
                    lane_labels.take(row, label_start, label_end);
                    let _ = write!(
                        self.out,
                        "<text x=\"{}\" y=\"{}\" fill=\"{label_colour}\">{label}</text>",
                        num(label_start),
                        num(y + 24.0),
                    );
                }
                self.out.push_str("</g>\n");
            }
        }
    }

    fn lanes(&mut self, spans: &[NodeSpan]) {
        for lane in 0..self.lanes {
            let node = NodeId(lane as u32);
            let y = self.plot.lane_y(node);
            let _ = writeln!(
                self.out,
                "<text x=\"6\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" \
                 fill=\"currentColor\">{node}</text>",
                num(y + 4.0)
            );
            let mut down: Vec<(f64, f64)> = spans
                .iter()
                .filter(|s| s.node == node && s.kind == SpanKind::Down)
                .filter(|s| self.plot.overlaps(s.start, s.end))
                .map(|s| {
                    (
                        self.plot.clamp_x(self.plot.x(s.start)),
                        self.plot.clamp_x(self.plot.x(s.end)),
                    )
                })
                .collect();
            down.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut cursor = self.plot.left;
            for (start, end) in down {
                self.lane_segment(y, cursor, start.max(cursor), false);
                self.lane_segment(y, start.max(cursor), end.max(cursor), true);
                cursor = end.max(cursor);
            }
            self.lane_segment(y, cursor, self.plot.right, false);
        }
    }

    fn lane_segment(&mut self, y: f64, x0: f64, x1: f64, dashed: bool) {
        if x1 - x0 < 0.05 {
            return;
        }
        let dash = if dashed {
            " stroke-dasharray=\"3 4\""
        } else {
            ""
        };
        let _ = writeln!(
            self.out,
            "<line class=\"tl-lane\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" \
             stroke=\"currentColor\" stroke-opacity=\"0.55\" stroke-width=\"1.5\"{dash}/>",
            num(x0),
            num(x1),
            y = num(y),
        );
    }

    fn messages(&mut self, trace: &Trace) {
        let mut resolved = BTreeSet::new();
        for (index, event) in trace.events.iter().enumerate() {
            self.event = index;
            match &event.kind {
                EventKind::Deliver {
                    from,
                    to,
                    id,
                    msg,
                    sent,
                    duplicate,
                } => {
                    resolved.insert(*id);
                    self.delivered(*from, *to, msg, *sent, event.time, *duplicate);
                }
                EventKind::Drop {
                    from,
                    to,
                    id,
                    msg,
                    sent,
                    reason,
                } => {
                    resolved.insert(*id);
                    self.dropped(*from, *to, msg, *sent, event.time, *reason);
                }
                _ => {}
            }
        }
        for (index, event) in trace.events.iter().enumerate() {
            if let EventKind::Send { from, to, id, msg } = &event.kind
                && !resolved.contains(id)
                && self.plot.contains(event.time)
            {
                self.event = index;
                self.in_flight(*from, *to, msg, event.time);
            }
        }
    }

    fn delivered(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: &str,
        sent: Time,
        at: Time,
        duplicate: bool,
    ) {
        if !self.plot.overlaps(sent, at) {
            return;
        }
        let legend = if duplicate {
            Legend::Duplicate
        } else {
            Legend::Message
        };
        self.legend.insert(legend);
        let title = format!(
            "{from} → {to}: {msg}\nsent {sent}, delivered {at}{}",
            if duplicate { " (duplicate)" } else { "" }
        );
        let start = (self.plot.x(sent), self.plot.lane_y(from));
        let end = (self.plot.x(at), self.plot.lane_y(to));
        let dash = if duplicate { "4 3" } else { "" };
        let class = if duplicate { "tl-dup" } else { "tl-msg" };
        self.arrow(class, &title, start, end, MESSAGE, dash, from == to);
    }

    fn dropped(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: &str,
        sent: Time,
        at: Time,
        reason: DropReason,
    ) {
        let from_y = self.plot.lane_y(from);
        let to_y = self.plot.lane_y(to);
        let start = (self.plot.x(sent), from_y);
        match reason {
            DropReason::Lost => {
                if !self.plot.contains(sent) {
                    return;
                }
                self.legend.insert(Legend::Lost);
                let title = format!("{from} → {to}: {msg}\nlost by the network at {sent}");
                let end = part_way(start, to_y);
                self.arrow("tl-lost", &title, start, end, RED, "", false);
                self.cross(end);
            }
            DropReason::Partitioned | DropReason::NodeDown | DropReason::QueueFull => {
                if !self.plot.overlaps(sent, at) {
                    return;
                }
                self.legend.insert(Legend::Dropped);
                let why = match reason {
                    DropReason::Partitioned => "a partition",
                    DropReason::QueueFull => "the receiver's full queue",
                    _ => "the receiver being down",
                };
                let title =
                    format!("{from} → {to}: {msg}\nsent {sent}, dropped at {at} because of {why}");
                // Stop just short of the receiver's lane: it never got there.
                let end_y = if to_y > from_y {
                    to_y - 10.0
                } else if to_y < from_y {
                    to_y + 10.0
                } else {
                    to_y - 12.0
                };
                let end = (self.plot.x(at), end_y);
                self.arrow("tl-dropped", &title, start, end, RED, "", false);
                if self.plot.contains(at) {
                    self.cross(end);
                }
            }
        }
    }

    fn in_flight(&mut self, from: NodeId, to: NodeId, msg: &str, sent: Time) {
        self.legend.insert(Legend::InFlight);
        let start = (self.plot.x(sent), self.plot.lane_y(from));
        let end = part_way(start, self.plot.lane_y(to));
        let title =
            format!("{from} → {to}: {msg}\nsent {sent}, still in flight when the trace ends");
        self.arrow("tl-in-flight", &title, start, end, GREY, "2 3", false);
    }

    /// A message line with its hover text, cut at the window's edges; the arrowhead is drawn
    /// only when the end is inside the window. A message to oneself loops above the lane.
    #[allow(clippy::too_many_arguments)]
    fn arrow(
        &mut self,
        class: &str,
        title: &str,
        start: (f64, f64),
        end: (f64, f64),
        colour: &str,
        dash: &str,
        self_loop: bool,
    ) {
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let (path, head) = if self_loop {
            let x0 = self.plot.clamp_x(start.0);
            let x1 = self.plot.clamp_x(end.0);
            let lift = start.1 - 20.0;
            let path = format!(
                "M{} {}C{} {} {} {} {} {}",
                num(x0),
                num(start.1),
                num(x0 + 2.0),
                num(lift),
                num(x1 + 10.0),
                num(lift),
                num(x1),
                num(end.1)
            );
            let head = (end.0 <= self.plot.right).then_some(((x1 + 10.0, lift), (x1, end.1)));
            (path, head)
        } else {
            let Some(clipped) = clip(start, end, self.plot.left, self.plot.right) else {
                return;
            };
            let path = format!(
                "M{} {}L{} {}",
                num(clipped.start.0),
                num(clipped.start.1),
                num(clipped.end.0),
                num(clipped.end.1)
            );
            let head = (!clipped.end_cut).then_some((start, end));
            (path, head)
        };
        let _ = write!(
            self.out,
            "<g class=\"{class}\"{}><title>{}</title><path d=\"{path}\" fill=\"none\" \
             stroke=\"{colour}\" stroke-width=\"1.4\"{dash}/>",
            self.event_attribute(),
            escape(title)
        );
        if let Some((from, tip)) = head {
            self.out.push_str(&arrowhead(from, tip, colour));
        }
        self.out.push_str("</g>\n");
    }

    fn cross(&mut self, (x, y): (f64, f64)) {
        let _ = writeln!(
            self.out,
            "<path class=\"tl-cross\" d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"{RED}\" \
             stroke-width=\"2.2\" stroke-linecap=\"round\"/>",
            num(x - 4.0),
            num(y - 4.0),
            num(x + 4.0),
            num(y + 4.0),
            num(x - 4.0),
            num(y + 4.0),
            num(x + 4.0),
            num(y - 4.0)
        );
    }

    fn markers(&mut self, trace: &Trace) {
        for (index, event) in trace.events.iter().enumerate() {
            if !self.plot.contains(event.time) {
                continue;
            }
            self.event = index;
            let ev = self.event_attribute();
            let x = self.plot.x(event.time);
            let at = event.time;
            match &event.kind {
                EventKind::Crash { node } => {
                    let y = self.plot.lane_y(*node);
                    self.legend.insert(Legend::Crashed);
                    let _ = writeln!(
                        self.out,
                        "<line class=\"tl-crash-mark\"{ev} x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" \
                         stroke=\"{RED}\" stroke-width=\"3\"><title>{node} crashed at {at}</title>\
                         </line>",
                        num(y - 13.0),
                        num(y + 13.0),
                        x = num(x),
                    );
                }
                EventKind::Start {
                    node,
                    restart: true,
                } => {
                    let y = self.plot.lane_y(*node);
                    let _ = writeln!(
                        self.out,
                        "<line class=\"tl-restart\"{ev} x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" \
                         stroke=\"currentColor\" stroke-width=\"2\"><title>{node} restarted at \
                         {at}</title></line>",
                        num(y - 13.0),
                        num(y + 13.0),
                        x = num(x),
                    );
                }
                EventKind::Timer { node, timer } => {
                    self.legend.insert(Legend::Timer);
                    let y = self.plot.lane_y(*node);
                    let _ = writeln!(
                        self.out,
                        "<line class=\"tl-timer\"{ev} x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" \
                         stroke=\"{GREY}\" stroke-width=\"1.5\"><title>{node} timer {} at {at}\
                         </title></line>",
                        num(y - 4.0),
                        num(y + 4.0),
                        escape(timer),
                        x = num(x),
                    );
                }
                EventKind::Note { node, text } => {
                    self.legend.insert(Legend::Note);
                    let title = format!("{node} at {at}: {text}");
                    let dot = format!(
                        "<circle cx=\"{}\" cy=\"{}\" r=\"2.8\" fill=\"currentColor\"/>",
                        num(x),
                        num(self.plot.lane_y(*node))
                    );
                    self.label("tl-note", *node, x, text, &title, &dot, "currentColor");
                }
                EventKind::ClockStep { node, by_ns } => {
                    self.legend.insert(Legend::ClockStep);
                    let jump = format!("{:+}ms", *by_ns as f64 / 1e6);
                    let title = format!("{node} wall clock stepped {jump} at {at}");
                    let diamond = diamond(x, self.plot.lane_y(*node));
                    let text = format!("clock {jump}");
                    self.label("tl-clock", *node, x, &text, &title, &diamond, CYAN);
                }
                EventKind::Trigger { node, what, fault } => {
                    self.legend.insert(Legend::Trigger);
                    let title = format!("{node} at {at}: {what}, so {fault}");
                    let bolt = bolt(x, self.plot.lane_y(*node));
                    self.label("tl-trigger", *node, x, "trigger", &title, &bolt, RED);
                }
                EventKind::Request {
                    node,
                    client,
                    op,
                    request,
                } => {
                    self.legend.insert(Legend::Request);
                    let y = self.plot.lane_y(*node);
                    let _ = writeln!(
                        self.out,
                        "<path class=\"tl-request\"{ev} d=\"{}\" fill=\"{GREEN}\"><title>{}</title>\
                         </path>",
                        triangle(x, y, 1.0),
                        escape(&format!(
                            "c{client}#{op} request to {node} at {at}: {request}"
                        ))
                    );
                }
                EventKind::Response {
                    node,
                    client,
                    op,
                    response,
                } => {
                    self.legend.insert(Legend::Response);
                    let y = self.plot.lane_y(*node);
                    let _ = writeln!(
                        self.out,
                        "<path class=\"tl-response\"{ev} d=\"{}\" fill=\"{GREEN}\"><title>{}</title>\
                         </path>",
                        triangle(x, y, -1.0),
                        escape(&format!(
                            "c{client}#{op} response from {node} at {at}: {response}"
                        ))
                    );
                }
                EventKind::Timeout { node, client, op } => {
                    self.legend.insert(Legend::Timeout);
                    let y = self.plot.lane_y(*node);
                    let _ = writeln!(
                        self.out,
                        "<path class=\"tl-timeout\"{ev} d=\"{}\" fill=\"none\" stroke=\"{GREY}\" \
                         stroke-width=\"1.4\"><title>c{client}#{op} at {node} timed out at {at}: \
                         outcome unknown</title></path>",
                        triangle(x, y, -1.0),
                    );
                }
                EventKind::Halt { reason } => {
                    self.legend.insert(Legend::Halt);
                    let label = self.fit_beside(x, "halt");
                    let anchor = if label.start > x { "start" } else { "end" };
                    let label_x = if label.start > x { x + 3.0 } else { x - 3.0 };
                    let _ = writeln!(
                        self.out,
                        "<g class=\"tl-halt\"{ev}><title>halt at {at}: {}</title><line x1=\"{x}\" \
                         y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{RED}\" stroke-width=\"2\"/>\
                         <text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{RED}\">halt</text>\
                         </g>",
                        escape(reason),
                        num(self.lanes_top()),
                        num(self.axis_y),
                        num(label_x),
                        num(self.axis_y - 4.0),
                        x = num(x),
                    );
                }
                _ => {}
            }
        }
    }

    /// A marker on a lane with a text label above it, in the first free row; the label goes
    /// left of the marker near the right edge, and shrinks when every row is taken.
    #[allow(clippy::too_many_arguments)]
    fn label(
        &mut self,
        class: &str,
        node: NodeId,
        x: f64,
        text: &str,
        title: &str,
        marker: &str,
        colour: &str,
    ) {
        let y = self.plot.lane_y(node);
        let rows = &self.notes[node.index()];
        // The whole note if a row has room for it, else shorter and shorter: a label is cut
        // only when the drawing has no room for it (its whole text stays in the title).
        let placed = [NOTE_MAX_CHARS, NOTE_CUT_CHARS, NOTE_SHORT_CHARS]
            .iter()
            .find_map(|chars| {
                let fitted = self.fit_beside(x, &shorten(text, *chars));
                rows.free_row(fitted.start, fitted.end)
                    .map(|row| (fitted, row))
            });
        // With every row taken, overlapping text would be unreadable: the marker stays, and
        // its text is in the hover title (and in the text timeline).
        let Some((shown, row)) = placed else {
            let _ = writeln!(
                self.out,
                "<g class=\"{class}\"{}><title>{}</title>{marker}</g>",
                self.event_attribute(),
                escape(title)
            );
            return;
        };
        self.notes[node.index()].take(row, shown.start, shown.end);
        let (start, end) = (shown.start, shown.end);
        let baseline = y - 5.0 - NOTE_ROW_HEIGHT * row as f64;
        let (text_x, anchor) = if start > x {
            (start, "start")
        } else {
            (end, "end")
        };
        let _ = write!(
            self.out,
            "<g class=\"{class}\"{}><title>{}</title>{marker}",
            self.event_attribute(),
            escape(title)
        );
        if row > 0 {
            // A leader from the marker up to a raised label, so it is clear which mark it names.
            let _ = write!(
                self.out,
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{colour}\" \
                 stroke-opacity=\"0.45\"/>",
                num(y - 3.0),
                num(baseline - 3.0),
                x = num(x),
            );
        }
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{colour}\">{}</text></g>",
            num(text_x),
            num(baseline),
            escape(&shown.text)
        );
    }

    /// Where a label for a mark at `x` goes: right of the mark if it fits in the diagram, else
    /// left of it, else on the roomier side cut to fit.
    fn fit_beside(&self, x: f64, text: &str) -> Fitted {
        let room_right = self.width - 2.0 - (x + 4.0);
        let room_left = x - 4.0 - 2.0;
        let width = text_width(text);
        let (text, right) = if width <= room_right {
            (text.to_string(), true)
        } else if width <= room_left {
            (text.to_string(), false)
        } else {
            let room = room_right.max(room_left);
            let chars = ((room / CHAR_WIDTH).floor() as usize).max(2);
            (shorten(text, chars), room_right >= room_left)
        };
        let width = text_width(&text);
        let (start, end) = if right {
            (x + 4.0, x + 4.0 + width)
        } else {
            (x - 4.0 - width, x - 4.0)
        };
        Fitted { text, start, end }
    }
}

/// A label's text, cut to fit, and the horizontal extent it covers.
struct Fitted {
    text: String,
    start: f64,
    end: f64,
}

/// A point a short way from `start` toward the lane at `to_y`: where a lost message's arrow
/// stops, since the message never got anywhere.
fn part_way(start: (f64, f64), to_y: f64) -> (f64, f64) {
    let dy = to_y - start.1;
    let (dx, dy) = if dy == 0.0 {
        (1.0, -1.0)
    } else {
        (0.4 * dy.abs(), dy)
    };
    let length = (dx * dx + dy * dy).sqrt();
    (start.0 + 26.0 * dx / length, start.1 + 26.0 * dy / length)
}

struct Clipped {
    start: (f64, f64),
    end: (f64, f64),
    end_cut: bool,
}

/// The part of the segment between the vertical lines `x = left` and `x = right`.
fn clip(start: (f64, f64), end: (f64, f64), left: f64, right: f64) -> Option<Clipped> {
    let (x0, y0) = start;
    let (x1, y1) = end;
    if x0.max(x1) < left || x0.min(x1) > right {
        return None;
    }
    let dx = x1 - x0;
    let at = |t: f64| (x0 + dx * t, y0 + (y1 - y0) * t);
    let (mut t_start, mut t_end) = (0.0f64, 1.0f64);
    if dx.abs() > f64::EPSILON {
        let (t_left, t_right) = ((left - x0) / dx, (right - x0) / dx);
        t_start = t_start.max(t_left.min(t_right));
        t_end = t_end.min(t_left.max(t_right));
    }
    if t_start > t_end {
        return None;
    }
    Some(Clipped {
        start: at(t_start),
        end: at(t_end),
        end_cut: t_end < 1.0,
    })
}

fn arrowhead(from: (f64, f64), tip: (f64, f64), colour: &str) -> String {
    let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
    let length = (dx * dx + dy * dy).sqrt();
    if length < 1.0 {
        return String::new();
    }
    let (ux, uy) = (dx / length, dy / length);
    let (bx, by) = (tip.0 - 7.0 * ux, tip.1 - 7.0 * uy);
    format!(
        "<path d=\"M{} {}L{} {}L{} {}Z\" fill=\"{colour}\"/>",
        num(tip.0),
        num(tip.1),
        num(bx - 3.2 * uy),
        num(by + 3.2 * ux),
        num(bx + 3.2 * uy),
        num(by - 3.2 * ux)
    )
}

/// A triangle centred on (x, y) pointing right (`direction` 1) or left (-1).
fn triangle(x: f64, y: f64, direction: f64) -> String {
    format!(
        "M{} {}L{} {}L{} {}Z",
        num(x + 5.0 * direction),
        num(y),
        num(x - 4.0 * direction),
        num(y - 5.0),
        num(x - 4.0 * direction),
        num(y + 5.0)
    )
}

/// A small zigzag: something in the run set a fault off here.
fn bolt(x: f64, y: f64) -> String {
    format!(
        "<path d=\"M{} {}L{} {}L{} {}L{} {}\" fill=\"none\" stroke=\"{RED}\" \
         stroke-width=\"1.6\" stroke-linejoin=\"round\"/>",
        num(x + 1.5),
        num(y - 6.0),
        num(x - 2.0),
        num(y),
        num(x + 2.0),
        num(y),
        num(x - 1.5),
        num(y + 6.0)
    )
}

fn diamond(x: f64, y: f64) -> String {
    format!(
        "<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" fill=\"{CYAN}\"/>",
        num(x),
        num(y - 5.0),
        num(x + 4.0),
        num(y),
        num(x),
        num(y + 5.0),
        num(x - 4.0),
        num(y)
    )
}

/// The legend's markup and how many rows it took; items wrap to the diagram's width.
fn legend(items: &BTreeSet<Legend>, width: f64, top: f64) -> (String, usize) {
    if items.is_empty() {
        return (String::new(), 0);
    }
    let mut out = String::from("<g class=\"tl-legend\">\n");
    let (mut x, mut row) = (PLOT_LEFT, 0);
    for &item in items {
        let item_width = 30.0 + text_width(item.label()) + 14.0;
        if x + item_width > width - 4.0 && x > PLOT_LEFT {
            x = PLOT_LEFT;
            row += 1;
        }
        let y = top + row as f64 * LEGEND_ROW_HEIGHT;
        out.push_str(&swatch(item, x, y));
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"currentColor\">{}</text>",
            num(x + 30.0),
            num(y + 4.0),
            item.label()
        );
        x += item_width;
    }
    out.push_str("</g>\n");
    (out, row + 1)
}

/// A small drawing of `item` in the 22 px before its legend text, centred on `y`.
fn swatch(item: Legend, x: f64, y: f64) -> String {
    let line = |colour: &str, dash: &str| {
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" \
             stroke-width=\"1.4\"{dash}/>",
            num(x),
            num(y),
            num(x + 20.0),
            num(y)
        )
    };
    let band = |colour: &str, opacity: f64| {
        format!(
            "<rect x=\"{}\" y=\"{}\" width=\"22\" height=\"12\" fill=\"{colour}\" \
             fill-opacity=\"{opacity}\"/>",
            num(x),
            num(y - 6.0)
        )
    };
    let cross = |cx: f64| {
        format!(
            "<path d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"{RED}\" stroke-width=\"2.2\" \
             stroke-linecap=\"round\"/>",
            num(cx - 4.0),
            num(y - 4.0),
            num(cx + 4.0),
            num(y + 4.0),
            num(cx - 4.0),
            num(y + 4.0),
            num(cx + 4.0),
            num(y - 4.0)
        )
    };
    match item {
        Legend::Message => line(MESSAGE, "") + &arrowhead((x, y), (x + 20.0, y), MESSAGE),
        Legend::Duplicate => line(MESSAGE, "4 3") + &arrowhead((x, y), (x + 20.0, y), MESSAGE),
        Legend::InFlight => line(GREY, "2 3"),
        Legend::Lost => {
            format!(
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{RED}\" \
                 stroke-width=\"1.4\"/>",
                num(x),
                num(y),
                num(x + 10.0),
                num(y)
            ) + &cross(x + 12.0)
        }
        Legend::Dropped => line(RED, "") + &cross(x + 20.0),
        Legend::Crashed => band(RED, 0.16),
        Legend::Paused => band(AMBER, 0.35),
        Legend::Slow => band(AMBER, 0.14),
        Legend::Partition => band(PURPLE, 0.2),
        Legend::Note => format!(
            "<circle cx=\"{}\" cy=\"{}\" r=\"2.8\" fill=\"currentColor\"/>",
            num(x + 10.0),
            num(y)
        ),
        Legend::Timer => format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{GREY}\" \
             stroke-width=\"1.5\"/>",
            num(y - 4.0),
            num(y + 4.0),
            x = num(x + 10.0)
        ),
        Legend::Request => format!(
            "<path d=\"{}\" fill=\"{GREEN}\"/>",
            triangle(x + 10.0, y, 1.0)
        ),
        Legend::Response => {
            format!(
                "<path d=\"{}\" fill=\"{GREEN}\"/>",
                triangle(x + 10.0, y, -1.0)
            )
        }
        Legend::Timeout => format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"{GREY}\" stroke-width=\"1.4\"/>",
            triangle(x + 10.0, y, -1.0)
        ),
        Legend::ClockStep => diamond(x + 10.0, y),
        Legend::Trigger => bolt(x + 10.0, y),
        Legend::Halt => format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{RED}\" \
             stroke-width=\"2\"/>",
            num(y - 7.0),
            num(y + 7.0),
            x = num(x + 10.0)
        ),
    }
}

/// A coordinate with one decimal, never "-0.0", so output is byte-stable.
fn num(value: f64) -> String {
    let text = format!("{value:.1}");
    if text == "-0.0" {
        "0.0".to_string()
    } else {
        text
    }
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

/// `text` on one line, cut to `max_chars` with an ellipsis.
fn shorten(text: &str, max_chars: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max_chars {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(max_chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// `text` safe inside an XML element or attribute. Characters XML 1.0 forbids (most control
/// characters) become U+FFFD rather than making the document unparseable.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As character references, so the markup never holds a blank line: Markdown ends an
            // inline HTML block at one.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if u32::from(c) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;

    fn at(ms: u64, kind: EventKind) -> Event {
        Event {
            time: Time::from_millis(ms),
            kind,
        }
    }

    fn send(ms: u64, from: u32, to: u32, id: u64, msg: &str) -> Event {
        at(
            ms,
            EventKind::Send {
                from: NodeId(from),
                to: NodeId(to),
                id,
                msg: msg.into(),
            },
        )
    }

    fn deliver(ms: u64, sent_ms: u64, from: u32, to: u32, id: u64, msg: &str) -> Event {
        at(
            ms,
            EventKind::Deliver {
                from: NodeId(from),
                to: NodeId(to),
                id,
                msg: msg.into(),
                sent: Time::from_millis(sent_ms),
                duplicate: false,
            },
        )
    }

    fn note(ms: u64, node: u32, text: &str) -> Event {
        at(
            ms,
            EventKind::Note {
                node: NodeId(node),
                text: text.into(),
            },
        )
    }

    fn lost(ms: u64, from: u32, to: u32, id: u64) -> Event {
        at(
            ms,
            EventKind::Drop {
                from: NodeId(from),
                to: NodeId(to),
                id,
                msg: "Ping".into(),
                sent: Time::from_millis(ms),
                reason: DropReason::Lost,
            },
        )
    }

    fn trace(nodes: u32, events: Vec<Event>) -> Trace {
        Trace {
            seed: 7,
            nodes,
            events,
            states: Vec::new(),
        }
    }

    /// One of everything the renderer draws.
    fn everything() -> Trace {
        let n = NodeId;
        trace(
            3,
            vec![
                at(
                    0,
                    EventKind::Start {
                        node: n(0),
                        restart: false,
                    },
                ),
                at(
                    0,
                    EventKind::Start {
                        node: n(1),
                        restart: false,
                    },
                ),
                at(
                    0,
                    EventKind::Start {
                        node: n(2),
                        restart: false,
                    },
                ),
                send(1, 0, 1, 1, "Ping(0)"),
                deliver(4, 1, 0, 1, 1, "Ping(0)"),
                at(
                    6,
                    EventKind::Deliver {
                        from: n(0),
                        to: n(1),
                        id: 1,
                        msg: "Ping(0)".into(),
                        sent: Time::from_millis(1),
                        duplicate: true,
                    },
                ),
                send(8, 1, 2, 2, "Vote"),
                lost(8, 1, 2, 2),
                at(
                    10,
                    EventKind::Timer {
                        node: n(2),
                        timer: "Election".into(),
                    },
                ),
                note(11, 2, "became <leader> & \"won\""),
                at(12, EventKind::Crash { node: n(1) }),
                at(
                    14,
                    EventKind::Partition {
                        id: 1,
                        description: "{n0} | {n1 n2}".into(),
                        blocked: vec![(n(0), n(2)), (n(2), n(0))],
                    },
                ),
                send(15, 0, 2, 3, "Append"),
                at(
                    18,
                    EventKind::Drop {
                        from: n(0),
                        to: n(2),
                        id: 3,
                        msg: "Append".into(),
                        sent: Time::from_millis(15),
                        reason: DropReason::Partitioned,
                    },
                ),
                at(
                    20,
                    EventKind::Pause {
                        node: n(2),
                        until: Time::from_millis(25),
                    },
                ),
                at(25, EventKind::Resume { node: n(2) }),
                at(
                    26,
                    EventKind::Slow {
                        node: n(0),
                        per_event_ns: 1000,
                        until: Time::from_millis(30),
                    },
                ),
                at(30, EventKind::SlowEnd { node: n(0) }),
                at(
                    30,
                    EventKind::Heal {
                        id: 1,
                        description: "{n0} | {n1 n2}".into(),
                    },
                ),
                at(
                    32,
                    EventKind::Start {
                        node: n(1),
                        restart: true,
                    },
                ),
                at(
                    33,
                    EventKind::ClockStep {
                        node: n(0),
                        by_ns: -2_500_000,
                    },
                ),
                at(
                    34,
                    EventKind::Request {
                        node: n(0),
                        client: 1,
                        op: 1,
                        request: "Put(x, 1)".into(),
                    },
                ),
                at(
                    36,
                    EventKind::Response {
                        node: n(0),
                        client: 1,
                        op: 1,
                        response: "Ok".into(),
                    },
                ),
                at(
                    37,
                    EventKind::Timeout {
                        node: n(1),
                        client: 2,
                        op: 2,
                    },
                ),
                send(38, 2, 0, 4, "Late"),
                at(
                    40,
                    EventKind::Halt {
                        reason: "step budget <exhausted>".into(),
                    },
                ),
            ],
        )
    }

    /// Checks that tags nest and close, attribute quotes pair up, and text holds no raw `<`,
    /// `>` or stray `&`: enough to catch what string-built XML gets wrong.
    fn assert_well_formed(svg: &str) {
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        let mut open: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(lt) = rest.find('<') {
            assert_text_escaped(&rest[..lt]);
            let gt = lt + rest[lt..].find('>').expect("a tag is never left open");
            let tag = &rest[lt + 1..gt];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unpaired quote in {tag}");
            assert!(
                !tag.contains("NaN") && !tag.contains("inf"),
                "bad number in {tag}"
            );
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "mismatched close of {name}");
            } else if !tag.ends_with('/') {
                open.push(tag.split_whitespace().next().expect("a tag has a name"));
            }
            if open.is_empty() {
                assert_eq!(rest[gt + 1..].trim(), "", "content after the root element");
            }
            rest = &rest[gt + 1..];
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
    }

    fn assert_text_escaped(text: &str) {
        assert!(!text.contains('>'), "raw '>' in text {text:?}");
        for (i, _) in text.match_indices('&') {
            let entity = [
                "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#10;", "&#13;", "&#9;",
            ];
            assert!(
                entity.iter().any(|e| text[i..].starts_with(e)),
                "stray '&' in {text:?}"
            );
        }
    }

    /// The value of attribute `name` on the first element that carries `marker`.
    fn attribute_after<'a>(svg: &'a str, marker: &str, element: &str, name: &str) -> &'a str {
        let from = svg.find(marker).unwrap_or_else(|| panic!("no {marker}"));
        let element_at = from + svg[from..].find(element).expect("element after marker");
        let tag_end = element_at + svg[element_at..].find('>').expect("tag end");
        let tag = &svg[element_at..tag_end];
        let key = format!(" {name}=\"");
        let value_at = tag.find(&key).expect("attribute present") + key.len();
        let value_end = value_at + tag[value_at..].find('"').expect("closing quote");
        &tag[value_at..value_end]
    }

    #[test]
    fn output_is_well_formed_for_a_busy_trace_a_window_and_an_empty_trace() {
        let busy = everything();
        assert_well_formed(&render_default(&busy));
        let titled = SvgOptions {
            title: Some("n1's <crash> & recovery".into()),
            ..SvgOptions::default()
        };
        assert_well_formed(&render(&busy, &titled));
        let window = SvgOptions {
            from: Some(Time::from_millis(5)),
            to: Some(Time::from_millis(20)),
            ..SvgOptions::default()
        };
        assert_well_formed(&render(&busy, &window));
        assert_well_formed(&render_default(&Trace::default()));
        assert_well_formed(&render_default(&trace(2, vec![note(3, 1, "alone")])));
    }

    #[test]
    fn the_checker_rejects_broken_markup() {
        for broken in [
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><g></svg>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><text>a < b</text></svg>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><text>a & b</text></svg>",
        ] {
            let result = std::panic::catch_unwind(|| assert_well_formed(broken));
            assert!(result.is_err(), "accepted {broken}");
        }
    }

    #[test]
    fn the_same_trace_renders_to_the_same_bytes() {
        let first = render_default(&everything());
        let second = render_default(&everything().clone());
        assert_eq!(first, second);
        assert!(first.contains("tl-msg"));
    }

    #[test]
    fn a_lost_message_ends_in_a_cross_and_a_delivered_one_does_not() {
        let with_loss = trace(
            2,
            vec![send(1, 0, 1, 1, "Ping"), lost(1, 0, 1, 1), note(9, 1, "x")],
        );
        let svg = render_default(&with_loss);
        let arrow = svg.find("class=\"tl-lost\"").expect("a lost arrow");
        let cross = svg.find("class=\"tl-cross\"").expect("a cross");
        assert!(cross > arrow, "the cross follows its arrow");
        assert!(
            svg.contains(">lost</text>"),
            "the legend explains the cross"
        );

        let delivered = trace(
            2,
            vec![send(1, 0, 1, 1, "Ping"), deliver(5, 1, 0, 1, 1, "Ping")],
        );
        let svg = render_default(&delivered);
        assert!(!svg.contains("tl-cross"));
        assert!(svg.contains("class=\"tl-msg\""));
    }

    #[test]
    fn text_is_escaped_everywhere_it_appears() {
        let tricky = trace(1, vec![note(1, 0, "a<b & \"c\" 'd'>"), note(2, 0, "plain")]);
        let svg = render(
            &tricky,
            &SvgOptions {
                title: Some("<&>".into()),
                ..SvgOptions::default()
            },
        );
        assert!(svg.contains("a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"));
        assert!(svg.contains("aria-label=\"&lt;&amp;&gt;\""));
        assert!(!svg.contains("a<b"));
        assert!(!svg.contains("<&>"));
        assert_eq!(escape("\u{1b}[0m"), "\u{fffd}[0m");
        let multi_line = trace(1, vec![note(1, 0, "one\n\nthree"), note(2, 0, "z")]);
        let svg = render_default(&multi_line);
        assert!(
            !svg.contains("\n\n"),
            "a blank line would end Markdown's HTML block"
        );
        assert!(svg.contains("one&#10;&#10;three"));
    }

    #[test]
    fn a_crash_band_runs_from_the_crash_to_the_restart() {
        let crash = trace(
            2,
            vec![
                note(0, 0, "begin"),
                at(20, EventKind::Crash { node: NodeId(1) }),
                at(
                    50,
                    EventKind::Start {
                        node: NodeId(1),
                        restart: true,
                    },
                ),
                note(100, 0, "end"),
            ],
        );
        let svg = render_default(&crash);
        // 0..100 ms maps onto x = 44..740, so 20 ms is at 183.2 and 50 ms at 392.0.
        assert_eq!(
            attribute_after(&svg, "class=\"tl-crash\"", "<rect", "x"),
            "183.2"
        );
        assert_eq!(
            attribute_after(&svg, "class=\"tl-crash\"", "<rect", "width"),
            "208.8"
        );
        assert!(svg.contains(">crashed</text>"));
        assert!(svg.contains("x1=\"183.2\" y1=\"127.0\" x2=\"392.0\" y2=\"127.0\""));
        assert!(
            svg.contains("stroke-dasharray=\"3 4\""),
            "the lane is dashed while down"
        );

        let never_restarted = trace(
            2,
            crash.events[..2]
                .iter()
                .chain(&crash.events[3..])
                .cloned()
                .collect(),
        );
        let svg = render_default(&never_restarted);
        assert_eq!(
            attribute_after(&svg, "class=\"tl-crash\"", "<rect", "width"),
            "556.8"
        );
    }

    #[test]
    fn a_window_leaves_out_what_lies_outside_it_and_cuts_messages_at_the_edge() {
        let events = vec![
            note(5, 0, "early"),
            send(30, 0, 1, 1, "Crossing"),
            deliver(45, 30, 0, 1, 1, "Crossing"),
            note(50, 1, "inside"),
            note(95, 0, "late"),
        ];
        let whole = render_default(&trace(2, events.clone()));
        assert!(whole.contains("early") && whole.contains("late"));
        let window = SvgOptions {
            from: Some(Time::from_millis(40)),
            to: Some(Time::from_millis(60)),
            ..SvgOptions::default()
        };
        let svg = render(&trace(2, events), &window);
        assert!(svg.contains("inside"));
        assert!(!svg.contains("early"));
        assert!(!svg.contains("late"));
        let path = attribute_after(&svg, "class=\"tl-msg\"", "<path", "d");
        assert!(path.starts_with("M44.0 "), "cut at the left edge: {path}");
        assert_well_formed(&svg);
    }

    #[test]
    fn crowded_notes_never_overlap_and_keep_their_text_in_titles() {
        let events: Vec<Event> = (0..30)
            .map(|i| note(100 + i, 0, &format!("renewed lease {i} until much later")))
            .chain([note(1000, 0, "the end")])
            .collect();
        let svg = render_default(&trace(1, events));
        assert_well_formed(&svg);
        for i in 0..30 {
            assert!(svg.contains(&format!(": renewed lease {i} until much later</title>")));
        }
        // Notes 1 ms apart fit side by side in no row: at most one label per row is shown.
        let labels = svg
            .split("<g class=\"tl-note\"")
            .skip(1)
            .filter(|group| {
                group
                    .split("</g>")
                    .next()
                    .is_some_and(|g| g.contains("<text"))
            })
            .count();
        assert!(
            (2..=NOTE_ROWS + 1).contains(&labels),
            "{labels} labels shown for 31 notes, 30 of them 1 ms apart"
        );
        assert!(svg.contains(">the end</text>"));
    }

    #[test]
    fn the_legend_lists_only_what_was_drawn() {
        let svg = render_default(&trace(
            2,
            vec![send(1, 0, 1, 1, "P"), deliver(3, 1, 0, 1, 1, "P")],
        ));
        assert!(svg.contains(">message</text>"));
        assert!(!svg.contains(">crashed</text>"));
        assert!(!svg.contains(">partition</text>"));
        let busy = render_default(&everything());
        for label in [
            "crashed",
            "paused",
            "slow",
            "partition",
            "lost",
            "halt",
            "request",
        ] {
            assert!(
                busy.contains(&format!(">{label}</text>")),
                "no legend for {label}"
            );
        }
    }

    #[test]
    fn a_note_is_shown_whole_when_it_has_room_and_cut_when_it_has_not() {
        let long = "a note long enough to fill half of a narrow drawing";
        let svg = render_default(&trace(1, vec![note(1, 0, long), note(900, 0, "x")]));
        assert!(svg.contains(&format!(">{long}</text>")), "{svg}");
        // More of them within a few pixels than there are rows: each row takes one whole
        // label, and the rest have no room even for a short one, so they keep only their
        // marker and title.
        let count = NOTE_ROWS as u64 + 2;
        let mut crowded: Vec<Event> = (0..count).map(|i| note(1 + i, 0, long)).collect();
        crowded.push(note(900, 0, "x"));
        let svg = render_default(&trace(1, crowded));
        assert_eq!(
            svg.matches(&format!(">{long}</text>")).count(),
            NOTE_ROWS,
            "{svg}"
        );
        for i in 0..count {
            assert!(svg.contains(&format!("<title>n0 at {}.000ms: {long}</title>", 1 + i)));
        }
        let far_too_long = "x".repeat(80);
        let svg = render_default(&trace(1, vec![note(1, 0, &far_too_long)]));
        // Never longer than NOTE_MAX_CHARS, and cut further to fit beside its marker.
        let shown = svg
            .split("…</text>")
            .next()
            .and_then(|head| head.rsplit('>').next())
            .unwrap_or_default();
        assert!(
            shown.len() > NOTE_CUT_CHARS && shown.len() < NOTE_MAX_CHARS,
            "{svg}"
        );
        assert!(svg.contains(&format!("<title>n0 at 1.000ms: {far_too_long}</title>")));
    }

    #[test]
    fn notes_close_in_time_go_in_different_rows() {
        let crowded = trace(
            1,
            vec![
                note(10, 0, "first"),
                note(11, 0, "second"),
                note(100, 0, "z"),
            ],
        );
        let svg = render_default(&crowded);
        let baselines: Vec<&str> = svg
            .match_indices("<g class=\"tl-note\"")
            .map(|(i, _)| attribute_after(&svg[i..], "<text", "<text", "y"))
            .collect();
        assert_eq!(baselines.len(), 3);
        assert_ne!(baselines[0], baselines[1], "stacked, not overlapping");
    }

    #[test]
    fn height_grows_with_the_node_count() {
        let height = |nodes| {
            let svg = render_default(&trace(nodes, vec![note(1, 0, "x")]));
            attribute_after(&svg, "<svg", "<svg", "height")
                .parse::<f64>()
                .expect("number")
        };
        assert_eq!(height(5) - height(2), 3.0 * LANE_GAP);
    }
}

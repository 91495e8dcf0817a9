//! Run metrics over time: how much work was offered, how much of it came back useful
//! (goodput), how long queues grew and how long answers took, counted in fixed windows of real
//! time, and a [`Chart`] of them that [`render::chart`](crate::render::chart) draws.
//!
//! A metastable failure is a shape over time, not an event: the trigger comes and goes and the
//! goodput stays down. These series are how a page shows that shape and how a test bounds it.
//!
//! ```
//! use sim::metrics::{rate, Chart, Panel, Series};
//! use sim::Time;
//! use std::time::Duration;
//!
//! // Three arrivals in the first 100 ms, one in the second: 30/s, then 10/s.
//! let times = [0, 10, 20, 150].map(Time::from_millis);
//! let per_second = rate(times, Duration::from_millis(100), Time::from_millis(200));
//! assert_eq!(per_second, vec![(Time::from_millis(100), 30.0), (Time::from_millis(200), 10.0)]);
//! let chart = Chart::new("arrivals").panel(Panel::new("per second").series(Series::new("offered", per_second)));
//! assert!(sim::render::chart::svg(&chart).starts_with("<svg"));
//! ```

use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A chart: panels stacked on one time axis, with shaded spans (a trigger, a fault).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub panels: Vec<Panel>,
    pub spans: Vec<Span>,
}

/// One panel of a chart: series that share a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// What the vertical axis counts ("calls per second").
    pub unit: String,
    pub series: Vec<Series>,
}

/// One line: a value at the end of each window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(Time, f64)>,
}

/// A stretch of time to shade, with what happened in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub from: Time,
    pub to: Time,
    pub label: String,
}

impl Chart {
    pub fn new(title: impl Into<String>) -> Chart {
        Chart {
            title: title.into(),
            panels: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// With one more panel, below the others.
    pub fn panel(mut self, panel: Panel) -> Chart {
        self.panels.push(panel);
        self
    }

    /// With a shaded span.
    pub fn span(mut self, from: Time, to: Time, label: impl Into<String>) -> Chart {
        self.spans.push(Span {
            from,
            to,
            label: label.into(),
        });
        self
    }

    /// The last instant any series reaches.
    pub fn end(&self) -> Time {
        self.panels
            .iter()
            .flat_map(|p| &p.series)
            .flat_map(|s| s.points.last().map(|(t, _)| *t))
            .chain(self.spans.iter().map(|s| s.to))
            .max()
            .unwrap_or(Time::ZERO)
    }
}

impl Panel {
    pub fn new(unit: impl Into<String>) -> Panel {
        Panel {
            unit: unit.into(),
            series: Vec::new(),
        }
    }

    /// With one more line.
    pub fn series(mut self, series: Series) -> Panel {
        self.series.push(series);
        self
    }
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(Time, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// The windows `[k·window, (k+1)·window)` up to `end`, each named by its end.
fn windows(window: Duration, end: Time) -> Vec<Time> {
    assert!(
        !window.is_zero(),
        "a metrics window must be longer than zero"
    );
    let mut ends = Vec::new();
    let mut at = Time::ZERO + window;
    while at <= end {
        ends.push(at);
        at += window;
    }
    ends
}

fn window_of(at: Time, window: Duration) -> usize {
    (at.as_nanos() / window.as_nanos() as u64) as usize
}

/// How many of `times` fall in each window, per second.
pub fn rate(
    times: impl IntoIterator<Item = Time>,
    window: Duration,
    end: Time,
) -> Vec<(Time, f64)> {
    let ends = windows(window, end);
    let mut counts = vec![0u64; ends.len()];
    for at in times {
        if let Some(count) = counts.get_mut(window_of(at, window)) {
            *count += 1;
        }
    }
    let per_second = 1.0 / window.as_secs_f64();
    ends.into_iter()
        .zip(counts)
        .map(|(at, n)| (at, n as f64 * per_second))
        .collect()
}

/// The largest value a step function reaches in each window; `changes` are (when, new value),
/// in time order, and the value is 0 before the first.
pub fn peak(changes: &[(Time, u32)], window: Duration, end: Time) -> Vec<(Time, f64)> {
    let ends = windows(window, end);
    let mut peaks = vec![0u32; ends.len()];
    let mut current = 0u32;
    let mut next = 0;
    for (k, window_end) in ends.iter().enumerate() {
        // The value carried in from the previous window counts too.
        let mut top = current;
        while next < changes.len() && changes[next].0 < *window_end {
            current = changes[next].1;
            top = top.max(current);
            next += 1;
        }
        peaks[k] = top;
    }
    ends.into_iter()
        .zip(peaks)
        .map(|(at, n)| (at, f64::from(n)))
        .collect()
}

/// The `q` quantile (0 to 1, nearest rank) of the durations that end in each window, in
/// milliseconds; a window with none carries no point.
pub fn quantile(
    samples: impl IntoIterator<Item = (Time, Duration)>,
    q: f64,
    window: Duration,
    end: Time,
) -> Vec<(Time, f64)> {
    let ends = windows(window, end);
    let mut buckets: Vec<Vec<Duration>> = vec![Vec::new(); ends.len()];
    for (at, d) in samples {
        if let Some(bucket) = buckets.get_mut(window_of(at, window)) {
            bucket.push(d);
        }
    }
    ends.into_iter()
        .zip(buckets)
        .filter(|(_, b)| !b.is_empty())
        .map(|(at, mut b)| {
            b.sort();
            let rank = ((q.clamp(0.0, 1.0) * b.len() as f64).ceil() as usize).clamp(1, b.len());
            (at, b[rank - 1].as_secs_f64() * 1000.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Time::from_millis(n)
    }

    #[test]
    fn a_peak_counts_the_value_carried_into_a_window() {
        let changes = [(ms(5), 3), (ms(8), 1), (ms(25), 0)];
        let peaks = peak(&changes, Duration::from_millis(10), ms(30));
        assert_eq!(peaks, vec![(ms(10), 3.0), (ms(20), 1.0), (ms(30), 1.0)]);
    }

    #[test]
    fn a_quantile_is_the_nearest_rank_and_skips_empty_windows() {
        let samples = (1..=100).map(|k| (ms(1), Duration::from_millis(k)));
        let p99 = quantile(samples, 0.99, Duration::from_millis(10), ms(20));
        assert_eq!(p99, vec![(ms(10), 99.0)]);
    }

    #[test]
    fn events_after_the_end_are_not_counted() {
        let r = rate([ms(1), ms(25)], Duration::from_millis(10), ms(20));
        assert_eq!(r, vec![(ms(10), 100.0), (ms(20), 0.0)]);
    }
}

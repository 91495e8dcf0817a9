//! A line chart of run metrics (a [`Chart`]): panels stacked on one time axis, shaded spans
//! for triggers and faults, a legend per panel. Like the timeline it is one self-contained
//! `<svg>` for a light or a dark page: axes and text use `currentColor`, and coordinates are
//! printed with fixed precision, so the same chart always gives the same bytes.

use super::svg::escape;
use crate::metrics::Chart;
use crate::time::Time;
use std::fmt::Write;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const PANEL_HEIGHT: f64 = 150.0;
/// The height of one legend row; a panel keeps its legend's rows above its data.
const LEGEND_ROW: f64 = 14.0;
const PANEL_GAP: f64 = 34.0;
const AXIS_BELOW: f64 = 34.0;
/// Line colours in the order a panel's series take them: blue, green, red, amber, purple.
const COLOURS: [&str; 5] = ["#2f7fd8", "#16a34a", "#dc2626", "#d97706", "#8b5cf6"];
const DASHES: [&str; 5] = ["", "6 3", "2 2", "8 3 2 3", "1 3"];

/// Draws the chart as an SVG document.
pub fn svg(chart: &Chart) -> String {
    let end = chart.end().max(Time::from_millis(1));
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |t: Time| LEFT + plot_width * (t.as_nanos() as f64 / end.as_nanos() as f64);
    let panels = chart.panels.len().max(1) as f64;
    let height = TOP + panels * PANEL_HEIGHT + (panels - 1.0) * PANEL_GAP + AXIS_BELOW;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"metrics-chart\" viewBox=\"0 0 {WIDTH:.0} \
         {height:.0}\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" role=\"img\" \
         font-family=\"ui-monospace, monospace\" font-size=\"11\" fill=\"currentColor\">"
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&chart.title));
    let bottom = height - AXIS_BELOW;
    for span in &chart.spans {
        let (a, b) = (x(span.from), x(span.to.min(end)));
        let _ = writeln!(
            out,
            "<rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f59e0b\" \
             fill-opacity=\"0.15\"><title>{}: {} to {}</title></rect>",
            TOP - 4.0,
            (b - a).max(1.0),
            bottom - TOP + 4.0,
            escape(&span.label),
            span.from,
            span.to
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d97706\">{}</text>",
            a + 3.0,
            TOP - 8.0,
            escape(&span.label)
        );
    }
    for (k, panel) in chart.panels.iter().enumerate() {
        let top = TOP + k as f64 * (PANEL_HEIGHT + PANEL_GAP);
        let low = top + PANEL_HEIGHT;
        let max = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|(_, v)| *v))
            .fold(0.0f64, f64::max);
        let scale = nice_ceiling(max);
        // The data stay below the panel's name and its legend, so no line runs under a label.
        let headroom = 6.0 + LEGEND_ROW * panel.series.len().max(1) as f64;
        let y = |v: f64| low - (PANEL_HEIGHT - headroom) * (v / scale);
        // Axes and three gridlines with their values.
        let _ = writeln!(
            out,
            "<path d=\"M{LEFT:.1},{top:.1}V{low:.1}H{:.1}\" fill=\"none\" stroke=\"currentColor\" \
             stroke-opacity=\"0.6\"/>",
            WIDTH - RIGHT
        );
        for step in 0..=2 {
            let v = scale * f64::from(step) / 2.0;
            let gy = y(v);
            if step > 0 {
                let _ = writeln!(
                    out,
                    "<path d=\"M{LEFT:.1},{gy:.1}H{:.1}\" stroke=\"currentColor\" \
                     stroke-opacity=\"0.15\"/>",
                    WIDTH - RIGHT
                );
            }
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 4.0,
                gy + 4.0,
                number(v)
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            LEFT + 4.0,
            top + 10.0,
            escape(&panel.unit)
        );
        for (i, series) in panel.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let dash = DASHES[i % DASHES.len()];
            let mut d = String::new();
            for (j, (t, v)) in series.points.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1}",
                    if j == 0 { "M" } else { "L" },
                    x(*t),
                    y(*v)
                );
            }
            let dash_attr = if dash.is_empty() {
                String::new()
            } else {
                format!(" stroke-dasharray=\"{dash}\"")
            };
            let _ = writeln!(
                out,
                "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash_attr}>\
                 <title>{}</title></path>",
                escape(&series.name)
            );
            // The legend, right-aligned in rows at the panel's top.
            let ly = top + 10.0 + LEGEND_ROW * i as f64;
            let lx = WIDTH - RIGHT - 8.0 - 6.6 * series.name.chars().count() as f64;
            let _ = writeln!(
                out,
                "<path d=\"M{:.1},{:.1}h18\" stroke=\"{colour}\" stroke-width=\"2\"{dash_attr}/>\
                 <text x=\"{lx:.1}\" y=\"{:.1}\">{}</text>",
                lx - 24.0,
                ly - 4.0,
                ly,
                escape(&series.name)
            );
        }
    }
    // The time axis, in seconds, at five ticks.
    for step in 0..=4 {
        let t = Time(end.as_nanos() / 4 * step);
        let tx = x(t);
        let _ = writeln!(
            out,
            "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}s</text>",
            bottom + 16.0,
            number(t.as_nanos() as f64 / 1e9)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A round number at or above `v`, for the top of an axis.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A tick's value with as few decimals as it needs (at most three): 3, 0.75, 2.25, not 0.8.
fn number(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Panel, Series};

    #[test]
    fn the_same_chart_gives_the_same_bytes_and_draws_every_series() {
        let chart = Chart::new("t")
            .panel(
                Panel::new("per second")
                    .series(Series::new(
                        "goodput",
                        vec![(Time::from_millis(100), 5.0), (Time::from_millis(200), 7.0)],
                    ))
                    .series(Series::new("offered", vec![(Time::from_millis(100), 9.0)])),
            )
            .span(Time::ZERO, Time::from_millis(50), "trigger");
        let a = svg(&chart);
        assert_eq!(a, svg(&chart));
        assert!(a.contains("<title>goodput</title>") && a.contains("<title>offered</title>"));
        assert!(a.contains("trigger"));
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1800.0), 2000.0);
        assert_eq!(
            [number(3.0), number(0.75), number(2.5)],
            ["3", "0.75", "2.5"]
        );
    }
}

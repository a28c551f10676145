//! Chart drawing: every chart llmbench draws is an SVG made here with plotters' SVG backend, from
//! plain series (numbers, labels, colours), never from report types or HTML. The HTML report
//! embeds the SVGs inline; a `plot` output can write the same strings to .svg files.
//!
//! Plotters lays out the axes, ticks and text (it escapes text itself); the scales are chosen
//! here. Ticks sit on round numbers (`nice_axis`), both axes start at zero unless the data go
//! below it, and a percentile axis is logarithmic in 1/(1−q): p50, p90, p99 and p99.9 sit one
//! decade apart, so the tail, where latency goes wrong, gets most of the width.
//!
//! Text is written as SVG `<text>` with a generic font family: no font files are read.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, SegmentValue};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

/// The size of a line chart; a bar chart is as wide and as tall as its rows need.
pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 340;

/// An RGB colour, written `#rrggbb` wherever the page needs it beside a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
    fn plotters(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// Matplotlib's ten colours, in its order: benchmarks cycle through them.
pub const PALETTE: [Rgb; 10] = [
    Rgb(0x1f, 0x77, 0xb4),
    Rgb(0xff, 0x7f, 0x0e),
    Rgb(0x2c, 0xa0, 0x2c),
    Rgb(0xd6, 0x27, 0x28),
    Rgb(0x94, 0x67, 0xbd),
    Rgb(0x8c, 0x56, 0x4b),
    Rgb(0xe3, 0x77, 0xc2),
    Rgb(0x7f, 0x7f, 0x7f),
    Rgb(0xbc, 0xbd, 0x22),
    Rgb(0x17, 0xbe, 0xcf),
];

const GRID: RGBColor = RGBColor(0xe6, 0xe9, 0xef);
const AXIS: RGBColor = RGBColor(0x5a, 0x62, 0x70);
const TEXT: RGBColor = RGBColor(0x3a, 0x41, 0x50);
const FONT: &str = "sans-serif";

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    /// The same pattern as an SVG `stroke-dasharray` (for a legend drawn outside the chart).
    pub fn dasharray(self) -> Option<&'static str> {
        match self {
            Dash::Solid => None,
            Dash::Dashed => Some("7 4"),
            Dash::Dotted => Some("2 3"),
        }
    }
}

/// One line of a chart. On a percentile axis, x is the quantile q in [0, 1).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: Rgb,
    pub dash: Dash,
    pub points: Vec<(f64, f64)>,
    /// A dot on every point (drawn only for series of at most `MAX_MARKERS` points).
    pub markers: bool,
}

const MAX_MARKERS: usize = 200;

/// The kind of x axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    Linear,
    /// x is a quantile, drawn at log10(1/(1−q)) and labelled with percentile names.
    Percentile,
}

/// The percentiles named on a percentile axis (the lower ones crowd next to p25).
pub const PERCENTILE_TICKS: [(f64, &str); 7] = [
    (0.25, "p25"),
    (0.5, "p50"),
    (0.75, "p75"),
    (0.9, "p90"),
    (0.95, "p95"),
    (0.99, "p99"),
    (0.999, "p99.9"),
];

/// Where quantile `q` sits on a percentile axis: one unit per "nine".
pub fn percentile_x(q: f64) -> f64 {
    (1.0 / (1.0 - q.clamp(0.0, 0.999_999))).log10()
}

/// A line chart's axes and lines.
pub struct LineChart<'a> {
    pub x: XAxis,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
}

/// A drawn chart: a standalone SVG document and its size.
#[derive(Debug, Clone)]
pub struct Svg {
    pub width: u32,
    pub height: u32,
    pub document: String,
}

impl Svg {
    /// The drawing without its `<svg>` element, for a page that writes that element itself.
    pub fn body(&self) -> &str {
        let d = self.document.trim_end();
        let start = d.find('>').map_or(0, |i| i + 1);
        let end = d.rfind("</svg>").unwrap_or(d.len()).max(start);
        &d[start..end]
    }
}

type Failed = Box<dyn std::error::Error + Send + Sync>;

fn draw(
    width: u32,
    height: u32,
    f: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), Failed>,
) -> Result<Svg, String> {
    let mut document = String::new();
    {
        let root = SVGBackend::with_string(&mut document, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        f(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    apply_dashes(&mut document);
    Ok(Svg {
        width,
        height,
        document,
    })
}

/// Draws a line chart. Errors are plotters' (none are expected drawing into a string).
pub fn line_chart(c: &LineChart) -> Result<Svg, String> {
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let (y0, y1, yticks, ystep) = nice_axis(
        pts().map(|p| p.1).fold(0.0, f64::min),
        pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        6,
    );
    let (x0, x1, xticks, xstep) = match c.x {
        XAxis::Linear => nice_axis(
            pts().map(|p| p.0).fold(0.0, f64::min),
            pts().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
            8,
        ),
        XAxis::Percentile => {
            let top = pts().map(|p| percentile_x(p.0)).fold(3.0, f64::max);
            let ticks = PERCENTILE_TICKS.iter().map(|t| percentile_x(t.0)).collect();
            (0.0, top + 0.1, ticks, 0.0)
        }
    };
    let x_name = |v: &f64| match c.x {
        XAxis::Linear => tick_label(*v, xstep),
        XAxis::Percentile => percentile_name(*v),
    };
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin_top(12)
            .margin_right(18)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(Ticked::new(x0, x1, xticks), Ticked::new(y0, y1, yticks))?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .label_style((FONT, 13).into_font().color(&TEXT))
            .axis_desc_style((FONT, 14).into_font().color(&TEXT))
            .x_desc(c.x_label)
            .y_desc(c.y_label)
            .x_label_formatter(&x_name)
            .y_label_formatter(&|v| tick_label(*v, ystep))
            .draw()?;
        for s in c.series {
            let at = |&(x, y): &(f64, f64)| match c.x {
                XAxis::Linear => (x, y),
                XAxis::Percentile => (percentile_x(x), y),
            };
            let points: Vec<(f64, f64)> = s.points.iter().map(at).collect();
            draw_series(&mut chart, s, points)?;
        }
        Ok(())
    })
}

type Chart2d<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// A linear axis with the ticks given. (Plotters' own `WithKeyPoints` over an f64 range can't
/// take a label formatter; this one formats by `Debug` unless given one, as every chart here is.)
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Ticked {
        Ticked { lo, hi, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (from, to): (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo);
        // `as` saturates, and turns NaN into 0.
        (f64::from(from) + f * f64::from(to - from)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// One series: its line and its dots.
fn draw_series(chart: &mut Chart2d, s: &Series, points: Vec<(f64, f64)>) -> Result<(), Failed> {
    if points.len() > 1 {
        let c = s.color;
        let stroke = RGBAColor(c.0, c.1, c.2, s.dash.marker_opacity());
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            stroke.stroke_width(2),
        ))?;
    }
    if (s.markers || points.len() == 1) && points.len() <= MAX_MARKERS {
        let fill = s.color.plotters().filled();
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, fill)))?;
    }
    Ok(())
}

/// Plotters' SVG backend has no dashed stroke (its `DashedLineSeries` writes every dash as an
/// element of its own: megabytes for a long, jagged series). So a dashed line is drawn whole,
/// with an opacity that marks it, and the mark is then swapped for a `stroke-dasharray`.
impl Dash {
    fn marker_opacity(self) -> f64 {
        match self {
            Dash::Solid => 1.0,
            Dash::Dashed => 0.998,
            Dash::Dotted => 0.997,
        }
    }
}

fn apply_dashes(svg: &mut String) {
    for d in [Dash::Dashed, Dash::Dotted] {
        if let Some(pattern) = d.dasharray() {
            let mark = format!("opacity=\"{}\"", d.marker_opacity());
            if svg.contains(&mark) {
                *svg = svg.replace(
                    &mark,
                    &format!("opacity=\"1\" stroke-dasharray=\"{pattern}\""),
                );
            }
        }
    }
}

/// The name of the labelled percentile drawn at `x`.
fn percentile_name(x: f64) -> String {
    PERCENTILE_TICKS
        .iter()
        .find(|(q, _)| (percentile_x(*q) - x).abs() < 1e-9)
        .map_or_else(String::new, |(_, name)| name.to_string())
}

/// Horizontal stacked bars: one row per label, one coloured part per (name, colour).
pub struct StackedBars<'a> {
    pub rows: &'a [String],
    pub parts: &'a [(&'a str, Rgb)],
    /// Per row, one value per part (negative values are drawn as 0).
    pub values: &'a [Vec<f64>],
    pub x_label: &'a str,
}

const ROW_HEIGHT: u32 = 24;

/// Draws stacked bars, the first row at the top.
pub fn stacked_bars(c: &StackedBars) -> Result<Svg, String> {
    let n = c.rows.len();
    let height = 10 + 48 + ROW_HEIGHT * n.max(1) as u32;
    let total = |v: &Vec<f64>| v.iter().map(|x| x.max(0.0)).sum::<f64>();
    let (x0, x1, ticks, step) = nice_axis(0.0, c.values.iter().map(total).fold(0.0, f64::max), 8);
    // Segment k of the y axis holds row n-1-k: plotters counts segments from the bottom.
    let row_of = |k: usize| n.checked_sub(k + 1).and_then(|i| c.rows.get(i));
    let y_name = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(k) => row_of(*k).map_or_else(String::new, |l| cut(l, 30)),
        _ => String::new(),
    };
    draw(WIDTH, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin_top(10)
            .margin_right(18)
            .x_label_area_size(48)
            .y_label_area_size(190)
            .build_cartesian_2d(Ticked::new(x0, x1, ticks), (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .disable_y_mesh()
            .axis_style(AXIS)
            .label_style((FONT, 13).into_font().color(&TEXT))
            .axis_desc_style((FONT, 14).into_font().color(&TEXT))
            .x_desc(c.x_label)
            .x_label_formatter(&|v| tick_label(*v, step))
            .y_label_formatter(&y_name)
            .draw()?;
        for (i, vals) in c.values.iter().enumerate().take(n) {
            let k = n - 1 - i;
            let mut acc = 0.0;
            let mut bars = Vec::new();
            for (v, (_, color)) in vals.iter().zip(c.parts) {
                let v = v.max(0.0);
                let mut r = Rectangle::new(
                    [
                        (acc, SegmentValue::Exact(k)),
                        (acc + v, SegmentValue::Exact(k + 1)),
                    ],
                    color.plotters().filled(),
                );
                r.set_margin(4, 4, 0, 0);
                bars.push(r);
                acc += v;
            }
            chart.draw_series(bars)?;
        }
        Ok(())
    })
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// Min/max per bucket: at most `max` points, the extremes of every bucket kept, in order.
pub fn downsample(pts: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max || max < 2 {
        return pts;
    }
    let buckets = max / 2;
    let n = pts.len();
    let mut out = Vec::with_capacity(max);
    for b in 0..buckets {
        let s = b * n / buckets;
        let e = ((b + 1) * n / buckets).clamp(s + 1, n);
        let chunk = &pts[s..e];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[lo].1 {
                lo = i;
            }
            if p.1 > chunk[hi].1 {
                hi = i;
            }
        }
        let (a, c) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if c != a {
            out.push(chunk[c]);
        }
    }
    out
}

/// A "nice" axis covering [lo, hi]: its bounds, ticks and step. Always finite, hi > lo.
pub fn nice_axis(mut lo: f64, mut hi: f64, target: usize) -> (f64, f64, Vec<f64>, f64) {
    let big = f64::MAX / 4.0;
    if !lo.is_finite() || !hi.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    (lo, hi) = (lo.clamp(-big, big), hi.clamp(-big, big));
    if hi <= lo {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        hi = lo + pad;
        if lo != 0.0 {
            lo -= pad;
        }
    }
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let a = (lo / step).floor() * step;
    let b = (hi / step).ceil() * step;
    let ticks = (0..=100)
        .map(|k| a + step * k as f64)
        .take_while(|t| *t <= b + step * 1e-9)
        .collect();
    (a, b, ticks, step)
}

/// 1, 2 or 5 times a power of ten, near `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    mag * match norm {
        n if n < 1.5 => 1.0,
        n if n < 3.0 => 2.0,
        n if n < 7.0 => 5.0,
        _ => 10.0,
    }
}

/// A tick's label, as many decimals as the step needs; big round numbers with a suffix (150k,
/// 2.5M), chosen by the step so that one axis uses one suffix.
pub fn tick_label(v: f64, step: f64) -> String {
    for (unit, min_step, suffix) in [(1e9, 5e8, "G"), (1e6, 5e5, "M"), (1e3, 1e3, "k")] {
        if step >= min_step {
            if v == 0.0 {
                return "0".into();
            }
            let dec = (-(step / unit).log10().floor()).clamp(0.0, 3.0) as usize;
            return format!("{:.dec$}{suffix}", v / unit);
        }
    }
    let dec = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    let s = format!("{v:.dec$}");
    let negative_zero = s.starts_with("-0")
        && s.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.');
    if negative_zero {
        s[1..].to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The x of every `<text>` whose content is exactly `label`.
    fn text_x(svg: &str, label: &str) -> Vec<f64> {
        svg.split("<text")
            .skip(1)
            .filter(|t| {
                t.split('>')
                    .nth(1)
                    .map(|s| s.split('<').next().unwrap_or("").trim())
                    == Some(label)
            })
            .filter_map(|t| {
                let x = t.split("x=\"").nth(1)?;
                x[..x.find('"')?].parse().ok()
            })
            .collect()
    }

    fn series(points: Vec<(f64, f64)>, dash: Dash) -> Series {
        Series {
            label: "s".into(),
            color: PALETTE[0],
            dash,
            points,
            markers: true,
        }
    }

    #[test]
    fn the_percentile_axis_gives_each_nine_the_same_width() {
        let qs = [0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999];
        let s = [series(
            qs.iter().map(|&q| (q, 100.0 * q)).collect(),
            Dash::Solid,
        )];
        let svg = line_chart(&LineChart {
            x: XAxis::Percentile,
            x_label: "percentile",
            y_label: "ms",
            series: &s,
        })
        .unwrap();
        let x: Vec<f64> = ["p50", "p90", "p99", "p99.9"]
            .iter()
            .map(|l| {
                let xs = text_x(&svg.document, l);
                assert_eq!(xs.len(), 1, "{l} labelled once: {xs:?}");
                xs[0]
            })
            .collect();
        let decade = x[2] - x[1];
        assert!(decade > 100.0, "a decade is {decade} px");
        for w in x.windows(2).skip(1) {
            assert!(
                (w[1] - w[0] - decade).abs() <= 2.0,
                "p90→p99→p99.9 not evenly spaced: {x:?}"
            );
        }
        // p50 is log10(2) ≈ 0.3 decades from the origin, p90 one decade.
        let origin = x[1] - decade;
        assert!(
            ((x[0] - origin) / decade - 2f64.log10()).abs() < 0.02,
            "{x:?}"
        );
        assert!((percentile_x(0.999) - 3.0).abs() < 1e-9 && percentile_x(0.0) == 0.0);
    }

    #[test]
    fn escapes_labels_and_gives_a_standalone_document() {
        let s = [series(vec![(0.0, 1.0), (1.0, 2.0)], Dash::Dashed)];
        let svg = line_chart(&LineChart {
            x: XAxis::Linear,
            x_label: "<b>x</b>",
            y_label: "y",
            series: &s,
        })
        .unwrap();
        assert!(svg.document.starts_with("<svg") && svg.document.contains("xmlns="));
        assert!(!svg.document.contains("<b>") && svg.document.contains("&lt;b&gt;"));
        assert!(!svg.body().contains("<svg") && !svg.body().contains("</svg>"));
        assert!(svg.body().contains("<circle"));
        assert_eq!(
            svg.document.matches("stroke-dasharray=\"7 4\"").count(),
            1,
            "one dashed line"
        );
    }

    #[test]
    fn odd_values_still_draw() {
        for pts in [
            vec![],
            vec![(0.0, 1e308), (1.0, -1e308)],
            vec![(f64::MAX, 1.0)],
            vec![(5.0, 5.0)],
        ] {
            let s = [series(pts, Dash::Dotted)];
            let c = LineChart {
                x: XAxis::Linear,
                x_label: "x",
                y_label: "y",
                series: &s,
            };
            assert!(line_chart(&c).unwrap().document.contains("</svg>"));
        }
        let rows = ["a".to_string(), "b".to_string()];
        let svg = stacked_bars(&StackedBars {
            rows: &rows,
            parts: &[("one", PALETTE[0]), ("two", PALETTE[1])],
            values: &[vec![1.0, 2.0], vec![-1.0, 0.5]],
            x_label: "ms",
        })
        .unwrap();
        assert_eq!(svg.height, 10 + 48 + 2 * ROW_HEIGHT);
        let (a, b) = (text_x(&svg.document, "a"), text_x(&svg.document, "b"));
        assert!(a.len() == 1 && b.len() == 1, "one label per row");
    }

    #[test]
    fn downsampling_keeps_extremes_and_bounds() {
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (i as f64, if i == 77_777 { 1e6 } else { (i % 100) as f64 }))
            .collect();
        let d = downsample(pts, 2000);
        assert!(d.len() <= 2000);
        assert!(d.iter().any(|p| p.1 == 1e6), "the spike survives");
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        assert_eq!(downsample(vec![(0.0, 1.0)], 2000).len(), 1);
    }

    #[test]
    fn nice_axes() {
        let (a, b, t, s) = nice_axis(0.0, 97.0, 6);
        assert_eq!((a, b, s), (0.0, 100.0, 20.0));
        assert_eq!(t.len(), 6);
        let (a, b, _, _) = nice_axis(5.0, 5.0, 6);
        assert!(a < 5.0 && b > 5.0);
        let (a, b, _, _) = nice_axis(0.0, 0.0, 6);
        assert!(a == 0.0 && b >= 1.0);
        let (_, _, t, _) = nice_axis(f64::NAN, f64::INFINITY, 6);
        assert!(!t.is_empty() && t.len() < 20);
        let (a, b, t, _) = nice_axis(0.0, f64::MAX, 6);
        assert!(a.is_finite() && b.is_finite() && b > a && !t.is_empty());
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(-0.0, 0.5), "0.0");
        assert_eq!(tick_label(150_000.0, 20_000.0), "150k");
        assert_eq!(tick_label(5_000.0, 500.0), "5000");
        assert_eq!(tick_label(12_000.0, 2_000.0), "12k");
        assert_eq!(tick_label(2_500_000.0, 500_000.0), "2.5M");
        assert_eq!(tick_label(0.0, 20_000.0), "0");
    }
}

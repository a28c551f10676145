//! Chart drawing: every chart llmbench draws is an SVG made here with plotters' SVG backend, from
//! plain series (numbers, labels, colours), never from report types or HTML. The HTML report
//! embeds the SVGs inline; the `plot` output (`render::plot`) puts the same SVGs side by side in
//! one figure, written as .svg or rasterized to .png.
//!
//! Plotters lays out the axes, ticks and text (it escapes text itself); the scales are chosen
//! here. Ticks sit on round numbers (`nice_axis`), both axes start at zero unless the data go
//! below it, and a percentile axis is logarithmic in 1/(1−q): p50, p90, p99 and p99.9 sit one
//! decade apart, so the tail, where latency goes wrong, gets most of the width. A log axis
//! (`XAxis::Log`, `LineChart::y_log`, as GuideLLM's plot uses) spans whole 1-2-5 steps and leaves
//! out values that are not positive.
//!
//! A series may carry error bars (`Series::errors`): a confidence interval drawn as a vertical
//! whisker with caps at a point's x, in the series' colour; the y axis is fitted to them too.
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

/// The mark drawn on every point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// None (a series of one point still gets a dot, or it would not show).
    None,
    Circle,
    Triangle,
    Square,
    Diamond,
}

/// One line of a chart. On a percentile axis, x is the quantile q in [0, 1).
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: Rgb,
    pub dash: Dash,
    pub points: Vec<(f64, f64)>,
    /// A mark on every point (drawn only for series of at most `MAX_MARKERS` points).
    pub marker: Marker,
    /// The area between the line and the bottom of the chart filled (translucent), as in a
    /// stacked area chart: give the stack's running totals, the top series first.
    pub area: bool,
    /// Error bars: (x, lower, upper), a confidence interval at a point's x.
    pub errors: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A plain line: no marks, no area.
    pub fn line(
        label: impl Into<String>,
        color: Rgb,
        dash: Dash,
        points: Vec<(f64, f64)>,
    ) -> Series {
        Series {
            label: label.into(),
            color,
            dash,
            points,
            marker: Marker::None,
            area: false,
            errors: Vec::new(),
        }
    }

    pub fn marked(mut self, marker: Marker) -> Series {
        self.marker = marker;
        self
    }

    /// With error bars (x, lower, upper).
    pub fn with_errors(mut self, errors: Vec<(f64, f64, f64)>) -> Series {
        self.errors = errors;
        self
    }
}

const MAX_MARKERS: usize = 200;

/// The kind of x axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    Linear,
    /// x is a quantile, drawn at log10(1/(1−q)) and labelled with percentile names.
    Percentile,
    /// Logarithmic; points with x ≤ 0 are left out.
    Log,
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
    /// A logarithmic y axis; points with y ≤ 0 are left out.
    pub y_log: bool,
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
    // What a log axis cannot show is left out, before the axes are fitted to what is left.
    let keep = |&(x, y): &(f64, f64)| (c.x != XAxis::Log || x > 0.0) && (!c.y_log || y > 0.0);
    let series: Vec<Vec<(f64, f64)>> = c
        .series
        .iter()
        .map(|s| s.points.iter().copied().filter(keep).collect())
        .collect();
    // Error bars: each end a point the axes must hold (a lower end a log axis cannot show is
    // left to the axis' bottom).
    let whiskers: Vec<Vec<(f64, f64, f64)>> = c
        .series
        .iter()
        .map(|s| {
            s.errors
                .iter()
                .copied()
                .filter(|&(x, lo, hi)| keep(&(x, hi)) && lo.is_finite() && hi.is_finite())
                .collect()
        })
        .collect();
    let ends: Vec<(f64, f64)> = whiskers
        .iter()
        .flatten()
        .flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)])
        .filter(keep)
        .collect();
    let pts = || series.iter().flatten().chain(&ends);
    let (y0, y1, yticks, ystep) = if c.y_log {
        log_axis(pts().map(|p| p.1))
    } else {
        nice_axis(
            pts().map(|p| p.1).fold(0.0, f64::min),
            pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
            6,
        )
    };
    let (x0, x1, xticks, xstep) = match c.x {
        XAxis::Linear => nice_axis(
            pts().map(|p| p.0).fold(0.0, f64::min),
            pts().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
            8,
        ),
        XAxis::Log => log_axis(pts().map(|p| p.0)),
        XAxis::Percentile => {
            let top = pts().map(|p| percentile_x(p.0)).fold(3.0, f64::max);
            let ticks = PERCENTILE_TICKS.iter().map(|t| percentile_x(t.0)).collect();
            (0.0, top + 0.1, ticks, 0.0)
        }
    };
    let x_name = |v: &f64| match c.x {
        XAxis::Linear => tick_label(*v, xstep),
        XAxis::Log => log_tick_label(*v),
        XAxis::Percentile => percentile_name(*v),
    };
    let y_name = |v: &f64| match c.y_log {
        false => tick_label(*v, ystep),
        true => log_tick_label(*v),
    };
    let x_range = Ticked::new(x0, x1, xticks).log(c.x == XAxis::Log);
    let y_range = Ticked::new(y0, y1, yticks).log(c.y_log);
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin_top(12)
            .margin_right(18)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)?;
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
            .y_label_formatter(&y_name)
            .draw()?;
        for ((s, points), bars) in c.series.iter().zip(&series).zip(&whiskers) {
            let at = |&(x, y): &(f64, f64)| match c.x {
                XAxis::Linear | XAxis::Log => (x, y),
                XAxis::Percentile => (percentile_x(x), y),
            };
            let bars: Vec<Bar> = bars
                .iter()
                .map(|&(x, lo, hi)| (at(&(x, lo)), at(&(x, hi))))
                .collect();
            draw_error_bars(&mut chart, s.color, &bars)?;
            let points: Vec<(f64, f64)> = points.iter().map(at).collect();
            draw_series(&mut chart, s, points, y0)?;
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
    /// Values placed by their logarithm (lo > 0); a value ≤ 0 sits at lo.
    log: bool,
}

impl Ticked {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Ticked {
        Ticked {
            lo,
            hi,
            ticks,
            log: false,
        }
    }

    fn log(mut self, log: bool) -> Ticked {
        self.log = log && self.lo > 0.0;
        self
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (from, to): (i32, i32)) -> i32 {
        let f = if self.log {
            (v.max(self.lo) / self.lo).log10() / (self.hi / self.lo).log10()
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
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

/// One series: its area, its line and its marks. `floor` is the bottom of the y axis.
fn draw_series(
    chart: &mut Chart2d,
    s: &Series,
    points: Vec<(f64, f64)>,
    floor: f64,
) -> Result<(), Failed> {
    let c = s.color;
    if s.area && points.len() > 1 {
        let mut outline = points.clone();
        outline.push((points[points.len() - 1].0, floor));
        outline.push((points[0].0, floor));
        chart.draw_series(std::iter::once(Polygon::new(
            outline,
            RGBAColor(c.0, c.1, c.2, 0.75).filled(),
        )))?;
    }
    if points.len() > 1 {
        let stroke = RGBAColor(c.0, c.1, c.2, s.dash.marker_opacity());
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            stroke.stroke_width(2),
        ))?;
    }
    let marker = match (s.marker, points.len()) {
        (Marker::None, 1) => Marker::Circle,
        (m, _) => m,
    };
    if points.len() > MAX_MARKERS {
        return Ok(());
    }
    let fill = c.plotters().filled();
    let at = || points.iter().copied();
    match marker {
        Marker::None => {}
        Marker::Circle => {
            chart.draw_series(at().map(|p| Circle::new(p, 3, fill)))?;
        }
        Marker::Triangle => {
            chart.draw_series(at().map(|p| TriangleMarker::new(p, 5, fill)))?;
        }
        Marker::Square => {
            let square = |p| EmptyElement::at(p) + Rectangle::new([(-3, -3), (3, 3)], fill);
            chart.draw_series(at().map(square))?;
        }
        Marker::Diamond => {
            let corners = vec![(0, -5), (4, 0), (0, 5), (-4, 0)];
            let diamond = |p| EmptyElement::at(p) + Polygon::new(corners.clone(), fill);
            chart.draw_series(at().map(diamond))?;
        }
    }
    Ok(())
}

/// An error bar's two ends, as points of the chart.
type Bar = ((f64, f64), (f64, f64));

/// Vertical whiskers from each bar's lower to its upper end, with 8-pixel caps.
fn draw_error_bars(chart: &mut Chart2d, c: Rgb, bars: &[Bar]) -> Result<(), Failed> {
    let stroke = RGBAColor(c.0, c.1, c.2, 0.85).stroke_width(1);
    chart.draw_series(
        bars.iter()
            .map(|&(lo, hi)| PathElement::new(vec![lo, hi], stroke)),
    )?;
    let cap = |p: (f64, f64)| EmptyElement::at(p) + PathElement::new(vec![(-4, 0), (4, 0)], stroke);
    chart.draw_series(bars.iter().flat_map(|&(lo, hi)| [cap(lo), cap(hi)]))?;
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

/// Vertical bars: one slot per category, each group's value in it, side by side or stacked.
pub struct BarChart<'a> {
    pub categories: &'a [String],
    pub groups: &'a [BarGroup],
    /// Stack the groups' values (else side by side).
    pub stacked: bool,
    /// A logarithmic y axis (bars grow from its bottom; values ≤ 0 are not drawn).
    pub y_log: bool,
    pub x_label: &'a str,
    pub y_label: &'a str,
}

/// One kind of bar: its name, colour, and a value per category.
#[derive(Debug, Clone)]
pub struct BarGroup {
    pub label: String,
    pub color: Rgb,
    pub values: Vec<f64>,
}

/// Draws vertical bars, the categories left to right.
pub fn bar_chart(c: &BarChart) -> Result<Svg, String> {
    let n = c.categories.len();
    let value = |g: &BarGroup, i: usize| g.values.get(i).copied().filter(|v| v.is_finite());
    let tops: Vec<f64> = (0..n)
        .flat_map(|i| {
            let sum: f64 = c
                .groups
                .iter()
                .filter_map(|g| value(g, i))
                .map(|v| v.max(0.0))
                .sum();
            match c.stacked {
                true => vec![sum],
                false => c.groups.iter().filter_map(|g| value(g, i)).collect(),
            }
        })
        .collect();
    let (y0, y1, yticks, ystep) = if c.y_log {
        // The axis reaches below the smallest bar, or that bar would have no height.
        let low = tops
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min)
            / 2.0;
        log_axis(tops.iter().copied().chain([low]))
    } else {
        nice_axis(0.0, tops.iter().copied().fold(0.0, f64::max), 6)
    };
    let xticks: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let x_name = |v: &f64| {
        let i = v.round();
        match (i >= 0.0 && (v - i).abs() < 1e-9).then(|| c.categories.get(i as usize)) {
            Some(Some(l)) => cut(l, 16),
            _ => String::new(),
        }
    };
    let y_name = |v: &f64| match c.y_log {
        false => tick_label(*v, ystep),
        true => log_tick_label(*v),
    };
    let x_range = Ticked::new(-0.5, n.max(1) as f64 - 0.5, xticks);
    let y_range = Ticked::new(y0, y1, yticks).log(c.y_log);
    draw(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin_top(12)
            .margin_right(18)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .axis_style(AXIS)
            .label_style((FONT, 13).into_font().color(&TEXT))
            .axis_desc_style((FONT, 14).into_font().color(&TEXT))
            .x_desc(c.x_label)
            .y_desc(c.y_label)
            .x_label_formatter(&x_name)
            .y_label_formatter(&y_name)
            .draw()?;
        let slot = 0.76;
        let width = match c.stacked {
            true => slot,
            false => slot / c.groups.len().max(1) as f64,
        };
        let mut bars = Vec::new();
        for i in 0..n {
            // The stack so far (0 below the first bar, drawn from the axis' bottom).
            let mut stack = 0.0;
            for (k, g) in c.groups.iter().enumerate() {
                let Some(v) = value(g, i).filter(|v| *v > 0.0) else {
                    continue;
                };
                let left = match c.stacked {
                    true => i as f64 - slot / 2.0,
                    false => i as f64 - slot / 2.0 + k as f64 * width,
                };
                let (bottom, top) = match c.stacked {
                    true => (f64::max(stack, y0), stack + v),
                    false => (y0, v),
                };
                stack += v;
                bars.push(Rectangle::new(
                    [(left, bottom), (left + width, top)],
                    g.color.plotters().filled(),
                ));
            }
        }
        chart.draw_series(bars)?;
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

/// A log axis covering the positive finite `values`: its bounds (ticks themselves), its ticks at
/// 1, 2 and 5 times a power of ten (only 1 over a wide range, 1, 1.5, 2, 3, 4, 5, 7 over a
/// narrow one), and a step of 0 (the ticks label themselves: `log_tick_label`). With no such
/// value, 1 to 10.
pub fn log_axis(values: impl Iterator<Item = f64>) -> (f64, f64, Vec<f64>, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0_f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    if hi <= 0.0 {
        return (1.0, 10.0, vec![1.0, 2.0, 5.0, 10.0], 0.0);
    }
    (lo, hi) = (lo.clamp(1e-200, 1e200), hi.clamp(1e-200, 1e200));
    let span = (hi / lo).log10();
    let mantissas: &[f64] = if span >= 2.5 {
        &[1.0]
    } else if span >= 0.7 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0]
    };
    let (k0, k1) = (lo.log10().floor() as i32 - 1, hi.log10().ceil() as i32 + 1);
    let candidates: Vec<f64> = (k0..=k1)
        .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
        .collect();
    let eps = 1e-9;
    let mut a = candidates
        .iter()
        .copied()
        .filter(|t| *t <= lo * (1.0 + eps))
        .fold(candidates[0], f64::max);
    let mut b = candidates
        .iter()
        .copied()
        .filter(|t| *t >= hi * (1.0 - eps))
        .fold(candidates[candidates.len() - 1], f64::min);
    if b <= a * (1.0 + eps) {
        // One value, itself a tick: the ticks either side of it.
        a = candidates
            .iter()
            .copied()
            .filter(|t| *t < a * (1.0 - eps))
            .fold(a / 10.0, f64::max);
        b = candidates
            .iter()
            .copied()
            .find(|t| *t > b * (1.0 + eps))
            .unwrap_or(b * 10.0);
    }
    let mut ticks: Vec<f64> = candidates
        .into_iter()
        .filter(|t| *t >= a * (1.0 - eps) && *t <= b * (1.0 + eps))
        .collect();
    if ticks.len() > 12 {
        let every = ticks.len().div_ceil(10);
        ticks = ticks.into_iter().step_by(every).collect();
    }
    (a, b, ticks, 0.0)
}

/// A log axis tick's label: at most three significant digits, a k/M/G suffix from 1000 on.
pub fn log_tick_label(v: f64) -> String {
    let (v, suffix) = match v {
        _ if v >= 1e9 => (v / 1e9, "G"),
        _ if v >= 1e6 => (v / 1e6, "M"),
        _ if v >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let dec = if v > 0.0 {
        (2.0 - v.log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        0
    };
    let s = format!("{v:.dec$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{suffix}")
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
            marker: Marker::Circle,
            area: false,
            errors: Vec::new(),
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
            y_log: false,
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
            y_log: false,
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
                y_log: false,
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
    fn log_axes() {
        // Several decades: decade ticks only.
        let (a, b, t, _) = log_axis([3.0, 40_000.0].into_iter());
        assert_eq!((a, b), (1.0, 100_000.0));
        assert_eq!(t, [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]);
        // About a decade: 1, 2, 5.
        let (a, b, t, _) = log_axis([0.3, 4.0, -1.0, f64::NAN].into_iter());
        assert_eq!((a, b), (0.2, 5.0));
        assert_eq!(t.len(), 5, "{t:?}");
        // Narrow: the ticks tight around the data.
        let (a, b, _, _) = log_axis([210.0, 390.0].into_iter());
        assert_eq!((a, b), (200.0, 400.0));
        // One value that is itself a tick: a step either side.
        let (a, b, _, _) = log_axis([100.0].into_iter());
        assert!(a < 100.0 && b > 100.0, "{a} {b}");
        // Nothing positive: a default decade.
        assert_eq!(log_axis([0.0, -3.0].into_iter()).0, 1.0);
        let (_, _, t, _) = log_axis([1e-200, 1e200].into_iter());
        assert!(t.len() <= 12 && !t.is_empty());
        assert_eq!(log_tick_label(0.2), "0.2");
        assert_eq!(log_tick_label(1.5), "1.5");
        assert_eq!(log_tick_label(300.0), "300");
        assert_eq!(log_tick_label(2000.0), "2k");
        assert_eq!(log_tick_label(1500.0), "1.5k");
        assert_eq!(log_tick_label(5e6), "5M");
    }

    #[test]
    fn log_charts_leave_out_what_they_cannot_place() {
        let s = [Series {
            marker: Marker::Diamond,
            ..Series::line(
                "s",
                PALETTE[0],
                Dash::Solid,
                vec![(0.0, 5.0), (1.0, 0.0), (2.0, 50.0), (4.0, 500.0)],
            )
        }];
        let svg = line_chart(&LineChart {
            x: XAxis::Log,
            x_label: "x",
            y_label: "y",
            series: &s,
            y_log: true,
        })
        .unwrap();
        // (0, 5) and (1, 0) have no place on log axes: two points, two diamonds.
        assert_eq!(
            svg.document.matches("<polygon").count(),
            2,
            "{}",
            svg.document
        );
        // y from 50 to 500, a decade: 1-2-5 ticks; x from 2 to 4: tighter ones.
        for label in ["50", "100", "200", "500", "2", "3", "4"] {
            assert_eq!(text_x(&svg.document, label).len(), 1, "{label} labelled");
        }
    }

    #[test]
    fn bars_stack_or_stand_side_by_side() {
        let cats = ["a".to_string(), "b".to_string()];
        let groups = [
            BarGroup {
                label: "one".into(),
                color: PALETTE[0],
                values: vec![3.0, 0.0],
            },
            BarGroup {
                label: "two".into(),
                color: PALETTE[1],
                values: vec![1.0, 2.0],
            },
        ];
        let chart = |stacked, y_log| {
            bar_chart(&BarChart {
                categories: &cats,
                groups: &groups,
                stacked,
                y_log,
                x_label: "x",
                y_label: "y",
            })
            .unwrap()
            .document
        };
        let fill = |c: Rgb| format!("fill=\"{}\"", c.hex().to_uppercase());
        for doc in [chart(true, false), chart(false, false), chart(false, true)] {
            // Three positive values: three bars; a 0 draws none.
            assert_eq!(doc.matches(&fill(PALETTE[0])).count(), 1, "{doc}");
            assert_eq!(doc.matches(&fill(PALETTE[1])).count(), 2, "{doc}");
            assert_eq!(text_x(&doc, "a").len(), 1);
            assert_eq!(text_x(&doc, "b").len(), 1);
        }
        // Stacked, the axis reaches the tallest stack (4); side by side, the tallest bar (3).
        assert_eq!(text_x(&chart(true, false), "4.0").len(), 1);
        assert!(text_x(&chart(false, false), "4.0").is_empty());
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

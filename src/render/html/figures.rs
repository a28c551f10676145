//! The charts. `CHARTS` is the one list of them, in page order: each chart's id (the id of its
//! `<section>`), its name (for the note on charts a report has no data for) and what it draws.
//! Drawing is `render::charts`; this module picks the numbers and writes the tables shown beside
//! each chart. The `plot` output (`render::plot`) draws the charts `PLOT_CHARTS` names with the
//! same functions: GuideLLM's eight panels (its benchmark/outputs/plot.py), then llmbench's
//! percentile and over-time charts.

use super::text::{cut, fmt, fmt_ci, fmt_opt, fmt_short};
use super::{Bench, Table, MAX_POINTS, TABLE_POINTS};
use crate::metrics::interval::DistributionCi;
use crate::metrics::{Distribution, Interval, Stages, Summary};
use crate::render::charts::{
    bar_chart, downsample, line_chart, stacked_bars, BarChart, BarGroup, Dash, LineChart, Marker,
    Rgb, Series, StackedBars, Svg, XAxis, PALETTE,
};
use crate::report::BenchmarkEntry;

/// One chart of the page.
pub struct ChartDef {
    /// The id of its `<section>` (its data table is `{id}-data`, its SVG `{id}-svg`).
    pub id: &'static str,
    /// What the page calls it when it is not drawn.
    pub name: &'static str,
    kind: Kind,
}

/// What a chart draws.
enum Kind {
    /// Percentiles of one distribution, one line per benchmark.
    Percentiles {
        title: &'static str,
        metric: fn(&Summary) -> &Distribution,
    },
    /// Series over the benchmark's time, one line per benchmark and series.
    OverTime(&'static TimeChart),
    /// Statistics against the measured request rate, one line per model and statistic.
    AgainstRate(&'static RateChart),
    /// The median of every stage of a request, stacked, one bar per benchmark.
    Stages,
    /// One of GuideLLM's plot panels.
    Panel(PanelFn),
}

/// Draws one of GuideLLM's panels (the chart's id, the benchmarks).
type PanelFn = fn(&'static str, &[Bench]) -> Result<Option<Figure>, String>;

/// The charts, in page order.
pub static CHARTS: [ChartDef; 16] = [
    ChartDef {
        id: "chart-latency-dist",
        name: "request latency distribution",
        kind: Kind::Percentiles {
            title: "Request latency",
            metric: |s| &s.request_latency_ms,
        },
    },
    ChartDef {
        id: "chart-ttft-dist",
        name: "TTFT distribution",
        kind: Kind::Percentiles {
            title: "Time to first token (TTFT)",
            metric: |s| &s.ttft_ms,
        },
    },
    ChartDef {
        id: "chart-itl-dist",
        name: "ITL distribution",
        kind: Kind::Percentiles {
            title: "Inter-token latency (ITL, every gap)",
            metric: |s| &s.itl_ms,
        },
    },
    ChartDef {
        id: "chart-tokens-over-time",
        name: "output tokens over time",
        kind: Kind::OverTime(&TOKENS),
    },
    ChartDef {
        id: "chart-concurrency-over-time",
        name: "concurrency over time",
        kind: Kind::OverTime(&CONCURRENCY),
    },
    ChartDef {
        id: "chart-kv-cache-over-time",
        name: "KV cache over time",
        kind: Kind::OverTime(&KV_CACHE),
    },
    ChartDef {
        id: "chart-latency-vs-rate",
        name: "latency against request rate",
        kind: Kind::Panel(|id, b| line_panel(id, &LATENCY_VS_RATE, b)),
    },
    ChartDef {
        id: "chart-generation-vs-rate",
        name: "TPOT and ITL against request rate",
        kind: Kind::Panel(|id, b| line_panel(id, &GENERATION_VS_RATE, b)),
    },
    ChartDef {
        id: "chart-tokens-vs-concurrency",
        name: "token throughput against concurrency",
        kind: Kind::Panel(|id, b| line_panel(id, &TOKENS_VS_CONCURRENCY, b)),
    },
    ChartDef {
        id: "chart-knee",
        name: "latency against throughput",
        kind: Kind::Panel(|id, b| line_panel(id, &KNEE, b)),
    },
    ChartDef {
        id: "chart-status-counts",
        name: "request status counts",
        kind: Kind::Panel(status_counts),
    },
    ChartDef {
        id: "chart-latency-breakdown",
        name: "latency breakdown at peak throughput",
        kind: Kind::Panel(latency_breakdown),
    },
    ChartDef {
        id: "chart-efficiency",
        name: "throughput per active request",
        kind: Kind::Panel(|id, b| line_panel(id, &EFFICIENCY, b)),
    },
    ChartDef {
        id: "chart-token-mix",
        name: "token throughput mix",
        kind: Kind::Panel(|id, b| line_panel(id, &TOKEN_MIX, b)),
    },
    ChartDef {
        id: "chart-sweep-itl",
        name: "ITL (every gap) against request rate",
        kind: Kind::AgainstRate(&RATE_ITL),
    },
    ChartDef {
        id: "chart-stages",
        name: "where the time went",
        kind: Kind::Stages,
    },
];

/// The charts of the `plot` output, in its order: GuideLLM's eight panels, then llmbench's
/// distributions and output tokens over time.
pub const PLOT_CHARTS: [&str; 12] = [
    "chart-latency-vs-rate",
    "chart-generation-vs-rate",
    "chart-tokens-vs-concurrency",
    "chart-knee",
    "chart-status-counts",
    "chart-latency-breakdown",
    "chart-efficiency",
    "chart-token-mix",
    "chart-ttft-dist",
    "chart-itl-dist",
    "chart-latency-dist",
    "chart-tokens-over-time",
];

/// A drawn chart with its legend and its numbers, as the template shows it.
pub(crate) struct Figure {
    pub(crate) id: &'static str,
    pub(crate) title: String,
    pub(super) note: &'static str,
    pub(crate) svg: Svg,
    /// The SVG's accessible name.
    pub(super) svg_title: String,
    pub(crate) legend: Vec<LegendItem>,
    pub(super) tables: Vec<Table>,
    /// A longer table, folded.
    pub(super) details: Option<Details>,
}

pub(crate) struct LegendItem {
    pub(crate) label: String,
    pub(crate) color: String,
    pub(crate) dash: Option<&'static str>,
    /// A colour box (bar charts, filled areas) rather than a line.
    pub(crate) bar: bool,
}

pub(super) struct Details {
    pub(super) summary: String,
    pub(super) table: Table,
}

/// The charts `ids` names, in that order: each drawn, `None` (no data for it), or the error
/// drawing it.
pub(crate) fn draw_some(
    benches: &[Bench],
    ids: &[&str],
) -> Vec<(&'static ChartDef, Result<Option<Figure>, String>)> {
    let chart = |id: &&str| CHARTS.iter().find(|c| c.id == *id);
    ids.iter()
        .filter_map(chart)
        .map(|c| (c, c.figure(benches)))
        .collect()
}

/// Every chart the benchmarks have data for, and the names of those they have none for.
pub(super) fn draw(benches: &[Bench]) -> (Vec<Figure>, Vec<String>) {
    let mut figures = Vec::new();
    let mut left_out = Vec::new();
    for c in &CHARTS {
        match c.figure(benches) {
            Ok(Some(f)) => figures.push(f),
            Ok(None) => left_out.push(format!("{} ({})", c.name, c.id)),
            Err(e) => left_out.push(format!("{} ({}: drawing failed: {e})", c.name, c.id)),
        }
    }
    (figures, left_out)
}

impl ChartDef {
    fn figure(&self, benches: &[Bench]) -> Result<Option<Figure>, String> {
        match &self.kind {
            Kind::Percentiles { title, metric } => percentiles(self.id, title, *metric, benches),
            Kind::OverTime(t) => over_time(self.id, t, benches),
            Kind::AgainstRate(r) => against_rate(self.id, r, benches),
            Kind::Stages => stages(self.id, benches),
            Kind::Panel(f) => f(self.id, benches),
        }
    }
}

fn legend(series: &[Series]) -> Vec<LegendItem> {
    series
        .iter()
        .map(|s| LegendItem {
            label: s.label.clone(),
            color: s.color.hex(),
            dash: s.dash.dasharray(),
            bar: s.area,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Percentiles.

/// One statistic of a distribution.
type Stat = fn(&Distribution) -> f64;

/// The percentiles drawn: quantile, name, statistic.
const PCTS: [(f64, &str, Stat); 11] = [
    (0.001, "p0.1", |d| d.p0_1),
    (0.01, "p1", |d| d.p1),
    (0.05, "p5", |d| d.p5),
    (0.1, "p10", |d| d.p10),
    (0.25, "p25", |d| d.p25),
    (0.5, "p50", |d| d.median),
    (0.75, "p75", |d| d.p75),
    (0.9, "p90", |d| d.p90),
    (0.95, "p95", |d| d.p95),
    (0.99, "p99", |d| d.p99),
    (0.999, "p99.9", |d| d.p99_9),
];

/// A distribution's percentiles; one outside [min, max] is one an older report did not have
/// (it reads 0).
fn percentile_values(d: &Distribution) -> Vec<Option<f64>> {
    let known = |v: f64| (d.min..=d.max).contains(&v).then_some(v);
    PCTS.iter().map(|(_, _, stat)| known(stat(d))).collect()
}

fn percentiles(
    id: &'static str,
    title: &str,
    metric: fn(&Summary) -> &Distribution,
    benches: &[Bench],
) -> Result<Option<Figure>, String> {
    let drawn = benches.iter().filter(|b| metric(&b.b.summary).count > 0);
    let mut series = Vec::new();
    // One column per benchmark, one row per statistic (the chart's x axis reads down the table).
    let mut rows: Vec<Vec<String>> = ["count", "mean"]
        .iter()
        .chain(PCTS.iter().map(|(_, name, _)| name))
        .map(|s| vec![s.to_string()])
        .collect();
    for b in drawn {
        let d = metric(&b.b.summary);
        let values = percentile_values(d);
        let cis =
            d.ci.as_ref()
                .map(DistributionCi::percentiles)
                .unwrap_or_default();
        let mean_ci = d.ci.as_ref().and_then(|c| c.mean);
        let column = [d.count.to_string(), fmt_ci(Some(d.mean), mean_ci)];
        let column = column
            .into_iter()
            .chain(values.iter().zip(cis).map(|(v, ci)| fmt_ci(*v, ci)));
        for (row, cell) in rows.iter_mut().zip(column) {
            row.push(cell);
        }
        let points = PCTS
            .iter()
            .zip(&values)
            .filter_map(|((q, _, _), v)| Some((*q, (*v)?)));
        // A whisker at each percentile with an interval (one an older report lacks has none).
        let errors = PCTS
            .iter()
            .zip(values.iter().zip(cis))
            .filter_map(|((q, _, _), (v, ci))| Some((*q, v.and(ci)?)))
            .map(|(q, i)| (q, i.lo, i.hi));
        series.push(
            Series {
                marker: Marker::Circle,
                ..Series::line(b.label.clone(), b.color, b.dash, points.collect())
            }
            .with_errors(errors.collect()),
        );
    }
    if series.is_empty() {
        return Ok(None);
    }
    let svg = line_chart(&LineChart {
        x: XAxis::Percentile,
        x_label: "percentile (log scale: p90, p99, p99.9 equally far apart)",
        y_label: "ms",
        series: &series,
        y_log: false,
    })?;
    let mut headers = vec!["ms"];
    headers.extend(series.iter().map(|s| s.label.as_str()));
    Ok(Some(Figure {
        id,
        title: format!("{title} distribution (ms)"),
        note: "Percentiles over the measurement window, one line per benchmark; whiskers and \
               [lo, hi]: confidence intervals, requests resampled (docs/metrics.md).",
        svg,
        svg_title: title.to_string(),
        legend: legend(&series),
        tables: vec![Table::new(&headers, rows, 1)],
        details: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Over time.

/// A chart of series over time.
struct TimeChart {
    title: &'static str,
    note: &'static str,
    y_label: &'static str,
    lines: &'static [TimeLine],
}

/// One series of a benchmark over time: (seconds since its start, value).
struct TimeLine {
    name: &'static str,
    /// Its stroke when a chart has more than one line per benchmark.
    dash: Dash,
    points: fn(&BenchmarkEntry) -> Vec<(f64, f64)>,
}

static TOKENS: TimeChart = TimeChart {
    title: "Output tokens per second over time",
    note: "From benchmarks[].timeseries, one line per benchmark.",
    y_label: "tokens/s",
    lines: &[TimeLine {
        name: "output tok/s",
        dash: Dash::Solid,
        points: |b| {
            xy(
                &b.timeseries.t_s,
                b.timeseries.output_tokens_per_s.iter().copied(),
            )
        },
    }],
};

static CONCURRENCY: TimeChart = TimeChart {
    title: "Concurrency over time",
    note: "Solid: requests in flight (llmbench); dashed: running in the engine; \
           dotted: waiting in the engine.",
    y_label: "requests",
    lines: &[
        TimeLine {
            name: "in flight",
            dash: Dash::Solid,
            points: |b| {
                xy(
                    &b.timeseries.t_s,
                    b.timeseries.requests_in_flight.iter().copied(),
                )
            },
        },
        TimeLine {
            name: "engine running",
            dash: Dash::Dashed,
            points: |b| {
                xy(
                    &b.telemetry.t_s,
                    b.telemetry.running.iter().map(|&v| f64::from(v)),
                )
            },
        },
        TimeLine {
            name: "engine waiting",
            dash: Dash::Dotted,
            points: |b| {
                xy(
                    &b.telemetry.t_s,
                    b.telemetry.waiting.iter().map(|&v| f64::from(v)),
                )
            },
        },
    ],
};

static KV_CACHE: TimeChart = TimeChart {
    title: "KV cache over time",
    note: "Solid: KV cache usage; dashed: prefix cache hit rate (engine telemetry).",
    y_label: "%",
    lines: &[
        TimeLine {
            name: "KV cache usage",
            dash: Dash::Solid,
            points: |b| {
                xy(
                    &b.telemetry.t_s,
                    b.telemetry.kv_cache_usage.iter().map(|v| v * 100.0),
                )
            },
        },
        TimeLine {
            name: "prefix hit rate",
            dash: Dash::Dashed,
            points: |b| {
                let rate = b.telemetry.prefix_cache_hit_rate.iter();
                xy(&b.telemetry.t_s, rate.map(|v| v.map(|v| v * 100.0)))
            },
        },
    ],
};

/// (t, y) pairs from parallel lists, missing and non-finite values skipped.
fn xy<Y: Into<Option<f64>>>(t: &[f64], y: impl Iterator<Item = Y>) -> Vec<(f64, f64)> {
    t.iter()
        .zip(y)
        .filter_map(|(&t, y)| Some((t, y.into()?)))
        .filter(|(t, y)| t.is_finite() && y.is_finite())
        .collect()
}

fn over_time(id: &'static str, c: &TimeChart, benches: &[Bench]) -> Result<Option<Figure>, String> {
    let many = c.lines.len() > 1;
    let mut series = Vec::new();
    let mut stats = Vec::new();
    let mut values = Vec::new();
    for b in benches {
        for line in c.lines {
            let raw = (line.points)(b.b);
            if raw.is_empty() {
                continue;
            }
            let label = if many {
                format!("{} · {}", b.label, line.name)
            } else {
                b.label.clone()
            };
            stats.push(min_mean_max(&label, &raw));
            values.extend(
                pick(&raw, TABLE_POINTS)
                    .into_iter()
                    .map(|(t, y)| vec![label.clone(), fmt(t), fmt(y)]),
            );
            let dash = if many { line.dash } else { b.dash };
            series.push(Series::line(
                label,
                b.color,
                dash,
                downsample(raw, MAX_POINTS),
            ));
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let svg = line_chart(&LineChart {
        x: XAxis::Linear,
        x_label: "seconds since the benchmark started",
        y_label: c.y_label,
        series: &series,
        y_log: false,
    })?;
    Ok(Some(Figure {
        id,
        title: c.title.to_string(),
        note: c.note,
        svg,
        svg_title: c.title.to_string(),
        legend: legend(&series),
        tables: vec![Table::new(
            &["series", "points", "min", "mean", "max"],
            stats,
            1,
        )],
        details: Some(Details {
            summary: format!("values ({TABLE_POINTS} points per series at most)"),
            table: Table::new(&["series", "t s", c.y_label], values, 1),
        }),
    }))
}

fn min_mean_max(label: &str, pts: &[(f64, f64)]) -> Vec<String> {
    let ys = || pts.iter().map(|p| p.1);
    let mean = ys().sum::<f64>() / pts.len() as f64;
    vec![
        label.to_string(),
        pts.len().to_string(),
        fmt(ys().fold(f64::INFINITY, f64::min)),
        fmt(mean),
        fmt(ys().fold(f64::NEG_INFINITY, f64::max)),
    ]
}

/// Every k-th point, at most `max` of them (the last one included).
pub(super) fn pick(pts: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if pts.len() <= max {
        return pts.to_vec();
    }
    (0..max)
        .map(|i| pts[i * (pts.len() - 1) / (max - 1)])
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Against the request rate.

/// A chart of statistics against the measured request rate.
struct RateChart {
    title: &'static str,
    /// The SVG's accessible name.
    svg_title: &'static str,
    note: &'static str,
    y_label: &'static str,
    /// Drawn, one line per model each; and shown in the table.
    lines: &'static [RateStat],
}

struct RateStat {
    /// In the legend, after the model.
    name: &'static str,
    header: &'static str,
    dash: Dash,
    value: fn(&Summary) -> Option<f64>,
    /// Its confidence interval, drawn as an error bar.
    ci: fn(&Summary) -> Option<Interval>,
}

/// The interval `f` picks from a distribution's intervals.
fn ci_of(d: &Distribution, f: fn(&DistributionCi) -> Option<Interval>) -> Option<Interval> {
    d.ci.as_ref().and_then(f)
}

fn median(d: &Distribution) -> Option<f64> {
    (d.count > 0).then_some(d.median)
}

fn p99(d: &Distribution) -> Option<f64> {
    (d.count > 0).then_some(d.p99)
}

static RATE_ITL: RateChart = RateChart {
    title: "ITL (every gap) against request rate (ms)",
    svg_title: "ITL (every gap) against request rate",
    note: "llmbench's ITL: every gap between tokens, not a mean per request. One point per \
           benchmark, per model; solid: median, dashed: p99; whiskers and [lo, hi]: confidence \
           intervals.",
    y_label: "ms",
    lines: &[
        RateStat {
            name: "median",
            header: "median ms",
            dash: Dash::Solid,
            value: |s| median(&s.itl_ms),
            ci: |s| ci_of(&s.itl_ms, |c| c.p50),
        },
        RateStat {
            name: "p99",
            header: "p99 ms",
            dash: Dash::Dashed,
            value: |s| p99(&s.itl_ms),
            ci: |s| ci_of(&s.itl_ms, |c| c.p99),
        },
    ],
};

/// One statistic of one model's benchmarks (in rate order) against their rate; none if no
/// benchmark has it.
fn rate_series(model: &str, color: Rgb, stat: &RateStat, group: &[&Bench]) -> Option<Series> {
    let value = |b: &&Bench| Some((b.b.summary.requests_per_second, (stat.value)(&b.b.summary)?));
    let points: Vec<(f64, f64)> = group.iter().filter_map(value).collect();
    let bar = |b: &&Bench| {
        let s = &b.b.summary;
        (stat.value)(s)?;
        (stat.ci)(s).map(|i| (s.requests_per_second, i.lo, i.hi))
    };
    let errors = group.iter().filter_map(bar).collect();
    (!points.is_empty()).then(|| {
        Series {
            marker: Marker::Circle,
            ..Series::line(
                format!("{} {}", cut(model, 40), stat.name),
                color,
                stat.dash,
                points,
            )
        }
        .with_errors(errors)
    })
}

fn against_rate(
    id: &'static str,
    c: &RateChart,
    benches: &[Bench],
) -> Result<Option<Figure>, String> {
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (i, (model, group)) in by_model(benches, rate).into_iter().enumerate() {
        for stat in c.lines {
            series.extend(rate_series(model, PALETTE[i % PALETTE.len()], stat, &group));
        }
        for b in group {
            let s = &b.b.summary;
            let mut row = vec![b.label.clone(), fmt(s.requests_per_second)];
            row.extend(
                c.lines
                    .iter()
                    .map(|stat| fmt_ci((stat.value)(s), (stat.ci)(s))),
            );
            rows.push(row);
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let svg = line_chart(&LineChart {
        x: XAxis::Linear,
        x_label: "requests per second (measured)",
        y_label: c.y_label,
        series: &series,
        y_log: false,
    })?;
    let mut headers = vec!["benchmark", "req/s"];
    headers.extend(c.lines.iter().map(|s| s.header));
    Ok(Some(Figure {
        id,
        title: c.title.to_string(),
        note: c.note,
        svg,
        svg_title: c.svg_title.to_string(),
        legend: legend(&series),
        tables: vec![Table::new(&headers, rows, 1)],
        details: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Where the time went.

/// One stage's durations.
type Stage = fn(&Stages) -> &Distribution;

/// The stages of a request, in order: name, colour, its durations.
const STAGES: [(&str, Rgb, Stage); 6] = [
    ("dispatch", PALETTE[7], |s| &s.dispatch),
    ("handover", PALETTE[8], |s| &s.handover),
    ("queue", PALETTE[3], |s| &s.queue),
    ("prefill", PALETTE[1], |s| &s.prefill),
    ("decode", PALETTE[0], |s| &s.decode),
    ("delivery", PALETTE[2], |s| &s.delivery),
];

fn stages(id: &'static str, benches: &[Bench]) -> Result<Option<Figure>, String> {
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut rows = Vec::new();
    for b in benches {
        let st = &b.b.summary.stages_ms;
        let medians: Vec<Option<f64>> = STAGES.iter().map(|(_, _, d)| median(d(st))).collect();
        if medians.iter().all(Option::is_none) {
            continue;
        }
        let drawn: Vec<f64> = medians.iter().map(|v| v.unwrap_or(0.0).max(0.0)).collect();
        let mut row = vec![b.label.clone()];
        row.extend(medians.iter().map(|v| fmt_opt(*v)));
        row.push(fmt(drawn.iter().sum()));
        rows.push(row);
        labels.push(b.label.clone());
        values.push(drawn);
    }
    if labels.is_empty() {
        return Ok(None);
    }
    let parts: Vec<(&str, Rgb)> = STAGES.iter().map(|(n, c, _)| (*n, *c)).collect();
    let svg = stacked_bars(&StackedBars {
        rows: &labels,
        parts: &parts,
        values: &values,
        x_label: "ms (median of each stage)",
    })?;
    let mut headers = vec!["benchmark"];
    headers.extend(STAGES.iter().map(|(n, _, _)| *n));
    headers.push("sum");
    let legend = parts.iter().map(|(name, color)| LegendItem {
        label: name.to_string(),
        color: color.hex(),
        dash: None,
        bar: true,
    });
    Ok(Some(Figure {
        id,
        title: "Where the time went (median ms per stage)".into(),
        note:
            "Stacked medians of each stage of a request (a sum of medians, not the median latency).",
        svg,
        svg_title: "Median stage durations".into(),
        legend: legend.collect(),
        tables: vec![Table::new(&headers, rows, 1)],
        details: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// GuideLLM's plot panels (guidellm/benchmark/outputs/plot.py): its metrics by its definitions,
// one point per benchmark. A report of several models draws each model in its own colour (the
// statistic then told apart by its dash and marks).

/// GuideLLM's plot colours.
const BLUE: Rgb = Rgb(0x00, 0x77, 0xb6);
const RED: Rgb = Rgb(0xd0, 0x00, 0x00);
const PURPLE: Rgb = Rgb(0x7b, 0x2c, 0xbf);
const GREEN: Rgb = Rgb(0x2d, 0x6a, 0x4f);
const ORANGE: Rgb = Rgb(0xf7, 0x7f, 0x00);
const PINK: Rgb = Rgb(0xc9, 0x18, 0x4a);

/// A panel of lines: one point per benchmark, in the order of `order`.
struct LinePanel {
    title: &'static str,
    note: &'static str,
    x: XAxis,
    y_log: bool,
    x_label: &'static str,
    y_label: &'static str,
    /// The x of a benchmark, and its header in the table.
    x_value: fn(&Summary) -> f64,
    x_header: &'static str,
    /// The points' order along each line.
    order: fn(&Summary) -> f64,
    lines: &'static [PanelLine],
}

/// One line of a panel.
struct PanelLine {
    name: &'static str,
    color: Rgb,
    dash: Dash,
    marker: Marker,
    /// A filled area under the line (a stacked area chart's layer).
    area: bool,
    value: fn(&Summary) -> Option<f64>,
    /// The value's confidence interval, drawn as an error bar.
    ci: fn(&Summary) -> Option<Interval>,
}

const fn line(
    name: &'static str,
    color: Rgb,
    dash: Dash,
    marker: Marker,
    value: fn(&Summary) -> Option<f64>,
) -> PanelLine {
    PanelLine {
        name,
        color,
        dash,
        marker,
        area: false,
        value,
        ci: |_| None,
    }
}

/// `line` with error bars.
const fn line_ci(
    name: &'static str,
    color: Rgb,
    dash: Dash,
    marker: Marker,
    value: fn(&Summary) -> Option<f64>,
    ci: fn(&Summary) -> Option<Interval>,
) -> PanelLine {
    PanelLine {
        ci,
        ..line(name, color, dash, marker, value)
    }
}

/// The interval of a rate.
fn rate_ci(
    s: &Summary,
    f: fn(&crate::metrics::interval::SummaryCi) -> Option<Interval>,
) -> Option<Interval> {
    s.ci.as_ref().and_then(f)
}

fn p95(d: &Distribution) -> Option<f64> {
    (d.count > 0).then_some(d.p95)
}

fn rate(s: &Summary) -> f64 {
    s.requests_per_second
}

fn concurrency(s: &Summary) -> f64 {
    s.concurrency
}

fn total_tps(s: &Summary) -> f64 {
    s.total_tokens_per_second
}

static LATENCY_VS_RATE: LinePanel = LinePanel {
    title: "Latency (TTFT & E2E) vs. request rate (lower is better)",
    note: "One point per benchmark at its measured request rate; solid: median, dashed: p95; \
           log scales (GuideLLM's panel 1); whiskers: confidence intervals.",
    x: XAxis::Log,
    y_log: true,
    x_label: "request rate (req/s, log scale)",
    y_label: "latency (ms, log scale)",
    x_value: rate,
    x_header: "req/s",
    order: rate,
    lines: &[
        line_ci(
            "TTFT median",
            BLUE,
            Dash::Solid,
            Marker::Circle,
            |s| median(&s.ttft_ms),
            |s| ci_of(&s.ttft_ms, |c| c.p50),
        ),
        line_ci(
            "TTFT p95",
            BLUE,
            Dash::Dashed,
            Marker::Triangle,
            |s| p95(&s.ttft_ms),
            |s| ci_of(&s.ttft_ms, |c| c.p95),
        ),
        line_ci(
            "E2E median",
            RED,
            Dash::Solid,
            Marker::Square,
            |s| median(&s.request_latency_ms),
            |s| ci_of(&s.request_latency_ms, |c| c.p50),
        ),
        line_ci(
            "E2E p95",
            RED,
            Dash::Dashed,
            Marker::Diamond,
            |s| p95(&s.request_latency_ms),
            |s| ci_of(&s.request_latency_ms, |c| c.p95),
        ),
    ],
};

static GENERATION_VS_RATE: LinePanel = LinePanel {
    title: "Generation speed (TPOT & ITL) vs. request rate (lower is better)",
    note: "GuideLLM's definitions: TPOT = (last token − sent) / output tokens, TTFT included \
           (llmbench's tpot_incl_ttft_ms); ITL = (last token − first token) / (output tokens − 1), \
           one mean per request (llmbench's tpot_ms). Solid: median, dashed: p95; log scales \
           (GuideLLM's panel 2); whiskers: confidence intervals.",
    x: XAxis::Log,
    y_log: true,
    x_label: "request rate (req/s, log scale)",
    y_label: "ms per token (log scale)",
    x_value: rate,
    x_header: "req/s",
    order: rate,
    lines: &[
        line_ci(
            "TPOT median",
            PURPLE,
            Dash::Solid,
            Marker::Circle,
            |s| median(&s.tpot_incl_ttft_ms),
            |s| ci_of(&s.tpot_incl_ttft_ms, |c| c.p50),
        ),
        line_ci(
            "TPOT p95",
            PURPLE,
            Dash::Dashed,
            Marker::Triangle,
            |s| p95(&s.tpot_incl_ttft_ms),
            |s| ci_of(&s.tpot_incl_ttft_ms, |c| c.p95),
        ),
        line_ci(
            "ITL median",
            GREEN,
            Dash::Solid,
            Marker::Square,
            |s| median(&s.tpot_ms),
            |s| ci_of(&s.tpot_ms, |c| c.p50),
        ),
        line_ci(
            "ITL p95",
            GREEN,
            Dash::Dashed,
            Marker::Diamond,
            |s| p95(&s.tpot_ms),
            |s| ci_of(&s.tpot_ms, |c| c.p95),
        ),
    ],
};

static TOKENS_VS_CONCURRENCY: LinePanel = LinePanel {
    title: "Token throughput vs. concurrency (higher is better)",
    note: "Tokens per second against the mean number of requests in flight; log scales \
           (GuideLLM's panel 3); whiskers: confidence intervals of the rates (batch means).",
    x: XAxis::Log,
    y_log: true,
    x_label: "concurrency (requests in flight, log scale)",
    y_label: "tokens/s (log scale)",
    x_value: concurrency,
    x_header: "concurrency",
    order: concurrency,
    lines: &[
        line_ci(
            "total tok/s",
            ORANGE,
            Dash::Solid,
            Marker::Circle,
            |s| Some(s.total_tokens_per_second),
            |s| rate_ci(s, |c| c.total_tokens_per_second),
        ),
        line_ci(
            "input tok/s",
            BLUE,
            Dash::Solid,
            Marker::Square,
            |s| Some(s.input_tokens_per_second),
            |s| rate_ci(s, |c| c.input_tokens_per_second),
        ),
        line_ci(
            "output tok/s",
            PINK,
            Dash::Solid,
            Marker::Diamond,
            |s| Some(s.output_tokens_per_second),
            |s| rate_ci(s, |c| c.output_tokens_per_second),
        ),
    ],
};

static KNEE: LinePanel = LinePanel {
    title: "Knee plot: latency vs. throughput (lower latency + higher throughput is better)",
    note: "TTFT against total tokens per second, one point per benchmark; where TTFT turns up \
           steeply the engine is saturated (GuideLLM's panel 4); whiskers: confidence \
           intervals.",
    x: XAxis::Linear,
    y_log: true,
    x_label: "throughput (total tokens/s)",
    y_label: "TTFT (ms, log scale)",
    x_value: total_tps,
    x_header: "total tok/s",
    order: total_tps,
    lines: &[
        line_ci(
            "TTFT p95",
            RED,
            Dash::Solid,
            Marker::Circle,
            |s| p95(&s.ttft_ms),
            |s| ci_of(&s.ttft_ms, |c| c.p95),
        ),
        line_ci(
            "TTFT median",
            BLUE,
            Dash::Solid,
            Marker::Square,
            |s| median(&s.ttft_ms),
            |s| ci_of(&s.ttft_ms, |c| c.p50),
        ),
    ],
};

static EFFICIENCY: LinePanel = LinePanel {
    title: "Throughput efficiency vs. concurrency (higher is better)",
    note: "Total tokens per second per request in flight (GuideLLM's panel 7).",
    x: XAxis::Log,
    y_log: false,
    x_label: "concurrency (requests in flight, log scale)",
    y_label: "total tokens/s per request in flight",
    x_value: concurrency,
    x_header: "concurrency",
    order: concurrency,
    lines: &[line(
        "tok/s per active request",
        GREEN,
        Dash::Solid,
        Marker::Circle,
        |s| (s.concurrency > 0.0).then(|| s.total_tokens_per_second / s.concurrency),
    )],
};

static TOKEN_MIX: LinePanel = LinePanel {
    title: "Token throughput mix vs. request rate (higher is better)",
    note: "Input and output tokens per second stacked, and their total (GuideLLM's panel 8).",
    x: XAxis::Log,
    y_log: false,
    x_label: "request rate (req/s, log scale)",
    y_label: "tokens/s",
    x_value: rate,
    x_header: "req/s",
    order: rate,
    lines: &[
        PanelLine {
            name: "output tok/s (stacked on input)",
            color: PINK,
            dash: Dash::Solid,
            marker: Marker::None,
            area: true,
            value: |s| Some(s.input_tokens_per_second + s.output_tokens_per_second),
            ci: |_| None,
        },
        PanelLine {
            name: "input tok/s",
            color: BLUE,
            dash: Dash::Solid,
            marker: Marker::None,
            area: true,
            value: |s| Some(s.input_tokens_per_second),
            ci: |_| None,
        },
        line("total tok/s", ORANGE, Dash::Solid, Marker::None, |s| {
            Some(s.total_tokens_per_second)
        }),
    ],
};

/// Benchmarks grouped by model, in order of first appearance; each group sorted by `key`
/// (benchmarks whose key is not finite left out): a sweep runs synchronous, throughput, then
/// the constant rates, and its charts against rate put them in order of measured rate.
fn by_model<'b, 'a>(
    benches: &'b [Bench<'a>],
    key: fn(&Summary) -> f64,
) -> Vec<(&'a str, Vec<&'b Bench<'a>>)> {
    let mut groups: Vec<(&str, Vec<&Bench>)> = Vec::new();
    for b in benches.iter().filter(|b| key(&b.b.summary).is_finite()) {
        match groups.iter_mut().find(|(m, _)| *m == b.b.model) {
            Some((_, g)) => g.push(b),
            None => groups.push((&b.b.model, vec![b])),
        }
    }
    for (_, g) in &mut groups {
        g.sort_by(|x, y| key(&x.b.summary).total_cmp(&key(&y.b.summary)));
    }
    groups
}

fn line_panel(
    id: &'static str,
    p: &LinePanel,
    benches: &[Bench],
) -> Result<Option<Figure>, String> {
    let groups = by_model(benches, p.order);
    let many = groups.len() > 1;
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (i, (model, group)) in groups.iter().enumerate() {
        for l in p.lines {
            let points: Vec<(f64, f64)> = group
                .iter()
                .filter_map(|b| Some(((p.x_value)(&b.b.summary), (l.value)(&b.b.summary)?)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if points.is_empty() {
                continue;
            }
            let (label, color) = match many {
                true => (
                    format!("{} {}", cut(model, 40), l.name),
                    PALETTE[i % PALETTE.len()],
                ),
                false => (l.name.to_string(), l.color),
            };
            let bar = |b: &&Bench| {
                let s = &b.b.summary;
                (l.value)(s)?;
                (l.ci)(s).map(|i| ((p.x_value)(s), i.lo, i.hi))
            };
            let errors = group.iter().filter_map(bar).collect();
            series.push(
                Series {
                    marker: l.marker,
                    area: l.area,
                    ..Series::line(label, color, l.dash, points)
                }
                .with_errors(errors),
            );
        }
        for b in group {
            let s = &b.b.summary;
            let mut row = vec![b.label.clone(), fmt((p.x_value)(s))];
            row.extend(p.lines.iter().map(|l| fmt_ci((l.value)(s), (l.ci)(s))));
            rows.push(row);
        }
    }
    let drawable = |s: &Series| {
        s.points
            .iter()
            .any(|&(x, y)| (p.x != XAxis::Log || x > 0.0) && (!p.y_log || y > 0.0))
    };
    if !series.iter().any(drawable) {
        return Ok(None);
    }
    let svg = line_chart(&LineChart {
        x: p.x,
        x_label: p.x_label,
        y_label: p.y_label,
        series: &series,
        y_log: p.y_log,
    })?;
    let mut headers = vec!["benchmark", p.x_header];
    headers.extend(p.lines.iter().map(|l| l.name));
    Ok(Some(Figure {
        id,
        title: p.title.to_string(),
        note: p.note,
        svg,
        svg_title: p.title.to_string(),
        legend: legend(&series),
        tables: vec![Table::new(&headers, rows, 1)],
        details: None,
    }))
}

fn bar_legend(groups: &[BarGroup]) -> Vec<LegendItem> {
    groups
        .iter()
        .map(|g| LegendItem {
            label: g.label.clone(),
            color: g.color.hex(),
            dash: None,
            bar: true,
        })
        .collect()
}

/// Successful, incomplete and errored requests per benchmark, stacked, in order of concurrency
/// (GuideLLM's panel 5).
fn status_counts(id: &'static str, benches: &[Bench]) -> Result<Option<Figure>, String> {
    let mut sorted: Vec<&Bench> = benches.iter().collect();
    sorted.sort_by(|x, y| x.b.summary.concurrency.total_cmp(&y.b.summary.concurrency));
    if sorted.is_empty() {
        return Ok(None);
    }
    let counts = |f: fn(&crate::metrics::Counts) -> u64| -> Vec<f64> {
        sorted
            .iter()
            .map(|b| f(&b.b.summary.requests) as f64)
            .collect()
    };
    let groups = [
        BarGroup {
            label: "successful".into(),
            color: BLUE,
            values: counts(|c| c.successful),
        },
        BarGroup {
            label: "incomplete".into(),
            color: ORANGE,
            values: counts(|c| c.incomplete),
        },
        BarGroup {
            label: "errored".into(),
            color: RED,
            values: counts(|c| c.errored),
        },
    ];
    let categories: Vec<String> = sorted
        .iter()
        .map(|b| fmt_short(b.b.summary.concurrency))
        .collect();
    let svg = bar_chart(&BarChart {
        categories: &categories,
        groups: &groups,
        stacked: true,
        y_log: false,
        x_label: "concurrency (requests in flight)",
        y_label: "requests",
    })?;
    let rows = sorted
        .iter()
        .zip(&categories)
        .map(|(b, c)| {
            let r = &b.b.summary.requests;
            let total = r.successful + r.incomplete + r.errored;
            vec![
                b.label.clone(),
                c.clone(),
                r.successful.to_string(),
                r.incomplete.to_string(),
                r.errored.to_string(),
                total.to_string(),
            ]
        })
        .collect();
    let headers = [
        "benchmark",
        "concurrency",
        "successful",
        "incomplete",
        "errored",
        "total",
    ];
    Ok(Some(Figure {
        id,
        title: "Request status counts vs. concurrency (more complete is better)".into(),
        note: "Requests of each status in the measurement window, one bar per benchmark \
               (GuideLLM's panel 5).",
        svg,
        svg_title: "Request status counts".into(),
        legend: bar_legend(&groups),
        tables: vec![Table::new(&headers, rows, 1)],
        details: None,
    }))
}

/// The latency components of the benchmark with the highest total token throughput: median
/// and p95 side by side (GuideLLM's panel 6, less its TTFOT, which llmbench does not measure).
fn latency_breakdown(id: &'static str, benches: &[Bench]) -> Result<Option<Figure>, String> {
    let Some(peak) = benches
        .iter()
        .filter(|b| b.b.summary.total_tokens_per_second.is_finite())
        .max_by(|x, y| total_tps(&x.b.summary).total_cmp(&total_tps(&y.b.summary)))
    else {
        return Ok(None);
    };
    let s = &peak.b.summary;
    type Metric = fn(&Summary) -> &Distribution;
    let parts: [(&str, Metric); 4] = [
        ("TTFT", |s| &s.ttft_ms),
        ("ITL", |s| &s.tpot_ms),
        ("TPOT", |s| &s.tpot_incl_ttft_ms),
        ("E2E", |s| &s.request_latency_ms),
    ];
    if parts.iter().all(|(_, d)| d(s).count == 0) {
        return Ok(None);
    }
    let categories: Vec<String> = parts.iter().map(|(n, _)| n.to_string()).collect();
    let values = |f: fn(&Distribution) -> Option<f64>| -> Vec<f64> {
        parts.iter().map(|(_, d)| f(d(s)).unwrap_or(0.0)).collect()
    };
    let groups = [
        BarGroup {
            label: "median".into(),
            color: BLUE,
            values: values(median),
        },
        BarGroup {
            label: "p95".into(),
            color: RED,
            values: values(p95),
        },
    ];
    let x_label = format!(
        "latency component, benchmark {} ({} total tok/s)",
        peak.label,
        fmt(s.total_tokens_per_second)
    );
    let svg = bar_chart(&BarChart {
        categories: &categories,
        groups: &groups,
        stacked: false,
        y_log: true,
        x_label: &x_label,
        y_label: "ms (log scale)",
    })?;
    let rows = parts
        .iter()
        .map(|(n, d)| vec![n.to_string(), fmt_opt(median(d(s))), fmt_opt(p95(d(s)))])
        .collect();
    Ok(Some(Figure {
        id,
        title: "Latency breakdown at peak throughput (lower is better)".into(),
        note: "The benchmark with the highest total tokens per second: ITL and TPOT by GuideLLM's \
               definitions (see the TPOT & ITL chart); log scale (GuideLLM's panel 6).",
        svg,
        svg_title: "Latency breakdown at peak throughput".into(),
        legend: bar_legend(&groups),
        tables: vec![Table::new(
            &[peak.label.as_str(), "median ms", "p95 ms"],
            rows,
            1,
        )],
        details: None,
    }))
}

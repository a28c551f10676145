//! The page's charts. `CHARTS` is the one list of them, in page order: each chart's id (the id
//! of its `<section>`), its name (for the note on charts a report has no data for) and what it
//! draws. Drawing is `render::charts`; this module picks the numbers and writes the tables
//! shown beside each chart.

use super::text::{cut, fmt, fmt_opt};
use super::{Bench, Table, MAX_POINTS, TABLE_POINTS};
use crate::metrics::{Distribution, Stages, Summary};
use crate::render::charts::{
    downsample, line_chart, stacked_bars, Dash, LineChart, Rgb, Series, StackedBars, Svg, XAxis,
    PALETTE,
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
}

/// The charts, in page order.
pub static CHARTS: [ChartDef; 10] = [
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
            title: "Inter-token latency (ITL)",
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
        id: "chart-sweep-ttft",
        name: "TTFT against request rate",
        kind: Kind::AgainstRate(&RATE_TTFT),
    },
    ChartDef {
        id: "chart-sweep-itl",
        name: "ITL against request rate",
        kind: Kind::AgainstRate(&RATE_ITL),
    },
    ChartDef {
        id: "chart-sweep-throughput",
        name: "throughput against request rate",
        kind: Kind::AgainstRate(&RATE_THROUGHPUT),
    },
    ChartDef {
        id: "chart-stages",
        name: "where the time went",
        kind: Kind::Stages,
    },
];

/// A drawn chart with its legend and its numbers, as the template shows it.
pub(super) struct Figure {
    pub(super) id: &'static str,
    pub(super) title: String,
    pub(super) note: &'static str,
    pub(super) svg: Svg,
    /// The SVG's accessible name.
    pub(super) svg_title: String,
    pub(super) legend: Vec<LegendItem>,
    pub(super) tables: Vec<Table>,
    /// A longer table, folded.
    pub(super) details: Option<Details>,
}

pub(super) struct LegendItem {
    pub(super) label: String,
    pub(super) color: String,
    pub(super) dash: Option<&'static str>,
    /// A colour box (bar charts) rather than a line.
    pub(super) bar: bool,
}

pub(super) struct Details {
    pub(super) summary: String,
    pub(super) table: Table,
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
            bar: false,
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
        let column = [d.count.to_string(), fmt(d.mean)];
        let column = column.into_iter().chain(values.iter().map(|v| fmt_opt(*v)));
        for (row, cell) in rows.iter_mut().zip(column) {
            row.push(cell);
        }
        let points = PCTS
            .iter()
            .zip(&values)
            .filter_map(|((q, _, _), v)| Some((*q, (*v)?)));
        series.push(Series {
            label: b.label.clone(),
            color: b.color,
            dash: b.dash,
            points: points.collect(),
            markers: true,
        });
    }
    if series.is_empty() {
        return Ok(None);
    }
    let svg = line_chart(&LineChart {
        x: XAxis::Percentile,
        x_label: "percentile (log scale: p90, p99, p99.9 equally far apart)",
        y_label: "ms",
        series: &series,
    })?;
    let mut headers = vec!["ms"];
    headers.extend(series.iter().map(|s| s.label.as_str()));
    Ok(Some(Figure {
        id,
        title: format!("{title} distribution (ms)"),
        note: "Percentiles over the measurement window, one line per benchmark.",
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
            series.push(Series {
                label,
                color: b.color,
                dash: if many { line.dash } else { b.dash },
                points: downsample(raw, MAX_POINTS),
                markers: false,
            });
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
    /// Shown in the table only.
    more: &'static [RateStat],
}

struct RateStat {
    /// In the legend, after the model.
    name: &'static str,
    header: &'static str,
    dash: Dash,
    value: fn(&Summary) -> Option<f64>,
}

fn median(d: &Distribution) -> Option<f64> {
    (d.count > 0).then_some(d.median)
}

fn p99(d: &Distribution) -> Option<f64> {
    (d.count > 0).then_some(d.p99)
}

static RATE_TTFT: RateChart = RateChart {
    title: "TTFT against request rate (ms)",
    svg_title: "TTFT against request rate",
    note: "One point per benchmark, per model; solid: median, dashed: p99.",
    y_label: "ms",
    lines: &[
        RateStat {
            name: "median",
            header: "median ms",
            dash: Dash::Solid,
            value: |s| median(&s.ttft_ms),
        },
        RateStat {
            name: "p99",
            header: "p99 ms",
            dash: Dash::Dashed,
            value: |s| p99(&s.ttft_ms),
        },
    ],
    more: &[],
};

static RATE_ITL: RateChart = RateChart {
    title: "ITL against request rate (ms)",
    svg_title: "ITL against request rate",
    note: "One point per benchmark, per model; solid: median, dashed: p99.",
    y_label: "ms",
    lines: &[
        RateStat {
            name: "median",
            header: "median ms",
            dash: Dash::Solid,
            value: |s| median(&s.itl_ms),
        },
        RateStat {
            name: "p99",
            header: "p99 ms",
            dash: Dash::Dashed,
            value: |s| p99(&s.itl_ms),
        },
    ],
    more: &[],
};

static RATE_THROUGHPUT: RateChart = RateChart {
    title: "Throughput against request rate",
    svg_title: "Output tokens per second against request rate",
    note: "Output tokens per second, one point per benchmark, per model.",
    y_label: "output tokens/s",
    lines: &[RateStat {
        name: "output tok/s",
        header: "out tok/s",
        dash: Dash::Solid,
        value: |s| Some(s.output_tokens_per_second),
    }],
    more: &[RateStat {
        name: "total tok/s",
        header: "total tok/s",
        dash: Dash::Solid,
        value: |s| Some(s.total_tokens_per_second),
    }],
};

/// Benchmarks grouped by model, in order of first appearance; each group in increasing order
/// of measured request rate (a sweep runs synchronous, throughput, then the constant rates).
fn by_model_by_rate<'b, 'a>(benches: &'b [Bench<'a>]) -> Vec<(&'a str, Vec<&'b Bench<'a>>)> {
    let mut groups: Vec<(&str, Vec<&Bench>)> = Vec::new();
    for b in benches
        .iter()
        .filter(|b| b.b.summary.requests_per_second.is_finite())
    {
        match groups.iter_mut().find(|(m, _)| *m == b.b.model) {
            Some((_, g)) => g.push(b),
            None => groups.push((&b.b.model, vec![b])),
        }
    }
    for (_, g) in &mut groups {
        g.sort_by(|x, y| {
            x.b.summary
                .requests_per_second
                .total_cmp(&y.b.summary.requests_per_second)
        });
    }
    groups
}

/// One statistic of one model's benchmarks (in rate order) against their rate; none if no
/// benchmark has it.
fn rate_series(model: &str, color: Rgb, stat: &RateStat, group: &[&Bench]) -> Option<Series> {
    let value = |b: &&Bench| Some((b.b.summary.requests_per_second, (stat.value)(&b.b.summary)?));
    let points: Vec<(f64, f64)> = group.iter().filter_map(value).collect();
    (!points.is_empty()).then(|| Series {
        label: format!("{} {}", cut(model, 40), stat.name),
        color,
        dash: stat.dash,
        points,
        markers: true,
    })
}

fn against_rate(
    id: &'static str,
    c: &RateChart,
    benches: &[Bench],
) -> Result<Option<Figure>, String> {
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for (i, (model, group)) in by_model_by_rate(benches).into_iter().enumerate() {
        for stat in c.lines {
            series.extend(rate_series(model, PALETTE[i % PALETTE.len()], stat, &group));
        }
        for b in group {
            let s = &b.b.summary;
            let mut row = vec![b.label.clone(), fmt(s.requests_per_second)];
            let stats = c.lines.iter().chain(c.more);
            row.extend(stats.map(|stat| fmt_opt((stat.value)(s))));
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
    })?;
    let mut headers = vec!["benchmark", "req/s"];
    headers.extend(c.lines.iter().chain(c.more).map(|s| s.header));
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

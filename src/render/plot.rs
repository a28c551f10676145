//! The `plot` output: one figure, as GuideLLM's `plot` output draws (its
//! benchmark/outputs/plot.py): its eight panels — latency, TPOT and ITL against the measured
//! request rate, token throughput against concurrency, the knee, request status counts, the
//! latency breakdown at peak throughput, throughput per request in flight, the token mix — then
//! llmbench's TTFT, ITL and latency percentile curves and output tokens per second over time.
//! Two panels a row, each with its title and legend, under one heading.
//!
//! The panels are the HTML report's charts, drawn by the same functions
//! (`html::figures::PLOT_CHARTS`), so the two never disagree. The figure is one SVG document
//! (each panel a nested `<svg>`); `.png` is that document rasterized by resvg with DejaVu Sans
//! (the `dejavu` crate) as its only font: no system font is looked up, so a bare machine draws
//! the same pixels as any other.

use super::charts::{HEIGHT, WIDTH};
use super::html;
use crate::report::Report;
use anyhow::{anyhow, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// The image format of a plot, chosen by its file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    Svg,
    Png,
}

/// The extensions a plot may have, as error messages name them.
pub const EXTENSIONS: &str = ".svg or .png";

impl Image {
    /// `.svg` or `.png` (case-insensitive); anything else is not a plot llmbench can write.
    pub fn from_path(p: &Path) -> Option<Image> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "svg" => Some(Image::Svg),
            "png" => Some(Image::Png),
            _ => None,
        }
    }
}

/// Writes the figure as `image`.
pub fn write(report: &Report, image: Image, w: &mut dyn std::io::Write) -> Result<()> {
    match image {
        Image::Svg => w.write_all(svg(report).as_bytes())?,
        Image::Png => w.write_all(&png(report)?)?,
    }
    Ok(())
}

/// Space around a panel, and between the heading and the first row.
const PAD: u32 = 24;
const CELL_WIDTH: u32 = WIDTH + 2 * PAD;
const COLUMNS: u32 = 2;
const FIGURE_WIDTH: u32 = COLUMNS * CELL_WIDTH;
const HEADING: u32 = 76;
/// A panel's title and verdict lines above its chart.
const PANEL_TITLE: u32 = 48;
const LEGEND_ROW: u32 = 20;
const FONT: &str = "font-family=\"sans-serif\"";

/// The figure as one SVG document.
pub fn svg(report: &Report) -> String {
    let panels = html::plot_figures(report);
    let mut heading = String::new();
    let models: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    let sub = format!(
        "{} · {} benchmark(s) · llmbench {}{}",
        cut(&models.join(", "), 120),
        report.benchmarks.len(),
        report.llmbench_version,
        if report.partial {
            " · partial report"
        } else {
            ""
        }
    );
    text(
        &mut heading,
        (PAD, 38),
        24,
        true,
        "#000000",
        "llmbench benchmark performance",
    );
    text(&mut heading, (PAD, 62), 14, false, "#3a4150", &sub);
    if report.benchmarks.is_empty() {
        let mut body = heading;
        text(
            &mut body,
            (PAD, HEADING + 60),
            18,
            false,
            "#000000",
            "No benchmark data available",
        );
        return document(FIGURE_WIDTH, HEADING + 120, &body);
    }
    let mut body = heading;
    let mut y = HEADING;
    for (r, row) in panels.chunks(COLUMNS as usize).enumerate() {
        let legends: Vec<Vec<Vec<&html::LegendItem>>> = row
            .iter()
            .map(|(_, f)| match f {
                Ok(Some(f)) => legend_rows(&f.legend),
                _ => Vec::new(),
            })
            .collect();
        let legend_rows = legends.iter().map(Vec::len).max().unwrap_or(0) as u32;
        let height = PANEL_TITLE + HEIGHT + 8 + legend_rows * LEGEND_ROW + PAD;
        for (c, ((def, figure), legend)) in row.iter().zip(&legends).enumerate() {
            let n = r * COLUMNS as usize + c + 1;
            let x = c as u32 * CELL_WIDTH + PAD;
            panel(&mut body, (x, y), n, def.name, figure, legend);
        }
        y += height;
    }
    document(FIGURE_WIDTH, y, &body)
}

/// One panel at `(x, y)`: its numbered title, its chart (or why there is none), its legend.
fn panel(
    out: &mut String,
    (x, y): (u32, u32),
    n: usize,
    name: &str,
    figure: &Result<Option<html::Figure>, String>,
    legend: &[Vec<&html::LegendItem>],
) {
    let f = match figure {
        Ok(Some(f)) => f,
        Ok(None) | Err(_) => {
            let why = match figure {
                Err(e) => format!("{name}: drawing failed: {e}"),
                _ => format!("{name}: no data in this report"),
            };
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#f4f5f7\" stroke=\"#cccccc\"/>",
                y + PANEL_TITLE
            );
            text(
                out,
                (x + 16, y + PANEL_TITLE + 30),
                14,
                false,
                "#5a6270",
                &why,
            );
            return;
        }
    };
    // "Title (verdict)" as GuideLLM writes it: the title, bold, the verdict on a line below.
    let (title, verdict) = match f.title.rsplit_once(" (") {
        Some((t, v)) if v.ends_with("better)") => (t.to_string(), format!("({v}")),
        _ => (f.title.clone(), String::new()),
    };
    text(
        out,
        (x, y + 20),
        16,
        true,
        "#000000",
        &format!("{n}. {title}"),
    );
    text(out, (x, y + 40), 13, false, "#3a4150", &verdict);
    let _ = write!(
        out,
        "<svg x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\">{}</svg>",
        y + PANEL_TITLE,
        f.svg.width,
        f.svg.height,
        f.svg.width,
        f.svg.height,
        f.svg.body()
    );
    let mut ly = y + PANEL_TITLE + f.svg.height + 8 + LEGEND_ROW / 2;
    for row in legend {
        let mut lx = x + 70;
        for item in row {
            swatch(out, (lx, ly), item);
            text(out, (lx + 32, ly + 4), 12, false, "#3a4150", &item.label);
            lx += legend_width(item);
        }
        ly += LEGEND_ROW;
    }
}

/// The legend's items in rows that fit under the chart.
fn legend_rows(items: &[html::LegendItem]) -> Vec<Vec<&html::LegendItem>> {
    let mut rows: Vec<Vec<&html::LegendItem>> = Vec::new();
    let mut used = u32::MAX;
    for item in items {
        let w = legend_width(item);
        if used.saturating_add(w) > WIDTH - 70 {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(r) = rows.last_mut() {
            r.push(item);
        }
        used += w;
    }
    rows
}

/// A legend item's width: its swatch, its label (about 7 px a character at 12 px), a gap.
fn legend_width(item: &html::LegendItem) -> u32 {
    32 + 7 * item.label.chars().count().min(60) as u32 + 18
}

fn swatch(out: &mut String, (x, y): (u32, u32), item: &html::LegendItem) {
    let color = escape(&item.color);
    if item.bar {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"24\" height=\"10\" fill=\"{color}\"/>",
            y - 5
        );
    } else {
        let dash = item
            .dash
            .map(|d| format!(" stroke-dasharray=\"{d}\""))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<line x1=\"{x}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
            x + 24
        );
    }
}

fn text(out: &mut String, (x, y): (u32, u32), size: u32, bold: bool, color: &str, s: &str) {
    let weight = if bold { " font-weight=\"bold\"" } else { "" };
    let _ = write!(
        out,
        "<text x=\"{x}\" y=\"{y}\" {FONT} font-size=\"{size}\"{weight} fill=\"{color}\">{}</text>",
        escape(s)
    );
}

fn document(width: u32, height: u32, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n{body}\n</svg>\n"
    )
}

/// Text for SVG: the five XML characters escaped, control characters dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The figure rasterized: the SVG drawn by resvg at one pixel per SVG unit, as PNG.
pub fn png(report: &Report) -> Result<Vec<u8>> {
    rasterize(&svg(report))
}

/// An SVG document as PNG, its text set in the bundled DejaVu Sans.
pub fn rasterize(svg: &str) -> Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let mut fonts = usvg::fontdb::Database::new();
    for font in [dejavu::sans::regular(), dejavu::sans::bold()] {
        fonts.load_font_source(usvg::fontdb::Source::Binary(Arc::new(font)));
    }
    const FAMILY: &str = "DejaVu Sans";
    fonts.set_sans_serif_family(FAMILY);
    let options = usvg::Options {
        font_family: FAMILY.into(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| anyhow!("plot: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow!("plot: cannot allocate a {size:?} image"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| anyhow!("plot: encoding the PNG: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::fixture;

    /// Every text of the document, in order.
    fn texts(svg: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).expect("the figure is XML");
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    }

    /// Width, height and RGBA pixels of a PNG.
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!(info.color_type, png::ColorType::Rgba);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn the_figure_is_one_svg_of_numbered_panels() {
        let s = svg(&fixture());
        let doc = roxmltree::Document::parse(&s).expect("the figure is XML");
        let root = doc.root_element();
        assert!(root.has_tag_name("svg"));
        assert_eq!(
            root.attribute("width"),
            Some(FIGURE_WIDTH.to_string().as_str())
        );
        let panels = root.children().filter(|n| n.has_tag_name("svg")).count();
        assert_eq!(panels, html::PLOT_CHARTS.len(), "every panel drawn");
        let t = texts(&s);
        for want in [
            "llmbench benchmark performance",
            "1. Latency (TTFT & E2E) vs. request rate",
            "2. Generation speed (TPOT & ITL) vs. request rate",
            "3. Token throughput vs. concurrency",
            "4. Knee plot: latency vs. throughput",
            "5. Request status counts vs. concurrency",
            "6. Latency breakdown at peak throughput",
            "7. Throughput efficiency vs. concurrency",
            "8. Token throughput mix vs. request rate",
            "9. Time to first token (TTFT) distribution (ms)",
            "12. Output tokens per second over time",
            "(lower is better)",
            "TTFT median",
            "E2E p95",
            "ITL median",
        ] {
            assert!(t.iter().any(|x| x == want), "no text {want:?} in {t:?}");
        }
    }

    #[test]
    fn the_png_is_the_figure_rasterized() {
        let r = fixture();
        let (w, h, px) = decode(&png(&r).unwrap());
        let doc_height: u32 = roxmltree::Document::parse(&svg(&r))
            .unwrap()
            .root_element()
            .attribute("height")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!((w, h), (FIGURE_WIDTH, doc_height));
        let pixels: Vec<&[u8]> = px.chunks(4).collect();
        let ink = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
        assert!(
            ink > pixels.len() / 50,
            "{ink} of {} pixels drawn",
            pixels.len()
        );
        // GuideLLM's blue (TTFT) and red (E2E) lines are there, and black text.
        let near = |p: &&&[u8], c: [u8; 3]| (0..3).all(|i| p[i].abs_diff(c[i]) < 24);
        for c in [[0x00, 0x77, 0xb6], [0xd0, 0x00, 0x00], [0, 0, 0]] {
            assert!(
                pixels.iter().filter(|p| near(p, c)).count() > 200,
                "no {c:?}"
            );
        }
    }

    #[test]
    fn a_report_without_benchmarks_says_so() {
        let mut r = fixture();
        r.benchmarks.clear();
        let s = svg(&r);
        assert!(texts(&s).iter().any(|t| t == "No benchmark data available"));
        let (w, h, _) = decode(&png(&r).unwrap());
        assert_eq!((w, h), (FIGURE_WIDTH, HEADING + 120));
    }

    #[test]
    fn a_panel_without_data_is_named_and_labels_are_escaped() {
        let mut r = fixture();
        for b in &mut r.benchmarks {
            b.timeseries = Default::default();
            b.model = "<m&m>".into();
        }
        r.models[0].model = "<m&m>".into();
        let s = svg(&r);
        let t = texts(&s);
        assert!(
            t.iter()
                .any(|t| t == "output tokens over time: no data in this report"),
            "{t:?}"
        );
        assert!(t.iter().any(|t| t.starts_with("<m&m>")), "{t:?}");
        assert!(!s.contains("<m&m>"));
    }

    #[test]
    fn images_by_extension() {
        assert_eq!(Image::from_path(Path::new("a/b.SVG")), Some(Image::Svg));
        assert_eq!(Image::from_path(Path::new("b.png")), Some(Image::Png));
        assert_eq!(Image::from_path(Path::new("b.jpg")), None);
        assert_eq!(Image::from_path(Path::new("png")), None);
    }
}

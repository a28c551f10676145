//! Renderers of the report, and GuideLLM's `--outputs` list.
//!
//! Every renderer takes the typed `Report` (this run's, or one read back from disk by
//! `benchmark from-file`, which migrates older versions first: `report::migrate`). JSON and
//! YAML serialize it as it is, streamed into the file, request records one at a time, followed
//! by GuideLLM's view of it (`report::guidellm`: one file both tools load).

pub mod charts;
pub mod console;
pub mod csv;
pub mod guidellm_csv;
pub mod html;
pub mod plot;
pub mod yaml;

use crate::report::guidellm::WithGuideLlm;
use crate::report::Report;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// GuideLLM's default `--outputs`.
pub const DEFAULT_OUTPUTS: &str = "json,csv";

/// One output format of `--outputs` (and of GuideLLM 0.8's `--output kind=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Yaml,
    /// llmbench's CSV: each column headed by the JSON path of its value (`render::csv`).
    Csv,
    /// The CSV with GuideLLM's human-readable headers ("Time to First Token" / "Successful ms"
    /// / "Mean") and its column layout (`render::guidellm_csv`).
    GuidellmCsv,
    Html,
    /// GuideLLM's plot: one figure of panels, `.svg` or `.png` by its file's extension
    /// (`render::plot`; without a file name, `benchmarks.png`).
    Plot,
    /// The end-of-run tables on stdout (the caller prints them; nothing is written).
    Console,
}

impl Format {
    /// The name `--outputs` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Csv => "csv",
            Format::GuidellmCsv => "guidellm-csv",
            Format::Html => "html",
            Format::Plot => "plot",
            Format::Console => "console",
        }
    }

    /// The default file name in the output directory (`None` for the console).
    pub fn default_file(self) -> Option<&'static str> {
        match self {
            Format::Json => Some("benchmarks.json"),
            Format::Yaml => Some("benchmarks.yaml"),
            Format::Csv => Some("benchmarks.csv"),
            Format::GuidellmCsv => Some("benchmarks-guidellm.csv"),
            Format::Html => Some("benchmarks.html"),
            Format::Plot => Some("benchmarks.png"),
            Format::Console => None,
        }
    }

    /// A bare format name (`yml` is YAML), case-insensitive.
    pub fn from_name(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            "csv" => Some(Format::Csv),
            "guidellm-csv" => Some(Format::GuidellmCsv),
            "html" => Some(Format::Html),
            "plot" => Some(Format::Plot),
            "console" => Some(Format::Console),
            _ => None,
        }
    }

    /// The format a file name's extension picks (`.htm` is HTML too, `.svg` and `.png` a plot),
    /// case-insensitive.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            "csv" => Some(Format::Csv),
            "html" | "htm" => Some(Format::Html),
            "svg" | "png" => Some(Format::Plot),
            _ => None,
        }
    }

    /// Whether this format can be written to `path`: a plot must end in .svg or .png (its
    /// extension picks the image format); any other format takes any name. The error is one
    /// sentence naming the valid extensions.
    pub fn check_path(self, path: &Path) -> Result<(), String> {
        match self {
            Format::Plot if plot::Image::from_path(path).is_none() => Err(format!(
                "a plot is written as {}, not `{}`",
                plot::EXTENSIONS,
                path.display()
            )),
            _ => Ok(()),
        }
    }
}

/// Extensions of image formats GuideLLM's plot writes that llmbench does not.
const OTHER_IMAGES: [&str; 7] = ["jpg", "jpeg", "pdf", "gif", "webp", "tif", "tiff"];

/// Parses GuideLLM's `--outputs`: a comma list of `json`, `yaml` (`yml`), `csv`,
/// `guidellm-csv`, `html`, `plot`, `console`, or file names whose extension picks the format
/// (`results.csv` → CSV written to that name, `ttft.svg` → the plot as SVG). Blank entries are
/// skipped and repeated entries kept once; an unknown entry or an empty list is an error of one
/// sentence naming the valid entries.
pub fn parse_outputs(list: &str) -> Result<Vec<(Format, Option<PathBuf>)>, String> {
    const VALID: &str = "json, yaml, csv, guidellm-csv, html, plot, console, or a file name ending in .json, .yaml, .yml, .csv, .html, .svg or .png";
    let mut out: Vec<(Format, Option<PathBuf>)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let ext = Path::new(entry)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let item = if let Some(f) = Format::from_name(entry) {
            (f, None)
        } else if let Some(f) = Format::from_path(Path::new(entry)) {
            (f, Some(PathBuf::from(entry)))
        } else if ext.is_some_and(|e| OTHER_IMAGES.contains(&e.as_str())) {
            return Err(format!(
                "--outputs: `{entry}`: a plot is written as {}; valid outputs are {VALID}",
                plot::EXTENSIONS
            ));
        } else {
            return Err(format!(
                "--outputs: unknown output `{entry}`; valid outputs are {VALID}"
            ));
        };
        if !out.contains(&item) {
            out.push(item);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "--outputs: no output given; valid outputs are {VALID}"
        ));
    }
    Ok(out)
}

/// Writes the report in `format` to `w` (nothing for the console, which the caller prints; a
/// plot as PNG: `render_file` picks its image format by the file's name).
pub fn render_to(report: &Report, format: Format, w: &mut dyn std::io::Write) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &WithGuideLlm(report))?;
            w.write_all(b"\n")?;
        }
        Format::Yaml => yaml::write(&WithGuideLlm(report), w)?,
        Format::Csv => w.write_all(csv::render(report).as_bytes())?,
        Format::GuidellmCsv => w.write_all(guidellm_csv::render(report).as_bytes())?,
        Format::Html => w.write_all(html::render(report)?.as_bytes())?,
        Format::Plot => plot::write(report, plot::Image::Png, w)?,
        Format::Console => {}
    }
    Ok(())
}

/// As `render_to`, for the file `path`: a plot is SVG or PNG by its extension.
pub fn render_file(
    report: &Report,
    format: Format,
    path: &Path,
    w: &mut dyn std::io::Write,
) -> Result<()> {
    match (format, plot::Image::from_path(path)) {
        (Format::Plot, Some(image)) => plot::write(report, image, w),
        _ => render_to(report, format, w),
    }
}

/// Writes every file output into `dir` (created if missing): `benchmarks.<ext>`, or the name
/// given (relative names are taken inside `dir`, absolute ones as they are). Each file is
/// written atomically (a temp file in the same directory, then a rename), so a reader never
/// sees half a report. `Console` is skipped. Returns the paths written, in order.
pub fn write_all(
    report: &Report,
    outputs: &[(Format, Option<PathBuf>)],
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    write_with(outputs, dir, |format, path, w| {
        render_file(report, format, path, w)
    })
}

/// As `write_all`, with the caller producing each format's bytes into the (temporary) file
/// (the format, the file's final path): a large report is streamed to disk instead of being
/// built in memory first.
pub fn write_with(
    outputs: &[(Format, Option<PathBuf>)],
    dir: &Path,
    mut produce: impl FnMut(Format, &Path, &mut dyn std::io::Write) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (format, name) in outputs {
        let Some(default) = format.default_file() else {
            continue;
        };
        let path = match name {
            Some(n) if dir == Path::new(".") => n.clone(),
            Some(n) => dir.join(n),
            None => dir.join(default),
        };
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
        let result = (|| -> Result<()> {
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("writing {}", tmp.display()))?;
            let mut w = std::io::BufWriter::new(f);
            produce(*format, &path, &mut w)?;
            std::io::Write::flush(&mut w).with_context(|| format!("writing {}", tmp.display()))?;
            drop(w);
            std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        if !written.contains(&path) {
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_names_files_and_errors() {
        assert_eq!(
            parse_outputs("json,csv").unwrap(),
            vec![(Format::Json, None), (Format::Csv, None)]
        );
        assert_eq!(
            parse_outputs(" YAML , yml,console,html ").unwrap(),
            vec![
                (Format::Yaml, None),
                (Format::Console, None),
                (Format::Html, None)
            ]
        );
        assert_eq!(
            parse_outputs("results.csv,out/r.YML,report.htm").unwrap(),
            vec![
                (Format::Csv, Some("results.csv".into())),
                (Format::Yaml, Some("out/r.YML".into())),
                (Format::Html, Some("report.htm".into())),
            ]
        );
        let e = parse_outputs("json,xml").unwrap_err();
        assert!(
            e.contains("`xml`") && e.contains("json, yaml, csv, guidellm-csv, html, plot, console"),
            "{e}"
        );
        assert!(parse_outputs(" , ").is_err());
        assert!(parse_outputs("results.txt").is_err());
    }

    #[test]
    fn plots_and_guidellm_csv_by_name_and_by_extension() {
        assert_eq!(
            parse_outputs("plot,guidellm-csv,run/ttft.svg,fig.PNG").unwrap(),
            vec![
                (Format::Plot, None),
                (Format::GuidellmCsv, None),
                (Format::Plot, Some("run/ttft.svg".into())),
                (Format::Plot, Some("fig.PNG".into())),
            ]
        );
        assert_eq!(Format::Plot.default_file(), Some("benchmarks.png"));
        assert_eq!(
            Format::GuidellmCsv.default_file(),
            Some("benchmarks-guidellm.csv")
        );
        for f in [Format::Plot, Format::GuidellmCsv] {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        let e = parse_outputs("json,ttft.jpg").unwrap_err();
        assert_eq!(
            e,
            "--outputs: `ttft.jpg`: a plot is written as .svg or .png; valid outputs are json, yaml, csv, guidellm-csv, html, plot, console, or a file name ending in .json, .yaml, .yml, .csv, .html, .svg or .png"
        );
        assert!(parse_outputs("x.pdf").unwrap_err().contains(".svg or .png"));
        assert!(Format::Plot.check_path(Path::new("a.svg")).is_ok());
        assert_eq!(
            Format::Plot.check_path(Path::new("a.jpg")).unwrap_err(),
            "a plot is written as .svg or .png, not `a.jpg`"
        );
        assert!(Format::Csv.check_path(Path::new("a.txt")).is_ok());
    }

    #[test]
    fn a_plot_file_is_svg_or_png_by_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let report = crate::report::tests::fixture();
        let outs = parse_outputs("plot,a.svg,b.png,guidellm-csv").unwrap();
        let paths = write_all(&report, &outs, dir.path()).unwrap();
        let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
        assert_eq!(paths.len(), 4);
        assert!(read("benchmarks.png").starts_with(b"\x89PNG\r\n"));
        assert!(read("b.png").starts_with(b"\x89PNG\r\n"));
        assert!(read("a.svg").starts_with(b"<svg"));
        assert_eq!(
            String::from_utf8(read("benchmarks-guidellm.csv")).unwrap(),
            guidellm_csv::render(&report)
        );
    }

    #[test]
    fn write_all_writes_each_file_atomically_and_skips_console() {
        let dir = tempfile::tempdir().unwrap();
        let report = crate::report::tests::fixture();
        let outs = parse_outputs("json,yaml,csv,console,sub/mine.json").unwrap();
        let paths = write_all(&report, &outs, dir.path()).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "benchmarks.json",
                "benchmarks.yaml",
                "benchmarks.csv",
                "sub/mine.json"
            ]
        );
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("sub/mine.json")).unwrap())
                .unwrap();
        assert_eq!(back, serde_json::to_value(WithGuideLlm(&report)).unwrap());
        // No temporary files left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty());
    }
}

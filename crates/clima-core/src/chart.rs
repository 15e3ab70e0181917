//! Draws downsampled buckets as an SVG chart with plotters: one series' mean line broken at
//! gaps with a min/max band where buckets hold several readings, or several series' lines in
//! distinct colours with a legend (a comparison). Pure: plain data in, a string out.

use std::sync::Once;

use clima_model::downsample::Bucket;
use clima_model::{Millis, DAY, HOUR, MINUTE};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle as PlottersFontStyle};

/// DejaVu Sans (fonts-dejavu-core, Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
/// Plotters measures text with it, so the layout is the same on a machine with no fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Smallest and largest chart the renderer accepts, in pixels.
pub const MIN_SIZE: (u32, u32) = (160, 100);
pub const MAX_SIZE: (u32, u32) = (4096, 2160);

/// Colours readable on both a light and a dark page: the background stays transparent.
const INK: RGBColor = RGBColor(0x8a, 0x90, 0x99);
const GRID: RGBAColor = RGBAColor(0x8a, 0x90, 0x99, 0.25);
/// The mean line; tests find it by this colour.
pub const LINE: RGBColor = RGBColor(0x1f, 0x7a, 0xe0);
const BAND: RGBAColor = RGBAColor(0x1f, 0x7a, 0xe0, 0.22);
/// The lines of a comparison, in order: mid-tone hues that stand out on a light page and on a
/// dark one alike (the chart's background is transparent), the first the single chart's blue.
pub const PALETTE: [RGBColor; 8] = [
    LINE,
    RGBColor(0xe0, 0x6c, 0x1f),
    RGBColor(0x2e, 0xa0, 0x4f),
    RGBColor(0xc2, 0x3f, 0xbf),
    RGBColor(0xc9, 0x9a, 0x00),
    RGBColor(0x13, 0xa3, 0xb5),
    RGBColor(0xe0, 0x40, 0x5e),
    RGBColor(0x86, 0x6c, 0xf0),
];
/// Height of one legend row, pixels.
const LEGEND_ROW: u32 = 18;

/// Left and right margin, the y label column, the top margin (holds the unit) and x label row.
const MARGIN_SIDE: u32 = 12;
const MARGIN_TOP: u32 = 22;
const Y_LABELS: u32 = 48;
const X_LABELS: u32 = 24;
/// Pixels between time labels, at least.
const X_LABEL_SPACING: i64 = 90;

/// Temperature unit to show; other metrics are drawn in their own unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TempUnit {
    #[default]
    Celsius,
    Fahrenheit,
}

impl TempUnit {
    /// `C` or `F` (any case), as the `unit` query parameter spells it.
    pub fn parse(s: &str) -> Result<Self, ChartError> {
        match s {
            "C" | "c" => Ok(TempUnit::Celsius),
            "F" | "f" => Ok(TempUnit::Fahrenheit),
            other => Err(ChartError::Unit(other.to_owned())),
        }
    }
}

/// How dates on the time axis are written: the only words a chart draws (times are `14:30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateStyle {
    /// `26 Nov`, for English.
    #[default]
    DayMonth,
    /// `11/26`, as Japanese writes month and day (digits only, which the embedded font has).
    MonthDay,
}

impl DateStyle {
    /// The style for a page's language (`lang`, a BCP 47 tag such as `ja` or `en-GB`); English
    /// for any language the dashboard does not speak.
    pub fn for_language(lang: &str) -> DateStyle {
        let primary = lang.split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("ja") {
            DateStyle::MonthDay
        } else {
            DateStyle::DayMonth
        }
    }
}

/// How to draw a chart.
#[derive(Debug, Clone)]
pub struct ChartSpec {
    pub width: u32,
    pub height: u32,
    /// The series' unit as stored (`°C`, `%`, ...), if it has one.
    pub unit: Option<String>,
    /// Shows `°C` series in °F.
    pub temp_unit: TempUnit,
    /// Width of each bucket (the buckets' spacing), ms.
    pub bucket_ms: Millis,
    /// The viewer's offset from UTC, seconds east, for the time labels.
    pub utc_offset_s: i32,
    /// How the time labels write dates, in the viewer's language.
    pub dates: DateStyle,
    /// A heading above the plot (exported charts carry one; the dashboard has its own).
    pub title: Option<String>,
}

impl ChartSpec {
    /// An exported chart: titled, in UTC, the size of a report figure.
    pub fn for_export(sensor: &str, metric: &str, bucket_ms: Millis) -> ChartSpec {
        ChartSpec {
            width: 1200,
            height: 500,
            unit: clima_model::metric::unit_of(metric).map(str::to_owned),
            temp_unit: TempUnit::Celsius,
            bucket_ms,
            utc_offset_s: 0,
            dates: DateStyle::DayMonth,
            title: Some(format!("{sensor} · {metric} (times in UTC)")),
        }
    }
}

/// Where the data is drawn inside the image, so a page can map the pointer to a bucket: x runs
/// linearly from the first bucket's start at `left` to the last bucket's end at `left + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PlotArea {
    pub left: i32,
    pub top: i32,
    pub width: i32,
    pub height: i32,
}

/// A rendered chart.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    pub svg: String,
    pub plot: PlotArea,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// A temperature unit other than C or F.
    #[error("unit {0:?} is not C or F: pass unit=C or unit=F")]
    Unit(String),
    /// Width or height outside [`MIN_SIZE`]..[`MAX_SIZE`].
    #[error("chart size {width}x{height} is outside 160x100 to 4096x2160: pass width= and height= in pixels")]
    Size { width: u32, height: u32 },
    /// The bucket width is not positive.
    #[error("bucket width must be positive")]
    BucketWidth,
    /// plotters failed (it should not with the SVG backend).
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

/// Converts a `°C` series to °F when asked; returns the buckets and the unit label to show.
pub fn convert(
    buckets: &[Bucket],
    unit: Option<&str>,
    to: TempUnit,
) -> (Vec<Bucket>, Option<String>) {
    if unit == Some("°C") && to == TempUnit::Fahrenheit {
        let f = |c: Option<f64>| c.map(|c| c * 9.0 / 5.0 + 32.0);
        let converted = buckets
            .iter()
            .map(|b| Bucket {
                mean: f(b.mean),
                min: f(b.min),
                max: f(b.max),
                ..b.clone()
            })
            .collect();
        (converted, Some("°F".into()))
    } else {
        (buckets.to_vec(), unit.map(str::to_owned))
    }
}

/// The non-empty buckets, cut where the series went silent: each run is drawn as one unbroken
/// line. Silent means a pause longer than three of the series' usual spacing (the median time
/// between neighbouring non-empty buckets), so a sensor that reports once a minute draws a line
/// on a chart of 10-second buckets, and an outage still shows as a gap.
pub fn runs(buckets: &[Bucket]) -> Vec<Vec<&Bucket>> {
    let full: Vec<&Bucket> = buckets
        .iter()
        .filter(|b| b.count > 0 && b.mean.is_some())
        .collect();
    let mut spacing: Vec<Millis> = full.windows(2).map(|w| w[1].t - w[0].t).collect();
    spacing.sort_unstable();
    let limit = spacing
        .get(spacing.len() / 2)
        .map_or(0, |median| 3 * median);
    let mut runs: Vec<Vec<&Bucket>> = Vec::new();
    for b in full {
        match runs.last_mut() {
            Some(run) if b.t - run.last().map_or(b.t, |p| p.t) <= limit => run.push(b),
            _ => runs.push(vec![b]),
        }
    }
    runs
}

/// One series of a comparison: its legend label and its buckets (all on the same plan).
#[derive(Debug, Clone)]
pub struct Labelled {
    pub label: String,
    pub buckets: Vec<Bucket>,
}

/// Draws the buckets (as returned by the store for one series) into an SVG.
pub fn render(buckets: &[Bucket], spec: &ChartSpec) -> Result<Chart, ChartError> {
    render_frame(&Frame::new(&[Line::single(buckets)], spec)?, spec)
}

/// Draws several series of one metric on one chart, each in its colour of [`PALETTE`] with a
/// legend entry, on a y range that holds them all; gaps break each line as on a single chart.
pub fn render_compare(series: &[Labelled], spec: &ChartSpec) -> Result<Chart, ChartError> {
    render_frame(&Frame::new(&Line::compared(series), spec)?, spec)
}

/// [`render_compare`] as a PNG image on white.
pub fn render_compare_png(series: &[Labelled], spec: &ChartSpec) -> Result<Vec<u8>, ChartError> {
    png_of(&Frame::new(&Line::compared(series), spec)?, spec)
}

fn render_frame(frame: &Frame, spec: &ChartSpec) -> Result<Chart, ChartError> {
    let mut svg = String::new();
    let plot = draw(
        SVGBackend::with_string(&mut svg, (spec.width, spec.height)).into_drawing_area(),
        frame,
    )?;
    Ok(Chart { svg, plot })
}

/// The same chart as a PNG image, on white, with the same embedded font.
pub fn render_png(buckets: &[Bucket], spec: &ChartSpec) -> Result<Vec<u8>, ChartError> {
    png_of(&Frame::new(&[Line::single(buckets)], spec)?, spec)
}

fn png_of(frame: &Frame, spec: &ChartSpec) -> Result<Vec<u8>, ChartError> {
    let (w, h) = (spec.width, spec.height);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| ChartError::Draw(e.to_string()))?;
        draw(root, frame)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| ChartError::Draw(e.to_string());
    encoder
        .write_header()
        .and_then(|mut wr| wr.write_image_data(&rgb))
        .map_err(png_err)?;
    Ok(out)
}

/// One line of a chart, before unit conversion.
struct Line<'a> {
    /// The legend entry; a single chart has none.
    label: Option<&'a str>,
    buckets: &'a [Bucket],
    colour: RGBColor,
    /// Whether the min/max band is drawn (a single chart's; bands of several would hide
    /// each other).
    band: bool,
}

impl<'a> Line<'a> {
    fn single(buckets: &'a [Bucket]) -> Self {
        Line {
            label: None,
            buckets,
            colour: LINE,
            band: true,
        }
    }

    fn compared(series: &'a [Labelled]) -> Vec<Self> {
        series
            .iter()
            .zip(PALETTE.iter().cycle())
            .map(|(s, colour)| Line {
                label: Some(&s.label),
                buckets: &s.buckets,
                colour: *colour,
                band: false,
            })
            .collect()
    }
}

/// A line converted to the unit shown.
struct Drawn {
    label: Option<String>,
    buckets: Vec<Bucket>,
    colour: RGBColor,
    band: bool,
}

/// What one chart shows, worked out once for any backend.
struct Frame {
    lines: Vec<Drawn>,
    unit: Option<String>,
    title: Option<String>,
    x_from: Millis,
    x_to: Millis,
    y_min: f64,
    y_max: f64,
    decimals: usize,
    half: Millis,
    utc_offset_s: i32,
    dates: DateStyle,
}

impl Frame {
    fn new(lines: &[Line], spec: &ChartSpec) -> Result<Frame, ChartError> {
        let (w, h) = (spec.width, spec.height);
        if !(MIN_SIZE.0..=MAX_SIZE.0).contains(&w) || !(MIN_SIZE.1..=MAX_SIZE.1).contains(&h) {
            return Err(ChartError::Size {
                width: w,
                height: h,
            });
        }
        if spec.bucket_ms <= 0 {
            return Err(ChartError::BucketWidth);
        }
        register_embedded_font();
        let mut unit = spec.unit.clone();
        let lines: Vec<Drawn> = lines
            .iter()
            .map(|l| {
                let (buckets, shown) = convert(l.buckets, spec.unit.as_deref(), spec.temp_unit);
                unit = shown;
                Drawn {
                    label: l.label.map(str::to_owned),
                    buckets,
                    colour: l.colour,
                    band: l.band,
                }
            })
            .collect();
        let half = spec.bucket_ms / 2;
        // Every series of a chart is on the same plan; the longest says where it runs.
        let longest = lines
            .iter()
            .map(|l| &l.buckets)
            .max_by_key(|b| b.len())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let x_from = longest.first().map_or(0, |b| b.t);
        let x_to = longest
            .last()
            .map_or(spec.bucket_ms, |b| b.t + spec.bucket_ms);
        let all: Vec<Bucket> = lines.iter().flat_map(|l| l.buckets.clone()).collect();
        let (y_min, y_max) = y_range(&all, unit.as_deref());
        let decimals = decimals_for(y_max - y_min);

        Ok(Frame {
            lines,
            unit,
            title: spec.title.clone(),
            x_from,
            x_to,
            y_min,
            y_max,
            decimals,
            half,
            utc_offset_s: spec.utc_offset_s,
            dates: spec.dates,
        })
    }
}

/// Draws a frame on any plotters backend; returns where the data sits.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    f: &Frame,
) -> Result<PlotArea, ChartError> {
    let Frame {
        lines,
        unit,
        x_from,
        x_to,
        y_min,
        y_max,
        decimals,
        half,
        ..
    } = f;
    let (x_from, x_to, y_min, y_max, decimals, half) =
        (*x_from, *x_to, *y_min, *y_max, *decimals, *half);
    let plot;
    {
        let draw_err = |e: &dyn std::fmt::Display| ChartError::Draw(e.to_string());
        let label = (FAMILY, 14).into_font().color(&INK);
        let legend = legend_layout(&root, lines, &label);
        let legend_rows = legend.iter().map(|e| e.row + 1).max().unwrap_or(0);
        let title_top = if f.title.is_some() { 24 } else { 0 };
        let mut chart = ChartBuilder::on(&root)
            .margin_top(MARGIN_TOP + title_top + legend_rows * LEGEND_ROW)
            .margin_left(MARGIN_SIDE)
            .margin_right(MARGIN_SIDE)
            .margin_bottom(4)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(TimeAxis(x_from, x_to), y_min..y_max)
            .map_err(|e| draw_err(&e))?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        plot = PlotArea {
            left: xs.start,
            top: ys.start,
            width: xs.end - xs.start,
            height: ys.end - ys.start,
        };

        let y_fmt = |v: &f64| format!("{v:.decimals$}");
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_labels(5)
            .y_label_formatter(&y_fmt)
            .y_label_style(label.clone())
            .axis_style(INK)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(|e| draw_err(&e))?;

        // Time labels at round local times, with their grid lines.
        let px_per_ms = plot.width.max(1) as f64 / (x_to - x_from) as f64;
        let ticks = time_ticks(x_from, x_to, px_per_ms, f.utc_offset_s, f.dates);
        chart
            .draw_series(
                ticks
                    .iter()
                    .map(|(t, _)| PathElement::new(vec![(*t, y_min), (*t, y_max)], GRID)),
            )
            .map_err(|e| draw_err(&e))?;
        let label_top = plot.top + plot.height + 6;
        for (t, text) in &ticks {
            let (x, _) = chart.backend_coord(&(*t, y_min));
            let style = label.clone().pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(text.clone(), (x, label_top), style))
                .map_err(|e| draw_err(&e))?;
        }
        if let Some(title) = &f.title {
            let style = (FAMILY, 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Top));
            root.draw(&Text::new(title.clone(), (plot.left, 6), style))
                .map_err(|e| draw_err(&e))?;
        }
        if let Some(unit) = &unit {
            let style = label.clone().pos(Pos::new(HPos::Right, VPos::Top));
            let top = if f.title.is_some() { plot.top - 18 } else { 4 };
            root.draw(&Text::new(unit.clone(), (plot.left - 6, top), style))
                .map_err(|e| draw_err(&e))?;
        }
        // The legend: a swatch of each line's colour, then its label, in rows above the plot.
        let legend_top = 4 + title_top as i32;
        for e in &legend {
            let y = legend_top + (e.row * LEGEND_ROW) as i32;
            let x = plot.left + e.x;
            let colour = lines[e.line].colour;
            root.draw(&Rectangle::new(
                [(x, y + 5), (x + LEGEND_SWATCH, y + 9)],
                colour.filled(),
            ))
            .map_err(|e| draw_err(&e))?;
            let style = label.clone().pos(Pos::new(HPos::Left, VPos::Top));
            root.draw(&Text::new(
                e.text.clone(),
                (x + LEGEND_SWATCH + 4, y),
                style,
            ))
            .map_err(|e| draw_err(&e))?;
        }

        let all_runs: Vec<(&Drawn, Vec<Vec<&Bucket>>)> =
            lines.iter().map(|l| (l, runs(&l.buckets))).collect();
        if all_runs.iter().all(|(_, r)| r.is_empty()) {
            let style = (FAMILY, 16)
                .into_font()
                .color(&INK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(
                "No readings in this range",
                (plot.left + plot.width / 2, plot.top + plot.height / 2),
                style,
            ))
            .map_err(|e| draw_err(&e))?;
        }
        // Bands first, so the lines stay on top.
        for (line, runs) in &all_runs {
            for run in runs.iter().filter(|_| line.band) {
                if let Some(points) = band(run, half) {
                    chart
                        .draw_series(std::iter::once(Polygon::new(points, BAND.filled())))
                        .map_err(|e| draw_err(&e))?;
                }
            }
        }
        for (line, runs) in &all_runs {
            for run in runs {
                let points: Vec<(Millis, f64)> = run
                    .iter()
                    .filter_map(|b| Some((b.t + half, b.mean?)))
                    .collect();
                if let [single] = points[..] {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            single,
                            3,
                            line.colour.filled(),
                        )))
                        .map_err(|e| draw_err(&e))?;
                } else {
                    chart
                        .draw_series(LineSeries::new(points, line.colour.stroke_width(2)))
                        .map_err(|e| draw_err(&e))?;
                }
            }
        }
        root.present().map_err(|e| draw_err(&e))?;
    }
    Ok(plot)
}

/// Width of a legend entry's colour swatch, pixels.
const LEGEND_SWATCH: i32 = 14;

/// Where one legend entry goes: its row and its x from the plot's left edge.
struct LegendEntry {
    line: usize,
    row: u32,
    x: i32,
    text: String,
}

/// Lays the labelled lines' legend entries out in rows as wide as the plot (about), each entry
/// as long as its text measures in the embedded font; long labels are shortened.
fn legend_layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    lines: &[Drawn],
    font: &TextStyle,
) -> Vec<LegendEntry> {
    const MAX_CHARS: usize = 28;
    let (w, _) = root.dim_in_pixel();
    let room = w as i32 - (MARGIN_SIDE * 2 + Y_LABELS) as i32;
    let (mut row, mut x) = (0u32, 0i32);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(label) = &l.label else { continue };
        let text: String = if label.chars().count() > MAX_CHARS {
            label.chars().take(MAX_CHARS - 1).chain(['…']).collect()
        } else {
            label.clone()
        };
        let text_w = root
            .estimate_text_size(&text, font)
            .map_or(text.len() as i32 * 8, |(w, _)| w as i32);
        let width = LEGEND_SWATCH + 4 + text_w + 14;
        if x > 0 && x + width > room {
            row += 1;
            x = 0;
        }
        out.push(LegendEntry {
            line: i,
            row,
            x,
            text,
        });
        x += width;
    }
    out
}

/// The time axis: unix ms, mapped linearly. It offers plotters no key points (its integer
/// key-point search overflows on ms ranges); [`time_ticks`] places round local times instead.
struct TimeAxis(Millis, Millis);

impl plotters::coord::ranged1d::Ranged for TimeAxis {
    type FormatOption = plotters::coord::ranged1d::NoDefaultFormatting;
    type ValueType = Millis;

    fn map(&self, value: &Millis, limit: (i32, i32)) -> i32 {
        let frac = (*value - self.0) as f64 / (self.1 - self.0).max(1) as f64;
        limit.0 + (frac * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(
        &self,
        _hint: Hint,
    ) -> Vec<Millis> {
        Vec::new()
    }

    fn range(&self) -> std::ops::Range<Millis> {
        self.0..self.1
    }
}

impl plotters::coord::ranged1d::ValueFormatter<Millis> for TimeAxis {
    fn format(_: &Millis) -> String {
        String::new()
    }
}

fn register_embedded_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose text metrics.
        let _ = register_font(FAMILY, PlottersFontStyle::Normal, FONT);
    });
}

/// The outline of a run's min/max band, or `None` when no bucket in it spreads.
fn band(run: &[&Bucket], half: Millis) -> Option<Vec<(Millis, f64)>> {
    let spread = run
        .iter()
        .any(|b| b.count > 1 && matches!((b.min, b.max), (Some(lo), Some(hi)) if hi > lo));
    if !spread || run.len() < 2 {
        return None;
    }
    let lower = run.iter().filter_map(|b| Some((b.t + half, b.min?)));
    let upper: Vec<_> = run
        .iter()
        .filter_map(|b| Some((b.t + half, b.max?)))
        .collect();
    Some(lower.chain(upper.into_iter().rev()).collect())
}

/// The y range: every min and max, padded so the line never touches the frame, and at least
/// the unit's [`min_span`] tall so sensor noise on a steady series does not fill the chart.
fn y_range(buckets: &[Bucket], unit: Option<&str>) -> (f64, f64) {
    let values = buckets
        .iter()
        .flat_map(|b| [b.min, b.max, b.mean])
        .flatten();
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let grow = (min_span(unit, (lo + hi) / 2.0) - (hi - lo)).max(0.0) / 2.0;
    let (lo, hi) = (lo - grow, hi + grow);
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

/// The smallest y span a chart shows, by unit.
fn min_span(unit: Option<&str>, around: f64) -> f64 {
    match unit {
        Some("°C" | "°F" | "hPa") => 1.0,
        Some("%") => 2.0,
        Some("ppm") => 20.0,
        _ => (around.abs() * 0.01).max(0.1),
    }
}

/// Decimals that tell neighbouring y labels apart.
fn decimals_for(span: f64) -> usize {
    let step = span / 5.0;
    if step >= 1.0 || step <= 0.0 || !step.is_finite() {
        0
    } else {
        (-step.log10().floor()) as usize
    }
    .min(3)
}

/// Time label steps, from the finest.
const STEPS: &[Millis] = &[
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Round local times between `from` and `to`, far enough apart for their labels, with their
/// text: `14:30`, or the date (`26 Nov`, `11/26`) at local midnight and for steps of a day or more.
pub fn time_ticks(
    from: Millis,
    to: Millis,
    px_per_ms: f64,
    utc_offset_s: i32,
    dates: DateStyle,
) -> Vec<(Millis, String)> {
    let min_step = (X_LABEL_SPACING as f64 / px_per_ms.max(f64::MIN_POSITIVE)) as Millis;
    let step = STEPS
        .iter()
        .copied()
        .find(|s| *s >= min_step)
        .unwrap_or_else(|| {
            let weeks = (min_step + 7 * DAY - 1) / (7 * DAY);
            weeks * 7 * DAY
        });
    let offset = utc_offset_s as Millis * 1000;
    let first = (from + offset).div_euclid(step) * step + step - offset;
    let mut ticks = Vec::new();
    let mut t = if first - step >= from {
        first - step
    } else {
        first
    };
    while t < to {
        ticks.push((t, time_label(t, offset, step, dates)));
        t += step;
    }
    ticks
}

fn time_label(t: Millis, offset: Millis, step: Millis, dates: DateStyle) -> String {
    let local = t + offset;
    let days = local.div_euclid(DAY);
    let ms_of_day = local.rem_euclid(DAY);
    if step >= DAY || ms_of_day == 0 {
        let (_, month, day) = civil_from_days(days);
        match dates {
            DateStyle::DayMonth => format!("{day} {}", MONTHS[(month - 1) as usize]),
            DateStyle::MonthDay => format!("{month}/{day}"),
        }
    } else {
        format!("{:02}:{:02}", ms_of_day / HOUR, ms_of_day % HOUR / MINUTE)
    }
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(t: Millis, v: Option<(f64, f64, f64)>, count: u64) -> Bucket {
        match v {
            Some((min, mean, max)) => Bucket {
                t,
                mean: Some(mean),
                min: Some(min),
                max: Some(max),
                count,
            },
            None => Bucket {
                t,
                mean: None,
                min: None,
                max: None,
                count: 0,
            },
        }
    }

    fn spec() -> ChartSpec {
        ChartSpec {
            width: 600,
            height: 240,
            unit: Some("°C".into()),
            temp_unit: TempUnit::Celsius,
            bucket_ms: MINUTE,
            utc_offset_s: 0,
            dates: DateStyle::DayMonth,
            title: None,
        }
    }

    /// Elements drawn in the line colour: `(polylines, circles)`.
    fn line_shapes(svg: &str) -> (usize, usize) {
        let stroke = "stroke=\"#1F7AE0\"";
        let fill = "fill=\"#1F7AE0\"";
        let polylines = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(stroke))
            .count();
        let circles = svg
            .lines()
            .filter(|l| l.starts_with("<circle") && l.contains(fill))
            .count();
        (polylines, circles)
    }

    fn bands(svg: &str) -> usize {
        svg.lines()
            .filter(|l| l.starts_with("<polygon") && l.contains("fill=\"#1F7AE0\""))
            .count()
    }

    /// Renders `buckets` and checks the number of line pieces, lone points and bands.
    fn check(buckets: &[Bucket], expected: (usize, usize, usize)) -> Chart {
        let chart = render(buckets, &spec()).unwrap();
        let (lines, dots) = line_shapes(&chart.svg);
        assert_eq!((lines, dots, bands(&chart.svg)), expected, "{}", chart.svg);
        assert!(chart.svg.starts_with("<svg"), "{}", chart.svg);
        chart
    }

    #[test]
    fn lines_break_at_gaps_and_bands_show_spread() {
        let full = |t, v: f64| bucket(t * MINUTE, Some((v - 0.5, v, v + 0.5)), 12);
        let single = |t, v: f64| bucket(t * MINUTE, Some((v, v, v)), 1);
        let gap = |t| bucket(t * MINUTE, None, 0);

        check(&[full(0, 20.0), full(1, 21.0), full(2, 21.5)], (1, 0, 1));
        // An outage (four empty buckets where the series fills every one) breaks line and band.
        let outage = [
            full(0, 20.0),
            full(1, 21.0),
            gap(2),
            gap(3),
            gap(4),
            gap(5),
            full(6, 22.0),
            full(7, 22.5),
        ];
        check(&outage, (2, 0, 2));
        // A missed bucket or two is not an outage.
        check(
            &[
                full(0, 20.0),
                full(1, 21.0),
                gap(2),
                full(3, 22.0),
                full(4, 22.5),
            ],
            (1, 0, 1),
        );
        let lone = [
            single(0, 20.0),
            single(1, 20.5),
            single(2, 20.7),
            gap(3),
            gap(8),
            single(9, 21.0),
        ];
        check(&lone, (1, 1, 0));
        check(&[gap(0), single(1, 20.0), gap(2)], (0, 1, 0));
        // A sensor that reports every sixth bucket draws one line.
        let sparse: Vec<_> = (0..8)
            .flat_map(|i| [single(6 * i, 20.0 + i as f64), gap(6 * i + 1)])
            .collect();
        check(&sparse, (1, 0, 0));
        let empty = check(&[gap(0), gap(1), gap(2)], (0, 0, 0));
        assert!(empty.svg.contains("No readings in this range"));
    }

    #[test]
    fn plot_area_maps_the_whole_range() {
        let buckets: Vec<_> = (0..60)
            .map(|i| bucket(i * MINUTE, Some((1.0, 2.0, 3.0)), 5))
            .collect();
        let chart = check(&buckets, (1, 0, 1));
        let p = chart.plot;
        assert!(
            p.left >= Y_LABELS as i32 && p.top >= MARGIN_TOP as i32,
            "{p:?}"
        );
        assert!(p.left + p.width <= 600 && p.top + p.height <= 240, "{p:?}");
        assert!(p.width > 400 && p.height > 150, "{p:?}");
        // The unit and round time labels.
        assert!(
            chart.svg.contains(">°C<") || chart.svg.contains("°C\n"),
            "{}",
            chart.svg
        );
        assert!(chart.svg.contains("00:15"), "{}", chart.svg);
    }

    #[test]
    fn fahrenheit_converts_temperatures_only() {
        let b = [bucket(0, Some((0.0, 10.0, 100.0)), 3)];
        let (f, unit) = convert(&b, Some("°C"), TempUnit::Fahrenheit);
        assert_eq!(
            (f[0].min, f[0].mean, f[0].max),
            (Some(32.0), Some(50.0), Some(212.0))
        );
        assert_eq!(unit.as_deref(), Some("°F"));
        let (same, unit) = convert(&b, Some("%"), TempUnit::Fahrenheit);
        assert_eq!((same[0].mean, unit.as_deref()), (Some(10.0), Some("%")));
        assert!(matches!(TempUnit::parse("F"), Ok(TempUnit::Fahrenheit)));
        assert!(TempUnit::parse("K").is_err());
    }

    #[test]
    fn rejects_odd_sizes() {
        let s = ChartSpec {
            width: 10,
            ..spec()
        };
        assert!(matches!(render(&[], &s), Err(ChartError::Size { .. })));
        let s = ChartSpec {
            bucket_ms: 0,
            ..spec()
        };
        assert!(matches!(render(&[], &s), Err(ChartError::BucketWidth)));
    }

    #[test]
    fn ticks_are_round_local_times() {
        // 10:07 to 11:07 UTC over 600 px: 90 px is 9 minutes, so every 10 minutes.
        let from = 10 * HOUR + 7 * MINUTE;
        let hour =
            |offset_s, dates| time_ticks(from, from + HOUR, 600.0 / HOUR as f64, offset_s, dates);
        // A week over 600 px from the start of `day`: day steps.
        let week = |day: i64, dates| {
            time_ticks(
                day * DAY,
                (day + 7) * DAY,
                600.0 / (7 * DAY) as f64,
                0,
                dates,
            )
        };
        let ticks = hour(0, DateStyle::DayMonth);
        let labels: Vec<_> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["10:10", "10:20", "10:30", "10:40", "10:50", "11:00"]
        );
        // The same instant one hour east of UTC.
        assert_eq!(hour(3600, DateStyle::DayMonth)[0].1, "11:10");
        // Midnight shows the date; a week spans day steps.
        let ticks = week(0, DateStyle::DayMonth);
        assert_eq!(ticks.first().map(|t| t.1.as_str()), Some("1 Jan"));
        assert!(ticks.iter().all(|(t, _)| t % DAY == 0));
        // In Japanese: month/day, and times as they were.
        let ja = DateStyle::for_language("ja-JP");
        assert_eq!(week(20_418, ja)[0].1, "11/26");
        assert_eq!(hour(0, ja)[0].1, "10:10");
        assert_eq!(DateStyle::for_language("en-GB"), DateStyle::DayMonth);
        assert_eq!(DateStyle::for_language("de"), DateStyle::DayMonth);
        assert_eq!(DateStyle::for_language("JA"), DateStyle::MonthDay);
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
    }

    #[test]
    fn y_labels_have_enough_decimals() {
        assert_eq!(decimals_for(40.0), 0);
        assert_eq!(decimals_for(2.0), 1);
        assert_eq!(decimals_for(0.2), 2);
        assert_eq!(y_range(&[], None), (0.0, 1.0));
        // A steady temperature still spans a degree.
        let steady = [bucket(0, Some((20.01, 20.02, 20.03)), 5)];
        let (lo, hi) = y_range(&steady, Some("°C"));
        assert!(hi - lo >= 1.0 && lo < 20.01 && hi > 20.03, "{lo}..{hi}");
    }

    /// Polylines drawn in `colour` (`#RRGGBB`).
    fn polylines_in(svg: &str, colour: RGBColor) -> usize {
        let stroke = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\"",
            colour.0, colour.1, colour.2
        );
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
            .count()
    }

    #[test]
    fn a_comparison_draws_each_series_in_its_colour_with_a_legend() {
        let full = |t, v: f64| bucket(t * MINUTE, Some((v - 0.5, v, v + 0.5)), 12);
        let gap = |t| bucket(t * MINUTE, None, 0);
        let living = Labelled {
            label: "Living room".into(),
            buckets: (0..8).map(|t| full(t, 21.0)).collect(),
        };
        // The bedroom went silent in the middle: its line breaks there, the other's does not.
        let bedroom = Labelled {
            label: "Bedroom <b>".into(),
            buckets: (0..8)
                .map(|t| {
                    if (2..6).contains(&t) {
                        gap(t)
                    } else {
                        full(t, 17.0)
                    }
                })
                .collect(),
        };
        let chart = render_compare(&[living.clone(), bedroom.clone()], &spec()).unwrap();
        assert_eq!(polylines_in(&chart.svg, PALETTE[0]), 1, "{}", chart.svg);
        assert_eq!(polylines_in(&chart.svg, PALETTE[1]), 2, "{}", chart.svg);
        // No bands on a comparison; the legend names both, sensor text escaped.
        assert_eq!(bands(&chart.svg), 0);
        assert!(chart.svg.contains("Living room"), "{}", chart.svg);
        assert!(chart.svg.contains("Bedroom &lt;b&gt;"), "{}", chart.svg);
        assert!(!chart.svg.contains("<b>"));
        // One y range holds both: 16.5 and 21.5 both lie inside the plot.
        let single = render(&living.buckets, &spec()).unwrap();
        assert!(chart.plot.width > 0 && chart.plot.top >= single.plot.top);
        // Eight distinct colours, and a legend that wraps into rows on a narrow chart.
        let distinct: std::collections::HashSet<_> =
            PALETTE.iter().map(|c| (c.0, c.1, c.2)).collect();
        assert_eq!(distinct.len(), 8);
        let eight: Vec<Labelled> = (0..8)
            .map(|i| Labelled {
                label: format!("Sensor number {i}"),
                buckets: (0..8).map(|t| full(t, 15.0 + i as f64)).collect(),
            })
            .collect();
        let narrow = render_compare(&eight, &spec()).unwrap();
        for c in PALETTE {
            assert_eq!(polylines_in(&narrow.svg, c), 1, "{}", narrow.svg);
        }
        assert!(narrow.plot.top > chart.plot.top + LEGEND_ROW as i32);
        assert!(!render_compare_png(&eight, &spec()).unwrap().is_empty());
    }
}

//! Drawing the report's three kinds of chart with plotters, on any backend (SVG text
//! for the HTML and `.svg` files, bitmaps for `.png`): lines over time, the HDR
//! percentile distribution on a "nines" axis, and per-agent bars.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (1000, 480);

/// Series colours: distinguishable, print-safe.
pub const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points; `None` y leaves a gap.
    pub points: Vec<(f64, Option<f64>)>,
}

/// What to draw.
#[derive(Clone, Debug)]
pub enum Chart {
    /// Lines over a linear x axis.
    Lines {
        /// Caption.
        title: String,
        /// X axis description with unit.
        x_label: String,
        /// Y axis description with unit.
        y_label: String,
        /// The lines.
        series: Vec<Series>,
        /// Fixed y range top (e.g. 100 for percentages).
        y_max: Option<f64>,
    },
    /// Latency by percentile on a log "nines" axis: x = log10(1 / (1 - q)).
    Nines {
        /// Caption.
        title: String,
        /// Y axis description with unit.
        y_label: String,
        /// `(nines, value)` per line.
        series: Vec<Series>,
    },
    /// One bar per name, with a text label above each.
    Bars {
        /// Caption.
        title: String,
        /// Y axis description with unit.
        y_label: String,
        /// `(name, value, label)`.
        bars: Vec<(String, f64, String)>,
        /// A reference line (e.g. the mean) and its legend text.
        reference: Option<(f64, String)>,
    },
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws `chart` on `root`.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    match chart {
        Chart::Lines {
            title,
            x_label,
            y_label,
            series,
            y_max,
        } => lines(root, title, x_label, y_label, series, *y_max, false),
        Chart::Nines {
            title,
            y_label,
            series,
        } => lines(root, title, "percentile", y_label, series, None, true),
        Chart::Bars {
            title,
            y_label,
            bars,
            reference,
        } => bar_chart(root, title, y_label, bars, reference.as_ref()),
    }?;
    root.present().map_err(err)
}

fn no_data<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> DrawResult {
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        title.to_string(),
        (20, 16),
        ("sans-serif", 22).into_font(),
    ))
    .map_err(err)?;
    let msg = "no samples in this run";
    root.draw(&Text::new(
        msg,
        (w as i32 / 2 - 110, h as i32 / 2),
        ("sans-serif", 20)
            .into_font()
            .color(&RGBColor(120, 120, 120)),
    ))
    .map_err(err)
}

/// The percentile a nines value stands for, as a label: 0 → 0%, 2 → 99%.
pub fn nines_label(v: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-v));
    if v < 0.5 {
        return format!("{p:.0}%");
    }
    let digits = (v.round() as i64 - 2).clamp(0, 6) as usize;
    format!("{p:.digits$}%")
}

/// A readable number for tick labels.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}").trim_end_matches(".0").to_string()
    } else if a >= 0.1 {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3}")
    }
}

#[allow(clippy::too_many_arguments)]
fn lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_max: Option<f64>,
    nines: bool,
) -> DrawResult {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let ys: Vec<f64> = pts().filter_map(|(_, y)| *y).collect();
    if ys.is_empty() {
        return no_data(root, title);
    }
    let (x0, x1) = pts().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| {
        (a.min(*x), b.max(*x))
    });
    let (x0, x1) = if nines {
        (0.0, x1.ceil().max(1.0))
    } else if x1 > x0 {
        (x0, x1)
    } else {
        (x0, x0 + 1.0)
    };
    let top = y_max.unwrap_or_else(|| {
        let m = ys.iter().copied().fold(0.0, f64::max);
        if m > 0.0 { m * 1.08 } else { 1.0 }
    });
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..top)
        .map_err(err)?;
    let x_fmt = |v: &f64| if nines { nines_label(*v) } else { tick(*v) };
    let x_ticks = if nines { (x1 as usize) + 1 } else { 12 };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(x_ticks)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // The first line is drawn wider so that a line on top of it stays visible.
        let width = if i == 0 && series.len() > 2 { 5 } else { 2 };
        // Consecutive points with values form a segment; a gap breaks the line.
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (x, y) in &s.points {
            match y {
                Some(y) => segments.last_mut().map_or((), |seg| seg.push((*x, *y))),
                None => {
                    if segments.last().is_some_and(|seg| !seg.is_empty()) {
                        segments.push(Vec::new());
                    }
                }
            }
        }
        let mut first = true;
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            let single = seg.len() == 1;
            let series_ann = chart
                .draw_series(LineSeries::new(
                    seg.clone(),
                    color
                        .mix(if width > 2 { 0.6 } else { 1.0 })
                        .stroke_width(width),
                ))
                .map_err(err)?;
            if first {
                series_ann.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
                first = false;
            }
            if single {
                chart
                    .draw_series(seg.iter().map(|p| Circle::new(*p, 3, color.filled())))
                    .map_err(err)?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)
}

fn bar_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    bars: &[(String, f64, String)],
    reference: Option<&(f64, String)>,
) -> DrawResult {
    if bars.is_empty() {
        return no_data(root, title);
    }
    // A single bar would make a one-value axis, which plotters cannot scale (the bar
    // came out with a negative width): it stands in the middle of three slots, the
    // others left blank.
    let padded;
    let (bars, alone) = if let [only] = bars {
        let blank = || (String::new(), 0.0, String::new());
        padded = [blank(), only.clone(), blank()];
        (&padded[..], true)
    } else {
        (bars, false)
    };
    let drawn = || {
        bars.iter()
            .enumerate()
            .filter(move |(i, _)| !alone || *i == 1)
    };
    let n = bars.len();
    let top = bars
        .iter()
        .map(|b| b.1)
        .chain(reference.map(|r| r.0))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    let rotate = n > 12;
    let longest = bars.iter().map(|b| b.0.chars().count()).max().unwrap_or(4) as u32;
    let x_area = if rotate { 20 + 8 * longest.min(24) } else { 48 };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(x_area)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)
        .map_err(err)?;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let x_fmt = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let label_style = if rotate {
        ("sans-serif", 13)
            .into_font()
            .transform(FontTransform::Rotate90)
    } else {
        ("sans-serif", 14).into_font()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&x_fmt)
        .x_label_style(label_style)
        .y_desc(y_label)
        .y_labels(8)
        .y_label_formatter(&|v| tick(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(err)?;
    let color = PALETTE[0];
    chart
        .draw_series(drawn().map(|(i, b)| {
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), b.1),
                ],
                color.mix(0.75).filled(),
            );
            r.set_margin(0, 0, 6, 6);
            r
        }))
        .map_err(err)?
        .label("per agent")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    if n <= 30 {
        chart
            .draw_series(drawn().map(|(i, b)| {
                Text::new(
                    b.2.clone(),
                    (SegmentValue::CenterOf(i), b.1 + top * 0.01),
                    ("sans-serif", 13)
                        .into_font()
                        .color(&RGBColor(60, 60, 60))
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            }))
            .map_err(err)?;
    }
    if let Some((v, name)) = reference {
        let red = PALETTE[1];
        chart
            .draw_series(LineSeries::new(
                vec![(SegmentValue::Exact(0), *v), (SegmentValue::Last, *v)],
                red.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `<rect>` elements of a bar chart drawn as SVG, as (x, width).
    fn bar_rects(bars: Vec<(String, f64, String)>) -> Vec<(f64, f64)> {
        let mut svg = String::new();
        {
            crate::report::plots::register_font().expect("the font");
            let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
            let chart = Chart::Bars {
                title: "load".into(),
                y_label: "chats".into(),
                bars,
                reference: Some((3.0, "mean".into())),
            };
            draw(&root, &chart).expect("drawn");
        }
        let attr = |el: &str, name: &str| -> f64 {
            let at = el.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
            el[at..]
                .split('"')
                .next()
                .unwrap_or("")
                .parse()
                .expect("a number")
        };
        svg.split("<rect")
            .skip(1)
            .map(|el| el.split("/>").next().unwrap_or(""))
            .filter(|el| el.contains("opacity=\"0.75\""))
            .map(|el| (attr(el, "x"), attr(el, "width")))
            .collect()
    }

    #[test]
    fn one_bar_is_drawn_in_the_middle() {
        let one = bar_rects(vec![("alice".into(), 3.0, "3".into())]);
        assert_eq!(one.len(), 1, "{one:?}");
        let (x, width) = one[0];
        assert!(width > 50.0, "{one:?}");
        assert!((200.0..440.0).contains(&(x + width / 2.0)), "{one:?}");
        let two = bar_rects(vec![
            ("alice".into(), 3.0, "3".into()),
            ("bob".into(), 2.0, "2".into()),
        ]);
        assert_eq!(two.len(), 2, "{two:?}");
        assert!(two.iter().all(|(_, w)| *w > 50.0), "{two:?}");
    }

    #[test]
    fn labels() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(4.0), "99.99%");
        assert_eq!(tick(1500.0), "1500");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(0.25), "0.25");
    }
}

//! `report.svg`: for every row, one horizontal bar per peer of `peer / minirt` on a log scale
//! (right of the 1.0 line: minirt is ahead), with the 95 % interval as a whisker across the
//! bar's end. Hand-written SVG, no plotting crate.

use std::fmt::Write as _;

use super::harness::PEERS;
use super::machine::Context;
use super::rows::Row;

/// The colour of each peer's bars (minirt is the baseline, 1.0, and has none).
fn colour(peer: &str) -> &'static str {
    match peer {
        "tokio" => "#d9822b",
        "tokio-local" => "#f2b134",
        "tokio-localrt" => "#b5651d",
        _ => "#4c78a8",
    }
}

/// `report.svg`: for every row, one horizontal bar per peer of `peer / minirt` on a log scale
/// (right of the 1.0 line: minirt is ahead). Hand-written SVG.
pub fn svg(rows: &[Row], ctx: &Context) -> String {
    const LABEL: f64 = 300.0;
    const PLOT: f64 = 560.0;
    const BAR: f64 = 11.0;
    const GAP: f64 = 9.0;
    const TOP: f64 = 92.0;
    const HEADING: f64 = 20.0;
    let others = &PEERS[1..];
    let ratios: Vec<f64> = rows
        .iter()
        .flat_map(|r| others.iter().filter_map(|p| r.ratio(p)))
        .filter(|r| *r > 0.0)
        .collect();
    // The scale spans powers of two around every ratio, and at least 1/4 to 4.
    let lo = ratios.iter().copied().fold(0.25, f64::min).log2().floor();
    let hi = ratios.iter().copied().fold(4.0, f64::max).log2().ceil();
    let x = |r: f64| LABEL + (r.log2() - lo) / (hi - lo) * PLOT;
    let height = TOP
        + rows
            .iter()
            .map(|r| {
                others
                    .iter()
                    .filter(|p| r.ratio(p).is_some())
                    .count()
                    .max(1) as f64
                    * BAR
                    + GAP
            })
            .sum::<f64>()
        + 30.0
        + groups(rows) as f64 * HEADING;
    let width = LABEL + PLOT + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">peer / minirt \
         (log scale; right of 1.0: minirt is faster or smaller)</text>"
    );
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"40\" fill=\"#555\">{} · {} · {}</text>",
        escape(&ctx.date),
        escape(&ctx.machine()),
        escape(&ctx.command)
    );
    // Legend.
    for (i, peer) in others.iter().enumerate() {
        let lx = 10.0 + i as f64 * 130.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"52\" width=\"14\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"63\">{peer}</text>",
            colour(peer),
            lx + 19.0
        );
    }
    // Grid: a line per power of two, 1.0 in black.
    let mut e = lo;
    while e <= hi {
        let r = 2f64.powf(e);
        let gx = x(r);
        let (stroke, w) = if e == 0.0 {
            ("black", 1.5)
        } else {
            ("#ccc", 1.0)
        };
        let _ = writeln!(
            s,
            "<line x1=\"{gx:.1}\" y1=\"{}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\" \
             stroke-width=\"{w}\"/><text x=\"{gx:.1}\" y=\"{}\" text-anchor=\"middle\" \
             fill=\"#333\">{}</text>",
            TOP - 8.0,
            height - 24.0,
            TOP - 12.0,
            if r >= 1.0 {
                format!("{r}")
            } else {
                format!("1/{}", 1.0 / r)
            }
        );
        e += 1.0;
    }
    let mut y = TOP;
    let mut group = None;
    for row in rows {
        if group != Some(row.group) {
            group = Some(row.group);
            let _ = writeln!(
                s,
                "<text x=\"10\" y=\"{:.1}\" font-weight=\"bold\" fill=\"#555\">{}</text>\
                 <line x1=\"10\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/>",
                y + 12.0,
                row.group.name(),
                y + 16.0,
                width - 10.0,
                y + 16.0
            );
            y += HEADING;
        }
        let present: Vec<(&str, f64)> = others
            .iter()
            .filter_map(|p| row.ratio(p).filter(|r| *r > 0.0).map(|r| (*p, r)))
            .collect();
        let block = present.len().max(1) as f64 * BAR;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL - 8.0,
            y + block / 2.0 + 4.0,
            escape(&row.name)
        );
        if present.is_empty() {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{:.1}\" fill=\"#888\">no minirt number</text>",
                x(1.0) + 6.0,
                y + 9.0
            );
        }
        for (i, (peer, r)) in present.iter().enumerate() {
            let by = y + i as f64 * BAR;
            let (x0, x1) = (x(1.0).min(x(*r)), x(1.0).max(x(*r)));
            // The interval, as a whisker across the bar's end, clamped to the scale.
            let clamp = |v: f64| x(v.clamp(2f64.powf(lo), 2f64.powf(hi)));
            let whisker = row
                .interval(peer)
                .filter(|i| i.lo > 0.0 && i.hi.is_finite())
                .map(|i| (clamp(i.lo), clamp(i.hi)));
            let label = whisker.map_or(x1, |(_, w1)| w1.max(x1)) + 3.0;
            let _ = writeln!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\">\
                 <title>{} {peer}/minirt = {r:.2}</title></rect>\
                 <text x=\"{label:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#333\">{r:.2}</text>",
                (x1 - x0).max(1.0),
                BAR - 1.0,
                colour(peer),
                escape(&row.name),
                by + BAR - 2.0
            );
            if let Some((w0, w1)) = whisker {
                let wy = by + (BAR - 1.0) / 2.0;
                let _ = writeln!(
                    s,
                    "<line x1=\"{w0:.1}\" y1=\"{wy:.1}\" x2=\"{w1:.1}\" y2=\"{wy:.1}\" \
                     stroke=\"#222\" stroke-width=\"1\"/>"
                );
            }
        }
        y += block + GAP;
    }
    s.push_str("</svg>\n");
    s
}

/// How many runs of rows share a group (a heading each).
fn groups(rows: &[Row]) -> usize {
    rows.windows(2).filter(|w| w[0].group != w[1].group).count() + usize::from(!rows.is_empty())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

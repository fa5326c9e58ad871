//! `proofless audit replay` and `proofless audit export`.

use crate::config::write_durably;
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use proofless_client::audit::{self, DirFetch, ReplayConfig, ReplayState, Report};
use proofless_client::{Fetch, HttpFetch};
use proofless_core::pki::TrustAnchor;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `audit replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Base URL of the ledger, e.g. `http://127.0.0.1:8080`.
    #[arg(long, conflicts_with = "bundle", required_unless_present = "bundle")]
    url: Option<String>,
    /// An exported bundle (`proofless audit export`) to replay offline instead.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// The ledger's verifier key (`<origin>+<id>+<key>`), or `@FILE`. Pin it out of band.
    #[arg(long)]
    ledger_vkey: String,
    /// The deployment's trust anchor certificate (PEM). Pin it out of band.
    #[arg(long)]
    trust_anchor: PathBuf,
    /// Where the reports (`report.json`, `report.html`) and the resumable state
    /// (`state.cbor`) go. A state left there by an earlier run is resumed.
    #[arg(long)]
    out: PathBuf,
    /// Threads for decoding and signature verification (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// A witness verifier key (C2SP tlog-cosignature); repeatable. With witnesses, the
    /// ledger's cosigned checkpoint (`/v1/checkpoint/cosigned`) must carry
    /// `--witness-quorum` of their cosignatures and agree with the log replayed.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many of the `--witness` keys must have cosigned (default: all).
    #[arg(long, requires = "witnesses")]
    witness_quorum: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Arguments of `audit export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Base URL of the ledger.
    #[arg(long)]
    url: String,
    /// The ledger's verifier key, or `@FILE`: the checkpoint is verified before export.
    #[arg(long)]
    ledger_vkey: String,
    /// First entry to export (default 0).
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// One past the last entry to export (default: the checkpoint's size).
    #[arg(long)]
    to: Option<u64>,
    /// The bundle directory to write (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{pos}}/{{len}} [{{bar:30}}] {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

pub(crate) fn replay(args: ReplayArgs) -> Result<()> {
    let ledger = crate::config::read_vkey(&args.ledger_vkey, "--ledger-vkey")?;
    let pem = std::fs::read(&args.trust_anchor)
        .with_context(|| format!("reading {}", args.trust_anchor.display()))?;
    let anchor = TrustAnchor::from_pem(&pem)
        .with_context(|| format!("{}: not a trust anchor", args.trust_anchor.display()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let state_path = args.out.join("state.cbor");
    let state = match std::fs::read(&state_path) {
        Ok(bytes) => Some(
            ReplayState::from_bytes(&bytes)
                .with_context(|| format!("state file {}", state_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
    };
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(std::num::NonZero::get)
            .unwrap_or(1)
    });
    let cfg = ReplayConfig {
        ledger,
        anchor,
        threads,
        save_every: Duration::from_secs(10),
        witnesses: crate::verifycmd::witness_policy(&args.witnesses, args.witness_quorum)?,
    };
    let fetch: Box<dyn Fetch> = match (&args.url, &args.bundle) {
        (Some(url), _) => Box::new(HttpFetch::new(url)),
        (None, Some(dir)) => Box::new(DirFetch::new(dir)),
        (None, None) => bail!("give --url or --bundle"),
    };
    let bar = bar(args.quiet, "entries");
    let started = Instant::now();
    let mut save_error = None;
    let (_, report) = audit::replay(
        fetch.as_ref(),
        &cfg,
        state,
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
        &mut |s| {
            if let Err(e) = write_durably(&state_path, &s.to_bytes(), false) {
                save_error = Some(e);
            }
        },
    )?;
    bar.finish_and_clear();
    if let Some(e) = save_error {
        return Err(e).context("saving the replay state");
    }
    let elapsed = started.elapsed();
    let json = serde_json::to_vec_pretty(&report)?;
    write_durably(&args.out.join("report.json"), &json, false)?;
    write_durably(
        &args.out.join("report.html"),
        html(&report).as_bytes(),
        false,
    )?;
    let rate = report.replayed as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "replayed {} entries ({}..{}) in {:.1} s ({rate:.0} entries/s), {} signatures verified in all; reports in {}",
        report.replayed,
        report.replayed_from,
        report.size,
        elapsed.as_secs_f64(),
        report.stats.signatures_verified,
        args.out.display()
    );
    if report.is_clean() {
        println!("ok: no anomaly; root {}", report.root);
        Ok(())
    } else {
        for (code, n) in &report.anomaly_counts {
            println!("ANOMALY {code}: {n}");
        }
        for a in report.anomalies.iter().take(20) {
            match a.index {
                Some(i) => println!("  entry {i}: {} ({})", a.detail, a.code),
                None => println!("  {} ({})", a.detail, a.code),
            }
        }
        bail!(
            "{} anomalies found; see {}",
            report.anomaly_counts.values().sum::<u64>(),
            args.out.join("report.html").display()
        )
    }
}

pub(crate) fn export(args: ExportArgs) -> Result<()> {
    let ledger = crate::config::read_vkey(&args.ledger_vkey, "--ledger-vkey")?;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .with_context(|| format!("reading {}", args.out.display()))?
            .next()
            .is_some()
    {
        bail!("{}: exists and is not empty", args.out.display());
    }
    let fetch = HttpFetch::new(&args.url);
    let bar = bar(args.quiet, "files");
    let manifest = audit::export(
        &fetch,
        &ledger,
        args.from,
        args.to,
        &args.out,
        &mut |d, t| {
            bar.set_length(t);
            bar.set_position(d);
        },
    )?;
    bar.finish_and_clear();
    println!(
        "exported entries {}..{} of {} ({} earlier entries as context, {} rule set versions) to {}",
        manifest.from,
        manifest.to,
        manifest.size,
        manifest.context.len(),
        manifest.policies.len(),
        args.out.display()
    );
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A line chart of daily counts per series, as inline SVG.
fn line_chart(
    title: &str,
    by_day: &BTreeMap<String, BTreeMap<String, u64>>,
    label: &dyn Fn(&str) -> String,
) -> String {
    let days: Vec<&String> = by_day.keys().collect();
    let mut series: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (i, day) in days.iter().enumerate() {
        for (name, n) in &by_day[*day] {
            series
                .entry(name.as_str())
                .or_insert_with(|| vec![0; days.len()])[i] = *n;
        }
    }
    let max = series.values().flatten().copied().max().unwrap_or(1).max(1);
    let (w, h, left, bottom) = (720.0, 260.0, 50.0, 30.0);
    let x = |i: usize| {
        if days.len() <= 1 {
            left + (w - left) / 2.0
        } else {
            left + (w - left - 10.0) * i as f64 / (days.len() - 1) as f64
        }
    };
    let y = |n: u64| (h - bottom) - (h - bottom - 10.0) * n as f64 / max as f64;
    let mut svg = format!(
        "<h3>{}</h3><svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{w}\" y2=\"{}\" stroke=\"#999\"/>\
         <line x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"16\" font-size=\"11\">{max}</text><text x=\"4\" y=\"{}\" font-size=\"11\">0</text>",
        esc(title),
        esc(title),
        h - bottom,
        h - bottom,
        h - bottom,
        h - bottom
    );
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            h - 10.0,
            esc(first),
            w,
            h - 10.0,
            esc(last)
        );
    }
    let mut legend = String::from("<p>");
    for (k, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{:.1},{:.1}", x(i), y(*n)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for (i, n) in values.iter().enumerate() {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{} {}: {n}</title></circle>",
                x(i),
                y(*n),
                esc(days[i]),
                esc(&label(name))
            );
        }
        let _ = write!(
            legend,
            "<span style=\"color:{colour}\">&#9632;</span> {} &nbsp; ",
            esc(&label(name))
        );
    }
    svg.push_str("</svg>");
    svg.push_str(&legend);
    svg.push_str("</p>");
    svg
}

/// A horizontal bar chart, as inline SVG.
fn bar_chart(title: &str, values: &BTreeMap<String, u64>) -> String {
    let max = values.values().copied().max().unwrap_or(1).max(1);
    let row = 22.0;
    let h = row * values.len().max(1) as f64 + 10.0;
    let mut svg = format!(
        "<h3>{}</h3><svg width=\"720\" height=\"{h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (i, (name, n)) in values.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let len = 400.0 * *n as f64 / max as f64;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"12\">{}</text>\
             <rect x=\"220\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"16\" fill=\"#d62728\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{n}</text>",
            y + 13.0,
            esc(name),
            225.0 + len,
            y + 13.0
        );
    }
    if values.is_empty() {
        svg.push_str("<text x=\"0\" y=\"20\" font-size=\"12\">none</text>");
    }
    svg.push_str("</svg>");
    svg
}

/// The HTML report: a page a person opens in a browser, with no script and nothing
/// fetched from elsewhere.
pub(crate) fn html(r: &Report) -> String {
    let name = |org: &str| match r.department_names.get(org) {
        Some(n) => format!("{n} ({org})"),
        None => org.to_owned(),
    };
    let mut out = String::new();
    let verdict = if r.is_clean() {
        "<p class=\"ok\">No anomaly.</p>".to_owned()
    } else {
        format!(
            "<p class=\"bad\">{} anomalies.</p>",
            r.anomaly_counts.values().sum::<u64>()
        )
    };
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>Proofless audit replay — {origin}</title>\
         <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}\
         .ok{{color:#2ca02c;font-weight:bold}}.bad{{color:#d62728;font-weight:bold}}</style></head><body>\
         <h1>Audit replay of {origin}</h1>\
         <p>Checkpoint size {size}, root <code>{root}</code>. This run replayed {replayed} entries from index {from}{range}; \
         {sigs} signatures verified in all.</p>{verdict}",
        origin = esc(&r.origin),
        size = r.size,
        root = esc(&r.root),
        replayed = r.replayed,
        from = r.replayed_from,
        range = r
            .range
            .map(|(a, b)| format!(" (exported range {a}..{b})"))
            .unwrap_or_default(),
        sigs = r.stats.signatures_verified,
    );
    if !r.is_clean() {
        out.push_str("<h2>Anomalies</h2><table><tr><th>code</th><th>count</th></tr>");
        for (code, n) in &r.anomaly_counts {
            let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", esc(code));
        }
        out.push_str("</table><table><tr><th>entry</th><th>code</th><th>what</th></tr>");
        for a in &r.anomalies {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.index.map(|i| i.to_string()).unwrap_or_default(),
                esc(&a.code),
                esc(&a.detail)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Accesses over time</h2>");
    out.push_str(&line_chart(
        "Accesses per scenario per day",
        &r.stats.scenario_by_day,
        &|s| s.to_owned(),
    ));
    out.push_str(&line_chart(
        "Accesses per department per day",
        &r.stats.department_by_day,
        &|s| name(s),
    ));
    out.push_str(&bar_chart("Denials by reason", &r.stats.denials_by_reason));
    let table = |out: &mut String,
                 title: &str,
                 rows: &BTreeMap<String, audit::Counts>,
                 label: &dyn Fn(&str) -> String| {
        let _ = write!(
            out,
            "<h2>{}</h2><table><tr><th></th><th>allowed</th><th>denied</th></tr>",
            esc(title)
        );
        for (k, c) in rows {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&label(k)),
                c.allow,
                c.deny
            );
        }
        out.push_str("</table>");
    };
    table(&mut out, "Per department", &r.stats.by_department, &|s| {
        name(s)
    });
    table(&mut out, "Per scenario", &r.stats.by_scenario, &|s| {
        s.to_owned()
    });
    table(&mut out, "Per day (China time)", &r.stats.by_day, &|s| {
        s.to_owned()
    });
    out.push_str("<h2>Entries</h2><table>");
    for (k, n) in &r.stats.entries_by_kind {
        let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
    }
    let _ = write!(
        out,
        "</table><p>Denials whose reason rests on data the log does not hold (not re-derivable): {}. \
         Checks skipped as outside the exported range: {}.</p></body></html>",
        r.stats.denials_not_rederivable, r.stats.outside_range
    );
    out
}

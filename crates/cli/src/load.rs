//! `proofless load`: the verification load generator.
//!
//! It reads the citizens of a `proofless demo-data` file (the same file the server
//! imported, e.g. `data/sample.jsonl`), registers the department's key, signs every request
//! first (as wrk-style generators prepare theirs, so that the generator's signing does not
//! compete with the server for the machine's two cores), then sends them over
//! `--concurrency` keep-alive HTTP/1.1 connections, closed loop, one request in flight per
//! connection. Each request is a real one: its own RFC 9421 signature and nonce, its own
//! random body salt, under the committed statutory scenario `QD-GZFFH-001`
//! (公共租赁住房资格年度复核): by default a claim on the 居民身份证's name and
//! `currently_valid`, `holds_valid` on the 不动产权证书 and `marital_status_is` on the
//! 结婚证; with `--single`, only `holds_valid` on the 不动产权证书 (the 无房 check). The
//! server checks the signature, evaluates the rule, reads (and for claims opens) the
//! certificates, appends the `AccessRecorded` entry durably and signs the receipt, with the
//! tlog-proof unless `--promise`.
//!
//! It reports throughput over the measured requests (after `--warmup` unmeasured ones) and
//! latency percentiles, beside Ed25519 sign/s and verify/s measured on this machine in the
//! same run.

use crate::bench::{ed25519_rates, percentile};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use clap::Args;
use proofless_client::department::{DepartmentClient, DepartmentSigner};
use proofless_core::cert::{FieldValue, HOLDER_ITEM, Item, SignedSecurityObject};
use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::time::Instant;

const ID_CARD: &str = "11100000PL00000014901";
const SCENARIO: &str = "QD-GZFFH-001";
const CONSENT_SCENARIO: &str = "QD-GZF-001";
const TITLE: &str = "11100000MB03271699001";

/// Arguments of `load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The ledger's base URL (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The demo-data file the server imported (its holders are asked about).
    #[arg(long)]
    input: PathBuf,
    /// The example keys directory.
    #[arg(long, default_value = "keys-example")]
    keys: PathBuf,
    /// The department (file stem in the keys directory); the scenario names it.
    #[arg(long, default_value = "department-qingdao-housing")]
    department: String,
    /// Concurrent closed-loop workers, one keep-alive connection each. A comma-separated
    /// list (`32,64,96,128`) measures each in turn on the same server, and reports the
    /// highest rate whose p99 is under `--slo-p99-ms` (the consent phases use the first).
    #[arg(long, default_value = "32", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// The p99 latency (ms) that a rate must keep to count as the capacity.
    #[arg(long, default_value_t = 25.0)]
    slo_p99_ms: f64,
    /// Measured requests.
    #[arg(long, default_value_t = 160_000)]
    requests: usize,
    /// Warm-up requests sent first (not measured).
    #[arg(long, default_value_t = 16_000)]
    warmup: usize,
    /// Ask for promises (no tlog-proof) instead of full receipts.
    #[arg(long)]
    promise: bool,
    /// Ask about one certificate type (`holds_valid` on the 不动产权证书, the 无房 check)
    /// instead of three.
    #[arg(long)]
    single: bool,
    /// Then measure consents in the same run: a channel grants one per request for the
    /// consent-based twin scenario (QD-GZF-001), and the department uses each once
    /// (implies `--single` for the comparison).
    #[arg(long)]
    consent: bool,
}

/// A citizen of the input file, with the name on their identity card when they have one.
struct Holder {
    code: String,
    name: Option<String>,
}

fn holders(path: &PathBuf) -> Result<Vec<Holder>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut by_code: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        let (Some(so), Some(items)) = (v["security_object"].as_str(), v["items"].as_array()) else {
            continue; // a status line
        };
        let so = BASE64_STANDARD
            .decode(so)
            .ok()
            .and_then(|b| SignedSecurityObject::parse(&b).ok())
            .with_context(|| format!("{}:{}: security_object", path.display(), n + 1))?;
        let mut holder = None;
        let mut name = None;
        for item in items {
            let item = item
                .as_str()
                .and_then(|s| BASE64_STANDARD.decode(s).ok())
                .and_then(|b| Item::decode(&b).ok())
                .with_context(|| format!("{}:{}: items", path.display(), n + 1))?;
            match (item.name.as_str(), item.value) {
                (HOLDER_ITEM, FieldValue::Text(t)) => {
                    holder = t.strip_prefix("111:").map(str::to_owned)
                }
                ("name", FieldValue::Text(t)) if so.object().type_code == ID_CARD => name = Some(t),
                _ => {}
            }
        }
        if let Some(code) = holder {
            let e = by_code.entry(code).or_default();
            if name.is_some() {
                *e = name;
            }
        }
    }
    Ok(by_code
        .into_iter()
        .map(|(code, name)| Holder { code, name })
        .collect())
}

fn body(h: &Holder, n: u64, promise: bool, single: bool, consent: Option<&str>) -> Vec<u8> {
    // Random: the body digest is logged and must not be guessable. A machine without a
    // random source must not send requests at all.
    let mut salt = [0u8; 16];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut salt).expect("the operating system's random source works");
    let mut id_card = serde_json::json!({
        "type_code": ID_CARD,
        "predicates": [{"name": "currently_valid"}],
    });
    if let Some(name) = &h.name {
        id_card["claims"] = serde_json::json!({ "name": name });
    }
    let title = serde_json::json!(
        {"type_code": TITLE, "predicates": [{"name": "holds_valid"}]}
    );
    let certificates = if single {
        serde_json::json!([title])
    } else {
        serde_json::json!([
            id_card,
            title,
            {"type_code": "11100000PL00000027901",
             "predicates": [{"name": "marital_status_is", "status": "已婚"}]},
        ])
    };
    let mut b = serde_json::json!({
        "scenario": SCENARIO,
        "purpose": "公共租赁住房资格年度复核",
        "case_number": format!("GZFFH-2027-{n:08}"),
        "operator": "load-generator",
        "salt": BASE64_STANDARD.encode(salt),
        "holder": {"type": "111", "code": h.code},
        "certificates": certificates,
        "promise": promise,
    });
    if let Some(code) = consent {
        b["scenario"] = CONSENT_SCENARIO.into();
        b["purpose"] = "公共租赁住房申请".into();
        b["consent"] = code.into();
    }
    serde_json::to_vec(&b).unwrap_or_default()
}

/// One request, signed and serialized as HTTP/1.1 before the run.
fn http_request(
    signer: &DepartmentSigner,
    authority: &str,
    path: &str,
    body: &[u8],
) -> Result<Vec<u8>> {
    let signed = signer
        .sign("POST", authority, path, body)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in &signed.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

/// Reads one HTTP/1.1 response with a `content-length` body into `buf`; returns its
/// status and where the body starts.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, usize)> {
    use tokio::io::AsyncReadExt as _;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head not UTF-8"))?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| bad("no content-length"))?;
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed mid-body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, head_end))
}

/// One connection's requests, in order, each timed from its write to its whole answer.
async fn connection(
    addr: std::net::SocketAddr,
    q: Vec<(usize, Vec<u8>)>,
    warm_each: usize,
    keep: bool,
    progress: indicatif::ProgressBar,
) -> (Tally, Bodies) {
    use tokio::io::AsyncWriteExt as _;
    let mut t = Tally::default();
    let mut bodies = Vec::new();
    let mut stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(st) => st,
        Err(_) => {
            t.transport_errors += q.len() as u64;
            return (t, bodies);
        }
    };
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(16 * 1024);
    for (i, (n, req)) in q.iter().enumerate() {
        let started = Instant::now();
        let r = match stream.write_all(req).await {
            Ok(()) => read_response(&mut stream, &mut buf).await,
            Err(e) => Err(e),
        };
        let done = Instant::now();
        progress.inc(1);
        if keep && let Ok((_, head)) = &r {
            bodies.push((*n, buf[*head..].to_vec()));
        }
        if i < warm_each {
            continue;
        }
        t.first.get_or_insert(started);
        t.last = Some(done);
        match r {
            Ok((status, _)) => {
                let us = (done - started).as_micros();
                t.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                *t.by_status.entry(status).or_default() += 1;
            }
            Err(_) => {
                t.transport_errors += 1;
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(st) => stream = st,
                    Err(_) => return (t, bodies),
                }
            }
        }
    }
    (t, bodies)
}

/// Response bodies of one connection, by request number.
type Bodies = Vec<(usize, Vec<u8>)>;

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    by_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Signs `total` requests to `path` with `signer`, the `n`-th with body `make(n)`, in
/// parallel on two threads, with a progress bar. Returns them in order of `n`.
fn sign_all(
    what: &str,
    total: usize,
    signer: &DepartmentSigner,
    authority: &str,
    path: &str,
    make: &(dyn Fn(usize) -> Vec<u8> + Sync),
) -> Result<Vec<Vec<u8>>> {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "signing {what} {{bar:40}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); total];
    std::thread::scope(|s| -> Result<()> {
        let parts: Vec<_> = (0..2usize)
            .map(|part| {
                let bar = &bar;
                s.spawn(move || -> Result<Vec<(usize, Vec<u8>)>> {
                    let mut v = Vec::new();
                    for n in (part..total).step_by(2) {
                        v.push((n, http_request(signer, authority, path, &make(n))?));
                        bar.inc(1);
                    }
                    Ok(v)
                })
            })
            .collect();
        for p in parts {
            for (n, req) in p
                .join()
                .map_err(|_| anyhow::anyhow!("a signer panicked"))??
            {
                out[n] = req;
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(out)
}

/// Sends `requests` over `c` keep-alive connections (request `n` on connection `n % c`),
/// the first `warmup` unmeasured. Returns the tally and, with `keep`, each response body
/// by `n`.
fn send_all(
    what: &str,
    addr: std::net::SocketAddr,
    requests: Vec<Vec<u8>>,
    c: usize,
    warmup: usize,
    keep: bool,
) -> Result<(Tally, Vec<Vec<u8>>)> {
    let total = requests.len();
    let mut queues: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); c];
    for (n, r) in requests.into_iter().enumerate() {
        queues[n % c].push((n, r));
    }
    let warm_each = warmup / c;
    let progress = indicatif::ProgressBar::new(total as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // One thread, one task per connection: the generator shares the two cores with the
    // server, and 64 blocking threads cost it a context switch per request.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the load generator's runtime")?;
    let results: Vec<(Tally, Bodies)> = rt.block_on(async {
        let tasks: Vec<_> = queues
            .into_iter()
            .map(|q| tokio::spawn(connection(addr, q, warm_each, keep, progress.clone())))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    });
    progress.finish_and_clear();
    let mut all = Tally::default();
    let mut bodies = vec![Vec::new(); if keep { total } else { 0 }];
    for (t, b) in results {
        all.latencies_us.extend(t.latencies_us);
        for (k, v) in t.by_status {
            *all.by_status.entry(k).or_default() += v;
        }
        all.transport_errors += t.transport_errors;
        all.first = match (all.first, t.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        all.last = match (all.last, t.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (n, body) in b {
            bodies[n] = body;
        }
    }
    all.latencies_us.sort_unstable();
    Ok((all, bodies))
}

/// Prints one phase; returns its rate and p99 (ms), or fails unless every request got
/// `want`.
fn report(label: &str, t: &Tally, want: u16, c: usize) -> Result<(f64, f64)> {
    let elapsed = match (t.first, t.last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-9),
        _ => bail!("{label}: no request was measured"),
    };
    let done = t.latencies_us.len();
    let ok = t.by_status.get(&want).copied().unwrap_or(0);
    let rate = done as f64 / elapsed;
    println!(
        "{label}: {done} in {elapsed:.1} s = {rate:.0}/s ({ok} answered {want}, statuses {:?}, {} transport errors), {c} connections",
        t.by_status, t.transport_errors,
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        percentile(&t.latencies_us, 0.50),
        percentile(&t.latencies_us, 0.90),
        percentile(&t.latencies_us, 0.99),
        percentile(&t.latencies_us, 0.999),
        percentile(&t.latencies_us, 1.0),
    );
    if ok as usize != done || t.transport_errors > 0 {
        bail!("{label}: not every request was answered {want}");
    }
    Ok((rate, percentile(&t.latencies_us, 0.99)))
}

/// Registers an example principal's certificate with the ledger.
fn register(args: &LoadArgs, name: &str, role: &str) -> Result<DepartmentSigner> {
    let (key, chain) = crate::verifycmd::department_key(
        &args.keys.join(format!("{name}.key.pem")),
        &args.keys.join(format!("{name}.crt.pem")),
    )?;
    let signer = DepartmentSigner::new(key);
    let reg = DepartmentClient::new(&args.url, signer.clone())
        .with_context(|| format!("{}: not a base URL", args.url))?
        .register(&chain, role)
        .with_context(|| format!("registering {name} at {}", args.url))?;
    if reg.status != 200 {
        bail!(
            "registering {name}: HTTP {}: {}",
            reg.status,
            String::from_utf8_lossy(&reg.body)
        );
    }
    Ok(signer)
}

pub(crate) fn run(args: LoadArgs) -> Result<()> {
    let holders = holders(&args.input)?;
    if holders.is_empty() {
        bail!("{}: no citizen holders in this file", args.input.display());
    }
    eprintln!(
        "{} citizens from {}; measuring Ed25519 on one core…",
        holders.len(),
        args.input.display()
    );
    let (sign_rate, verify_rate) = ed25519_rates()?;
    let department = register(&args, &args.department, "department")?;
    let authority = args
        .url
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/').to_owned())
        .with_context(|| format!("{}: only http:// URLs are supported", args.url))?;
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&authority)
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority}: no address"))?;
    let sweep: Vec<usize> = args.concurrency.iter().map(|c| (*c).max(1)).collect();
    let c = sweep.first().copied().unwrap_or(1);
    let total = args.requests + args.warmup;
    println!(
        "raw limits, this machine, now: Ed25519 {sign_rate:.0} signatures/s and {verify_rate:.0} verify_strict/s per core"
    );
    let holder = |n: usize| &holders[n % holders.len()];
    let (promise, single) = (args.promise, args.single || args.consent);
    let label = format!(
        "verifications ({}, {})",
        if single {
            "1 certificate type"
        } else {
            "3 certificate types"
        },
        if promise {
            "promise: no tlog-proof"
        } else {
            "with tlog-proof"
        }
    );
    // Each concurrency in turn, on the same server and in the same host state as the
    // limits above.
    let mut measured = Vec::new();
    for &conc in &sweep {
        // Signing before each phase keeps the generator's signing out of the measured
        // window; the signatures stay fresh (±300 s) for a phase of this size.
        let plain = sign_all(
            "requests",
            total,
            &department,
            &authority,
            "/v1/verifications",
            &|n| body(holder(n), n as u64, promise, single, None),
        )?;
        let (t, _) = send_all("verifications", addr, plain, conc, args.warmup, false)?;
        measured.push((conc, report(&label, &t, 200, conc)?));
    }
    let plain_rate = measured.first().map_or(0.0, |(_, (rate, _))| *rate);
    if sweep.len() > 1 {
        println!("{}", capacity(&measured, args.slo_p99_ms));
    }
    if !args.consent {
        return Ok(());
    }

    // Consents: a channel grants one per request for the consent-based twin of the
    // scenario (QD-GZF-001, 公共租赁住房申请: holds_valid on the 不动产权证书), then the
    // department uses each once.
    let channel = register(&args, "channel-ishandong", "channel")?;
    let grants = sign_all(
        "grants",
        total,
        &channel,
        &authority,
        "/v1/consents",
        &|n| grant_body(holder(n)),
    )?;
    let (t, bodies) = send_all("grants", addr, grants, c, args.warmup, true)?;
    let (grant_rate, _) = report("consent grants", &t, 201, c)?;
    let codes: Vec<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v["consent_code"].as_str().map(str::to_owned))
                .context("a grant answer without a consent code")
        })
        .collect::<Result<_>>()?;
    let uses = sign_all(
        "uses",
        total,
        &department,
        &authority,
        "/v1/verifications",
        &|n| body(holder(n), n as u64, promise, true, Some(&codes[n])),
    )?;
    let (t, _) = send_all("consented verifications", addr, uses, c, args.warmup, false)?;
    let (used_rate, _) = report("verifications with a consent", &t, 200, c)?;
    println!(
        "consent overhead: consumption {:+.1} % per verification; grant + consumption {:+.1} % (cost = 1/rate, same run)",
        (plain_rate / used_rate - 1.0) * 100.0,
        ((1.0 / grant_rate + 1.0 / used_rate) / (1.0 / plain_rate) - 1.0) * 100.0,
    );
    Ok(())
}

/// The sweep's verdict: the highest rate whose p99 stayed under `slo_ms`, from
/// `(connections, (rate/s, p99 ms))`.
fn capacity(measured: &[(usize, (f64, f64))], slo_ms: f64) -> String {
    match measured
        .iter()
        .filter(|(_, (_, p99))| *p99 < slo_ms)
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
    {
        Some((c, (rate, p99))) => {
            format!("capacity at p99 < {slo_ms} ms: {rate:.0}/s ({c} connections, p99 {p99:.2} ms)")
        }
        None => format!("capacity at p99 < {slo_ms} ms: none of the concurrencies kept it"),
    }
}

/// A channel's grant for one holder: QD-GZF-001, the housing bureau, `holds_valid` only.
fn grant_body(h: &Holder) -> Vec<u8> {
    let mut salt = [0u8; 16];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut salt).expect("the operating system's random source works");
    serde_json::to_vec(&serde_json::json!({
        "holder": {"type": "111", "code": h.code},
        "scenario": CONSENT_SCENARIO,
        "department": "11370200MB00001103",
        "certificates": [{"type_code": TITLE, "predicates": ["holds_valid"]}],
        "salt": BASE64_STANDARD.encode(salt),
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::capacity;

    #[test]
    fn capacity_is_the_best_rate_within_the_latency_goal() {
        let m = [
            (32, (6_000.0, 9.0)),
            (64, (8_400.0, 15.9)),
            (96, (9_500.0, 19.1)),
            (128, (9_900.0, 25.6)),
        ];
        assert_eq!(
            capacity(&m, 25.0),
            "capacity at p99 < 25 ms: 9500/s (96 connections, p99 19.10 ms)"
        );
        assert_eq!(
            capacity(&m, 5.0),
            "capacity at p99 < 5 ms: none of the concurrencies kept it"
        );
    }
}

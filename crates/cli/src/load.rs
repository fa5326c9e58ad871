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
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Instant;

const ID_CARD: &str = "11100000PL00000014901";
const SCENARIO: &str = "QD-GZFFH-001";

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
    /// Concurrent closed-loop workers, one keep-alive connection each.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
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

fn body(h: &Holder, n: u64, promise: bool, single: bool) -> Vec<u8> {
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
        {"type_code": "11100000MB03271699001", "predicates": [{"name": "holds_valid"}]}
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
    serde_json::to_vec(&serde_json::json!({
        "scenario": SCENARIO,
        "purpose": "公共租赁住房资格年度复核",
        "case_number": format!("GZFFH-2027-{n:08}"),
        "operator": "load-generator",
        "salt": BASE64_STANDARD.encode(salt),
        "holder": {"type": "111", "code": h.code},
        "certificates": certificates,
        "promise": promise,
    }))
    .unwrap_or_default()
}

/// One request, signed and serialized as HTTP/1.1 before the run.
fn http_request(signer: &DepartmentSigner, authority: &str, body: &[u8]) -> Result<Vec<u8>> {
    let signed = signer
        .sign("POST", authority, "/v1/verifications", body)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let mut out = format!(
        "POST /v1/verifications HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
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

/// Reads one HTTP/1.1 response with a `content-length` body; returns its status.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk)?;
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
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("connection closed mid-body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    by_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    first: Option<Instant>,
    last: Option<Instant>,
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
    let (key, chain) = crate::verifycmd::department_key(
        &args.keys.join(format!("{}.key.pem", args.department)),
        &args.keys.join(format!("{}.crt.pem", args.department)),
    )?;
    let signer = DepartmentSigner::new(key);
    let client = DepartmentClient::new(&args.url, signer.clone())
        .with_context(|| format!("{}: not a base URL", args.url))?;
    let reg = client
        .register(&chain, "department")
        .with_context(|| format!("registering {} at {}", args.department, args.url))?;
    if reg.status != 200 {
        bail!(
            "registering {}: HTTP {}: {}",
            args.department,
            reg.status,
            String::from_utf8_lossy(&reg.body)
        );
    }
    let authority = args
        .url
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/').to_owned())
        .with_context(|| format!("{}: only http:// URLs are supported", args.url))?;
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&authority)
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority}: no address"))?;

    // Sign every request before the run (as wrk-style generators prepare theirs), so the
    // generator's signing does not compete with the server for the two cores. The
    // signatures stay fresh: the run takes well under the ±300 s window.
    let total = args.requests + args.warmup;
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "signing requests {bar:40} {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let c = args.concurrency.max(1);
    let mut queues: Vec<Vec<Vec<u8>>> = vec![Vec::new(); c];
    std::thread::scope(|s| -> Result<()> {
        let parts: Vec<_> = (0..2usize)
            .map(|part| {
                let (holders, signer, authority, bar) = (&holders, &signer, &authority, &bar);
                let (promise, single) = (args.promise, args.single);
                s.spawn(move || -> Result<Vec<(usize, Vec<u8>)>> {
                    let mut out = Vec::new();
                    for n in (part..total).step_by(2) {
                        let h = &holders[n % holders.len()];
                        let b = body(h, n as u64, promise, single);
                        out.push((n, http_request(signer, authority, &b)?));
                        bar.inc(1);
                    }
                    Ok(out)
                })
            })
            .collect();
        for p in parts {
            for (n, req) in p
                .join()
                .map_err(|_| anyhow::anyhow!("a signer panicked"))??
            {
                queues[n % c].push(req);
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();

    eprintln!(
        "sending {} warm-up and {} measured requests over {c} connections…",
        args.warmup, args.requests
    );
    let warm_each = args.warmup / c;
    let progress = indicatif::ProgressBar::new(total as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("load {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let results: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = queues
            .into_iter()
            .map(|q| {
                let progress = &progress;
                s.spawn(move || {
                    let mut t = Tally::default();
                    let mut stream = match TcpStream::connect(addr) {
                        Ok(st) => st,
                        Err(_) => {
                            t.transport_errors += q.len() as u64;
                            return t;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let mut buf = Vec::with_capacity(16 * 1024);
                    for (i, req) in q.iter().enumerate() {
                        let started = Instant::now();
                        let r = stream
                            .write_all(req)
                            .and_then(|()| read_response(&mut stream, &mut buf));
                        let done = Instant::now();
                        progress.inc(1);
                        if i < warm_each {
                            continue;
                        }
                        t.first.get_or_insert(started);
                        t.last = Some(done);
                        match r {
                            Ok(status) => {
                                let us = (done - started).as_micros();
                                t.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                                *t.by_status.entry(status).or_default() += 1;
                            }
                            Err(_) => {
                                t.transport_errors += 1;
                                match TcpStream::connect(addr) {
                                    Ok(st) => stream = st,
                                    Err(_) => return t,
                                }
                            }
                        }
                    }
                    t
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    progress.finish_and_clear();
    let mut all = Tally::default();
    for t in results {
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
    }
    let elapsed = match (all.first, all.last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64().max(1e-9),
        _ => bail!("no request was measured"),
    };
    all.latencies_us.sort_unstable();
    let done = all.latencies_us.len();
    let ok = all.by_status.get(&200).copied().unwrap_or(0);
    println!(
        "raw limits, this machine, now: Ed25519 {sign_rate:.0} signatures/s and {verify_rate:.0} verify_strict/s per core"
    );
    println!(
        "verifications ({}, {}): {done} in {elapsed:.1} s = {:.0}/s ({ok} answered 200, statuses {:?}, {} transport errors), {c} connections",
        if args.single {
            "1 certificate type"
        } else {
            "3 certificate types"
        },
        if args.promise {
            "promise: no tlog-proof"
        } else {
            "with tlog-proof"
        },
        done as f64 / elapsed,
        all.by_status,
        all.transport_errors,
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        percentile(&all.latencies_us, 0.50),
        percentile(&all.latencies_us, 0.90),
        percentile(&all.latencies_us, 0.99),
        percentile(&all.latencies_us, 0.999),
        percentile(&all.latencies_us, 1.0),
    );
    if ok as usize != done || all.transport_errors > 0 {
        bail!("not every request was answered 200");
    }
    Ok(())
}

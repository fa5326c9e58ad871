//! `proofless bench replay`: the auditor's replay over a large, realistic log, beside the
//! raw Ed25519 limits measured in the same run.
//!
//! The log is built in memory (no disk: ten million entries are about 7 GB), with real
//! signatures by the example keys: one entry in ten a certificate (the issuer's
//! COSE_Sign1 over a demo-data certificate), one in ten a consent granted by the channel
//! and the next its use by the housing department, the rest statutory verifications,
//! each RFC 9421-signed. It is served from memory through the same [`proofless_client::Fetch`] interface the
//! replay reads the HTTP API and bundles with, so the measurement is the replay itself.

use crate::demo::{Generator, load_principals};
use crate::import::load_issuers;
use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use indicatif::{ProgressBar, ProgressStyle};
use proofless_client::audit::{self, PolicyFile, ReplayConfig};
use proofless_core::cert::SignedSecurityObject;
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{
    AccessRecorded, CertificateIssued, ConsentGranted, Decision, Entry, KeyAction, KeyEvent,
    RequestSignature,
};
use proofless_core::httpsig::{self, RequestParts, SignatureParams};
use proofless_core::keys::{self, TRUST_ANCHOR_ROLE};
use proofless_core::merkle::MemoryTree;
use proofless_core::pki::{self, Position, TrustAnchor};
use proofless_core::tiles::{self, TILE_WIDTH, TileId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `bench replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayBenchArgs {
    /// Entries in the log (besides the genesis, keys and rule set).
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// The example keys.
    #[arg(long, default_value = "keys-example")]
    keys: PathBuf,
    /// The scenario rules to publish.
    #[arg(long, default_value = "schemas/scenarios")]
    scenarios: PathBuf,
    /// Threads for building the log and for the replay (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

const T0: u64 = 1_790_000_000_000;
const HOUSING: &str = "11370200MB00001103";
const HOLDS_VALID: &str = "11100000MB03271699001/predicate/holds_valid";

struct Signer2 {
    key: SigningKey,
    key_id: [u8; 32],
    organisation: String,
}

/// The example principal `stem`: its key, and its certificate validated for `role` under
/// `anchor` (which gives the key id and the organisation).
fn principal(
    dir: &Path,
    stem: &str,
    anchor: &TrustAnchor,
    role: keys::Role,
) -> Result<(Signer2, Vec<u8>)> {
    let pem = std::fs::read(dir.join(format!("{stem}.crt.pem")))
        .with_context(|| format!("reading {stem}.crt.pem"))?;
    let der = pki::pem_certificate(&pem, Position::Chain(0))?;
    let key = SigningKey::from_pkcs8_pem(&std::fs::read_to_string(
        dir.join(format!("{stem}.key.pem")),
    )?)
    .map_err(|e| anyhow::anyhow!("{stem}.key.pem: {e}"))?;
    let p = pki::validate(std::slice::from_ref(&der), anchor, role, (T0 / 1000) as i64)
        .map_err(|e| anyhow::anyhow!("{stem}.crt.pem: {e}"))?;
    if p.verifying_key() != &key.verifying_key() {
        bail!("{stem}: the key is not the certificate's");
    }
    let organisation = p
        .organisation()
        .with_context(|| format!("{stem}: no organisation"))?
        .as_str()
        .to_owned();
    Ok((
        Signer2 {
            key,
            key_id: p.key_id(),
            organisation,
        },
        der,
    ))
}

/// What every generating thread needs.
struct Ctx {
    housing: Signer2,
    channel: Signer2,
    issuers: HashMap<String, (proofless_client::issuer::Issuer, [u8; 32])>,
    principals: Vec<crate::demo::Principal>,
}

fn signed_request(who: &Signer2, path: &str, i: u64, created: i64) -> RequestSignature {
    let body = format!("{{\"salt\":\"{i:016x}\"}}");
    let digest = httpsig::content_digest(body.as_bytes());
    let params =
        SignatureParams::proofless(&hex::encode(who.key_id), created, &format!("{i:032x}"));
    let parts =
        RequestParts::new("POST", "ledger.qingdao.example", path).header("content-digest", &digest);
    // INVARIANT: the profile's components are all present, so the base builds.
    #[allow(clippy::expect_used)]
    let base = httpsig::signature_base(&parts, &params).expect("signature base");
    RequestSignature {
        key_id: who.key_id,
        method: "POST".into(),
        path: path.into(),
        authority: "ledger.qingdao.example".into(),
        content_digest: digest,
        params: params.serialize(),
        signature: who.key.sign(base.as_bytes()).to_bytes(),
    }
}

fn consent_of(i: u64) -> [u8; 32] {
    Sha256::digest(format!("consent {i}")).into()
}

fn holder_of(i: u64) -> [u8; 32] {
    Sha256::digest(format!("holder {}", i / 10)).into()
}

/// Entry `i` of the body of the log.
fn entry(ctx: &Ctx, generator: &mut Generator, i: u64) -> Result<Vec<u8>> {
    let time = T0 + i;
    let created = (time / 1000) as i64;
    let e = match i % 10 {
        0 => {
            let record = generator
                .holder(i / 10)
                .into_iter()
                .next()
                .context("a demo holder without certificates")?;
            let (issuer, key_id) = ctx
                .issuers
                .get(&record.issuer)
                .with_context(|| format!("no issuer {}", record.issuer))?;
            let mut n = 0u8;
            let (cose, _) = issuer.sign(&record.draft, time, &mut || {
                n = n.wrapping_add(1);
                let mut s = [n; 16];
                s[..8].copy_from_slice(&i.to_be_bytes());
                s
            });
            Entry::CertificateIssued(CertificateIssued {
                time,
                holder: holder_of(i),
                issuer_key: *key_id,
                security_object: SignedSecurityObject::parse(&cose)?.log_form(),
            })
        }
        1 => Entry::ConsentGranted(ConsentGranted {
            time,
            channel: ctx.channel.organisation.clone(),
            holder: holder_of(i),
            scenario: "QD-GZF-001".into(),
            policy_version: 1,
            department: Some(HOUSING.into()),
            scope: vec![HOLDS_VALID.into()],
            expires: time + 30 * 60 * 1000,
            consent: consent_of(i),
            request_digest: Sha256::digest(i.to_be_bytes()).into(),
            request: signed_request(&ctx.channel, "/v1/consents", i, created),
        }),
        n => Entry::AccessRecorded(AccessRecorded {
            time,
            department: ctx.housing.organisation.clone(),
            operator: format!("op-{:03}", i % 200),
            scenario: if n == 2 { "QD-GZF-001" } else { "QD-GZFFH-001" }.into(),
            policy_version: 1,
            purpose: "公共租赁住房资格审核".into(),
            case_number: format!("GZF-2027-{i:08}"),
            consent: (n == 2).then(|| consent_of(i - 1)),
            certificates: Vec::new(),
            fields: vec![HOLDS_VALID.into()],
            decision: Decision::Allow,
            reason: "ok".into(),
            request_digest: Sha256::digest(i.to_be_bytes()).into(),
            request: signed_request(&ctx.housing, "/v1/verifications", i, created),
            holder: Some(holder_of(i)),
        }),
    };
    Ok(e.encode()?.into_bytes())
}

fn bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{pos}}/{{len}} [{{bar:30}}] {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Ed25519 `verify_strict` per second on one thread, and batch verification per second
/// on one thread and on `threads`, in batches of `size`, over 300-byte messages signed by
/// `LIMIT_KEYS` keys: a log's signatures come from a few departments, channels and
/// issuers, and `verify_strict_all` checks each distinct key of a batch once.
fn raw_limits(threads: usize, size: usize) -> Result<(f64, f64, f64)> {
    const LIMIT_KEYS: usize = 8;
    let keys: Vec<SigningKey> = (0..size)
        .map(|i| i % LIMIT_KEYS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let msgs: Vec<Vec<u8>> = (0..size).map(|i| vec![i as u8; 300]).collect();
    let sigs: Vec<ed25519_dalek::Signature> =
        keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let vks: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    let signed: Vec<proofless_core::ed25519::Signed<'_>> = vks
        .iter()
        .zip(&msgs)
        .zip(&sigs)
        .map(
            |((key, message), signature)| proofless_core::ed25519::Signed {
                key,
                message,
                signature,
            },
        )
        .collect();
    let n = 20_000usize;
    let t = Instant::now();
    for i in 0..n {
        vks[i % size]
            .verify_strict(&msgs[i % size], &sigs[i % size])
            .context("self-check")?;
    }
    let strict = n as f64 / t.elapsed().as_secs_f64();
    let batches = 25_600 / size;
    let batch = |count: usize| -> Result<()> {
        // The replay's own batch check (exactly `verify_strict`'s answers), not
        // ed25519-dalek's `verify_batch`.
        for i in 0..count {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            if !proofless_core::ed25519::verify_strict_all(&signed, &seed)
                .into_iter()
                .all(|ok| ok)
            {
                anyhow::bail!("self-check: a batch did not verify");
            }
        }
        Ok(())
    };
    let t = Instant::now();
    batch(batches)?;
    let one = (batches * size) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| batch(batches))).collect();
        for h in hs {
            h.join()
                .map_err(|_| anyhow::anyhow!("a thread panicked"))??;
        }
        Ok(())
    })?;
    let all = (batches * size * threads) as f64 / t.elapsed().as_secs_f64();
    Ok((strict, one, all))
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

pub(crate) fn run(args: ReplayBenchArgs) -> Result<()> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(std::num::NonZero::get)
            .unwrap_or(1)
    });
    let dir = &args.keys;
    let skey = std::fs::read_to_string(dir.join("ledger.key")).context("reading ledger.key")?;
    let signer = LedgerSigner::from_skey(skey.trim())?;
    let anchor = TrustAnchor::from_pem(&std::fs::read(dir.join("trust-anchor.crt.pem"))?)?;
    let (housing, housing_der) = principal(
        dir,
        "department-qingdao-housing",
        &anchor,
        keys::Role::Department,
    )?;
    let (channel, channel_der) = principal(dir, "channel-ishandong", &anchor, keys::Role::Channel)?;
    let principals = load_principals(dir)?;
    let mut issuers = HashMap::new();
    let mut genesis = vec![
        Entry::KeyEvent(KeyEvent {
            time: T0,
            action: KeyAction::Registered,
            role: TRUST_ANCHOR_ROLE.into(),
            key_id: anchor.key_id(),
            certificate: Some(anchor.der().to_vec()),
            organisation: None,
        }),
        Entry::KeyEvent(KeyEvent {
            time: T0,
            action: KeyAction::Registered,
            role: "ledger".into(),
            key_id: keys::key_id(&keys::ed25519_spki_der(signer.verifying_key().as_bytes())),
            certificate: None,
            organisation: None,
        }),
    ];
    for (stem, issuer) in load_issuers(dir)? {
        let (s, der) = principal(dir, &stem, &anchor, keys::Role::Issuer)?;
        genesis.push(Entry::KeyEvent(KeyEvent {
            time: T0,
            action: KeyAction::Registered,
            role: "issuer".into(),
            key_id: s.key_id,
            certificate: Some(der),
            organisation: Some(s.organisation),
        }));
        issuers.insert(stem, (issuer, s.key_id));
    }
    for (s, der, role) in [
        (&housing, housing_der, "department"),
        (&channel, channel_der, "channel"),
    ] {
        genesis.push(Entry::KeyEvent(KeyEvent {
            time: T0,
            action: KeyAction::Registered,
            role: role.into(),
            key_id: s.key_id,
            certificate: Some(der),
            organisation: Some(s.organisation.clone()),
        }));
    }
    let mut files = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&args.scenarios)
        .with_context(|| format!("reading {}", args.scenarios.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    for p in names {
        files.push(PolicyFile {
            file_name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text: std::fs::read_to_string(&p)?,
        });
    }
    let set = audit::rule_set(&files).map_err(|e| anyhow::anyhow!(e))?;
    genesis.push(Entry::PolicyPublished(set.publication(1, T0)));
    let ctx = Ctx {
        housing,
        channel,
        issuers,
        principals,
    };

    let (strict, batch64, batch64_all) = raw_limits(threads, 64)?;
    let (_, batch_one, batch_all) = raw_limits(threads, audit::BATCH)?;
    println!(
        "raw limits, this machine, now: Ed25519 verify_strict {strict:.0}/s on one thread; \
         batch verification in batches of 64: {batch64:.0}/s on one thread, {batch64_all:.0}/s on {threads} threads; \
         in batches of {}: {batch_one:.0}/s on one thread, {batch_all:.0}/s on {threads} threads",
        audit::BATCH
    );

    // Build the log: genesis, then the body in parallel chunks, appended in order.
    let mut tree = MemoryTree::new();
    let mut bundles: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    let mut in_current = 0u64;
    let mut push = |e: &[u8], tree: &mut MemoryTree| {
        tree.push(e);
        tiles::push_bundle_entry(&mut current, e);
        in_current += 1;
        if in_current == TILE_WIDTH {
            bundles.push(std::mem::take(&mut current));
            in_current = 0;
        }
    };
    for e in &genesis {
        push(e.encode()?.as_bytes(), &mut tree);
    }
    let build = bar(args.quiet, args.entries, "building entries");
    let started = Instant::now();
    let chunk = 65_536u64;
    let mut next = 0u64;
    let mut bytes = 0u64;
    while next < args.entries {
        let end = (next + chunk).min(args.entries);
        let per = (end - next).div_ceil(threads as u64);
        let parts: Vec<Result<Vec<Vec<u8>>>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads as u64)
                .map(|t| {
                    let ctx = &ctx;
                    s.spawn(move || {
                        let mut generator = Generator::new(7, &ctx.principals);
                        let a = next + t * per;
                        let b = (a + per).min(end);
                        (a..b).map(|i| entry(ctx, &mut generator, i)).collect()
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| bail!("a thread panicked")))
                .collect()
        });
        for part in parts {
            for e in part? {
                bytes += e.len() as u64;
                push(&e, &mut tree);
            }
        }
        next = end;
        build.set_position(next);
    }
    build.finish_and_clear();
    let size = tree.size();
    if in_current > 0 {
        bundles.push(current);
    }
    let mut files_out = HashMap::new();
    for (b, data) in bundles.into_iter().enumerate() {
        let width = (size - b as u64 * TILE_WIDTH).min(TILE_WIDTH);
        let id = TileId::Entries {
            index: b as u64,
            width: width as u16,
        };
        files_out.insert(id.path(), data);
    }
    for id in tiles::hash_tiles(size) {
        if let TileId::Hashes {
            level,
            index,
            width,
        } = id
        {
            let data = tree
                .tile(level, index, width)
                .map_err(|e| anyhow::anyhow!("tile {}: {e:?}", id.path()))?;
            files_out.insert(id.path(), data);
        }
    }
    files_out.insert(
        "checkpoint".into(),
        signer.sign_checkpoint(size, tree.root()),
    );
    files_out.insert(
        "v1/policies/1".into(),
        serde_json::to_vec(&serde_json::json!({"version": 1, "files": files}))?,
    );
    drop(tree);
    println!(
        "built a log of {size} entries ({:.0} bytes per entry on average) with real signatures in {:.1} s",
        bytes as f64 / args.entries.max(1) as f64,
        started.elapsed().as_secs_f64()
    );

    // The log in memory, as its read API serves it.
    let server = files_out;
    let cfg = ReplayConfig {
        ledger: signer.verifier(),
        anchor,
        threads,
        save_every: Duration::from_secs(3600),
        witnesses: None,
    };
    let progress = bar(args.quiet, size, "replaying");
    let t = Instant::now();
    let (_, report) = audit::replay(
        &server,
        &cfg,
        None,
        &mut |done, _| progress.set_position(done),
        &mut |_| {},
    )?;
    let elapsed = t.elapsed().as_secs_f64();
    progress.finish_and_clear();
    if !report.is_clean() {
        bail!(
            "the replay found anomalies in a log built honestly: {:?}",
            report.anomaly_counts
        );
    }
    let rate = size as f64 / elapsed;
    println!(
        "replay: {size} entries, {} signatures verified, in {elapsed:.1} s = {rate:.0} entries/s on {threads} threads \
         ({:.0} % of the {threads}-thread limit of batch verification in batches of the same size); 10 million entries would take {:.0} s",
        report.stats.signatures_verified,
        100.0 * report.stats.signatures_verified as f64 / elapsed / batch_all,
        1e7 / rate
    );
    if let Some(rss) = peak_rss_mib() {
        println!("peak resident memory of this process (log in memory included): {rss} MiB");
    }
    Ok(())
}

//! `proofless verify` (a department's signed verification request) and
//! `proofless receipt verify` (offline check of an answer and its receipt).

use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
use proofless_client::department::{DepartmentClient, DepartmentSigner};
use proofless_client::receipt::verify_receipt_witnessed;
use proofless_core::checkpoint::LedgerVerifier;
use proofless_core::pki::{self, Position, TrustAnchor};
use std::path::{Path, PathBuf};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// A department's key and certificate chain from PEM files.
pub(crate) fn department_key(key: &Path, cert: &Path) -> Result<(SigningKey, Vec<Vec<u8>>)> {
    let k = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?,
    )
    .map_err(|e| anyhow::anyhow!("{}: not a PKCS#8 Ed25519 key: {e}", key.display()))?;
    // One certificate, issued directly under the trust anchor (as in keys-example).
    let der = pki::pem_certificate(&read(cert)?, Position::Chain(0))
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
    Ok((k, vec![der]))
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The ledger's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The department's Ed25519 private key (PKCS#8 PEM).
    #[arg(long)]
    key: PathBuf,
    /// The department's X.509 certificate (PEM), registered with the ledger first.
    #[arg(long)]
    certificate: PathBuf,
    /// The request body (JSON; see `docs/format.md`), sent byte for byte.
    #[arg(long)]
    request: PathBuf,
    /// Where to write the response (answer and receipt), byte for byte.
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn verify(args: VerifyArgs) -> Result<()> {
    let (key, chain) = department_key(&args.key, &args.certificate)?;
    let body = read(&args.request)?;
    let client = DepartmentClient::new(&args.url, DepartmentSigner::new(key))
        .with_context(|| format!("{}: not a base URL", args.url))?;
    let reg = client
        .register(&chain, "department")
        .with_context(|| format!("registering the department key at {}", args.url))?;
    if reg.status != 200 {
        bail!(
            "registering the department key: HTTP {}: {}",
            reg.status,
            String::from_utf8_lossy(&reg.body)
        );
    }
    let resp = client
        .post("/v1/verifications", &body)
        .with_context(|| format!("POST {}/v1/verifications", args.url))?;
    std::fs::write(&args.out, &resp.body)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let decision = v["answer"]["decision"].as_str().unwrap_or("none");
    let index = &v["answer"]["access_index"];
    match v["code"].as_str() {
        Some(code) => println!(
            "HTTP {}: {decision} ({code}); access entry {index}; response in {}",
            resp.status,
            args.out.display()
        ),
        None => println!(
            "HTTP {}: {decision}; access entry {index}; response in {}",
            resp.status,
            args.out.display()
        ),
    }
    if resp.status == 200 {
        Ok(())
    } else {
        bail!("not allowed")
    }
}

/// Arguments of `receipt verify`.
#[derive(Debug, Args)]
pub(crate) struct ReceiptVerifyArgs {
    /// The saved response of `POST /v1/verifications` (allow or deny).
    #[arg(long)]
    response: PathBuf,
    /// The request body that was sent, to check that the receipt covers it.
    #[arg(long)]
    request: Option<PathBuf>,
    /// A tlog-proof redeemed later (`GET /v1/receipts/{index}/proof`) for a promise.
    #[arg(long)]
    proof: Option<PathBuf>,
    /// The ledger's verifier key (C2SP vkey).
    #[arg(long, default_value = "keys-example/ledger.vkey")]
    ledger_vkey: PathBuf,
    /// The deployment's trust anchor (PEM).
    #[arg(long, default_value = "keys-example/trust-anchor.crt.pem")]
    trust_anchor: PathBuf,
    /// Fail unless the response carries (or `--proof` gives) a tlog-proof.
    #[arg(long)]
    require_proof: bool,
    /// A witness verifier key (`name+id+base64`, C2SP tlog-cosignature); repeatable. With
    /// witnesses, the tlog-proof's checkpoint must be cosigned by `--witness-quorum` of them.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// How many of the `--witness` keys must have cosigned (default: all).
    #[arg(long)]
    witness_quorum: Option<usize>,
}

pub(crate) fn receipt_verify(args: ReceiptVerifyArgs) -> Result<()> {
    let vkey = std::fs::read_to_string(&args.ledger_vkey)
        .with_context(|| format!("reading {}", args.ledger_vkey.display()))?;
    let ledger = LedgerVerifier::from_vkey(&vkey)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.ledger_vkey.display()))?;
    let anchor = TrustAnchor::from_pem(&read(&args.trust_anchor)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.trust_anchor.display()))?;
    let response = read(&args.response)?;
    let request = args.request.as_deref().map(read).transpose()?;
    let proof = args
        .proof
        .as_deref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let policy = witness_policy(&args.witnesses, args.witness_quorum)?;
    let v = verify_receipt_witnessed(
        &response,
        request.as_deref(),
        proof.as_deref(),
        &ledger,
        &anchor,
        policy.as_ref(),
    )
    .with_context(|| format!("{}: receipt does not verify", args.response.display()))?;
    if args.require_proof && v.proven_at.is_none() {
        bail!(
            "{}: a promise without a tlog-proof; redeem it at /v1/receipts/{}/proof",
            args.response.display(),
            v.receipt.index
        );
    }
    println!(
        "ok: {:?} recorded at index {} of {} on {} (China time), {} disclosed item(s) verified against their issuers{}",
        v.receipt.decision,
        v.receipt.index,
        v.receipt.origin,
        proofless_ledger::clock::china_date(v.receipt.time),
        v.items,
        match v.proven_at {
            Some(size) => format!(", included in the checkpoint of size {size}"),
            None => ", no tlog-proof (promise)".to_owned(),
        },
    );
    if !v.witnesses.is_empty() {
        println!("cosigned by: {}", v.witnesses.join(", "));
    }
    Ok(())
}

/// The channel and holder arguments shared by the `consent` commands.
#[derive(Debug, Args)]
pub(crate) struct ChannelArgs {
    /// The ledger's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The channel's Ed25519 private key (PKCS#8 PEM).
    #[arg(long, default_value = "keys-example/channel-ishandong.key.pem")]
    key: PathBuf,
    /// The channel's X.509 certificate (PEM), registered with the ledger first.
    #[arg(long, default_value = "keys-example/channel-ishandong.crt.pem")]
    certificate: PathBuf,
    /// Holder code type: 111 (公民身份号码) or 001 (统一社会信用代码).
    #[arg(long, default_value = "111")]
    holder_type: String,
    /// The holder code (sent in the request body, never in a URL).
    #[arg(long)]
    holder: String,
}

/// Arguments of `consent grant`.
#[derive(Debug, Args)]
pub(crate) struct GrantArgs {
    #[command(flatten)]
    channel: ChannelArgs,
    /// The (consent-based) scenario code.
    #[arg(long)]
    scenario: String,
    /// The one department (统一社会信用代码) allowed to use it; default: any the scenario names.
    #[arg(long)]
    department: Option<String>,
    /// What the holder agrees to, as JSON (`[{"type_code", "disclose", "claims",
    /// "predicates"}]`); default: everything the scenario allows.
    #[arg(long)]
    certificates: Option<String>,
    /// Lifetime in seconds (default 1800, at most 86400).
    #[arg(long)]
    expires_in: Option<u64>,
}

/// Arguments of `consent revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    channel: ChannelArgs,
    /// The consent code.
    #[arg(long)]
    code: String,
}

/// Arguments of `consent history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    #[command(flatten)]
    channel: ChannelArgs,
    /// Rows per page (1–100).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Only accesses with an index below this (the previous page's `next_before`).
    #[arg(long)]
    before: Option<u64>,
}

fn random_salt() -> Result<String> {
    use base64::Engine as _;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(salt))
}

/// Signs `body` to `path` as the channel (registering it first) and prints the answer.
fn channel_call(c: &ChannelArgs, path: &str, mut body: serde_json::Value) -> Result<()> {
    let (key, chain) = department_key(&c.key, &c.certificate)?;
    let client = DepartmentClient::new(&c.url, DepartmentSigner::new(key))
        .with_context(|| format!("{}: not a base URL", c.url))?;
    let reg = client
        .register(&chain, "channel")
        .with_context(|| format!("registering the channel key at {}", c.url))?;
    if reg.status != 200 {
        bail!(
            "registering the channel key: HTTP {}: {}",
            reg.status,
            String::from_utf8_lossy(&reg.body)
        );
    }
    body["holder"] = serde_json::json!({"type": c.holder_type, "code": c.holder});
    body["salt"] = random_salt()?.into();
    let resp = client
        .post(path, &serde_json::to_vec(&body)?)
        .with_context(|| format!("POST {}{path}", c.url))?;
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    println!("{}", serde_json::to_string_pretty(&v)?);
    if (200..300).contains(&resp.status) {
        Ok(())
    } else {
        bail!("HTTP {}", resp.status)
    }
}

pub(crate) fn consent_grant(a: GrantArgs) -> Result<()> {
    let mut body = serde_json::json!({ "scenario": a.scenario });
    if let Some(d) = a.department {
        body["department"] = d.into();
    }
    if let Some(c) = a.certificates {
        body["certificates"] = serde_json::from_str(&c).context("--certificates is not JSON")?;
    }
    if let Some(e) = a.expires_in {
        body["expires_in"] = e.into();
    }
    channel_call(&a.channel, "/v1/consents", body)
}

pub(crate) fn consent_revoke(a: RevokeArgs) -> Result<()> {
    channel_call(
        &a.channel,
        "/v1/consents/revoke",
        serde_json::json!({ "consent_code": a.code }),
    )
}

pub(crate) fn consent_history(a: HistoryArgs) -> Result<()> {
    let mut body = serde_json::json!({ "limit": a.limit });
    if let Some(b) = a.before {
        body["before"] = b.into();
    }
    channel_call(&a.channel, "/v1/holder-accesses", body)
}

/// The k-of-n witness policy of `--witness` keys and `--witness-quorum` (default: all), or
/// `None` without witnesses.
pub(crate) fn witness_policy(
    witnesses: &[String],
    quorum: Option<usize>,
) -> Result<Option<proofless_core::cosign::WitnessPolicy>> {
    if witnesses.is_empty() {
        return Ok(None);
    }
    let keys = witnesses
        .iter()
        .map(|k| {
            proofless_core::cosign::WitnessVerifier::from_vkey(k)
                .map_err(|e| anyhow::anyhow!("--witness {k:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let k = quorum.unwrap_or(keys.len());
    Ok(Some(
        proofless_core::cosign::WitnessPolicy::new(keys, k)
            .map_err(|e| anyhow::anyhow!("witnesses: {e}"))?,
    ))
}

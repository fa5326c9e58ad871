//! `proofless issue` and `proofless certificate verify`.

use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
use proofless_client::certificate::{CertificateFile, verify_certificate};
use proofless_client::issuer::{Draft, Issuer, os_salt};
use proofless_core::cert::{FieldValue, HOLDER_ITEM};
use proofless_core::ids::{CertificateId, HolderCode, TypeCode};
use proofless_core::keys::Role;
use proofless_core::pki::{self, Position, TrustAnchor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `issue`.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// The certificate to issue (JSON): `type_code`, `serial`, `version`,
    /// `holder_code_type`, `holder_code`, `valid_from`, `valid_until`, `values`.
    #[arg(long)]
    values: PathBuf,
    /// The issuer's Ed25519 private key (PKCS#8 PEM).
    #[arg(long)]
    issuer_key: PathBuf,
    /// The issuer's X.509 certificate (PEM).
    #[arg(long)]
    issuer_cert: PathBuf,
    /// The deployment's trust anchor (PEM), to check the issuer certificate first.
    #[arg(long)]
    trust_anchor: PathBuf,
    /// Submit to this ledger (base URL) ...
    #[arg(long, conflicts_with = "out")]
    url: Option<String>,
    /// ... or write the signed submission to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValuesFile {
    type_code: String,
    serial: String,
    #[serde(default = "one")]
    version: u16,
    holder_code_type: String,
    holder_code: String,
    valid_from: String,
    #[serde(default)]
    valid_until: Option<String>,
    values: BTreeMap<String, serde_json::Value>,
}

fn one() -> u16 {
    1
}

fn read_anchor(path: &Path) -> Result<TrustAnchor> {
    TrustAnchor::from_pem(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub(crate) fn issue(args: IssueArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.values)
        .with_context(|| format!("reading {}", args.values.display()))?;
    let v: ValuesFile =
        serde_json::from_str(&text).with_context(|| format!("{}", args.values.display()))?;
    let key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(&args.issuer_key)
            .with_context(|| format!("reading {}", args.issuer_key.display()))?,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.issuer_key.display()))?;
    let der = pki::pem_certificate(
        &std::fs::read(&args.issuer_cert)
            .with_context(|| format!("reading {}", args.issuer_cert.display()))?,
        Position::Chain(0),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.issuer_cert.display()))?;
    let anchor = read_anchor(&args.trust_anchor)?;
    let now = proofless_ledger::clock::Clock::now_millis(&proofless_ledger::clock::SystemClock);
    let principal = pki::validate(
        std::slice::from_ref(&der),
        &anchor,
        Role::Issuer,
        (now / 1000) as i64,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.issuer_cert.display()))?;
    let uscc = principal
        .organisation()
        .context("the issuer certificate names no organisation")?;
    let type_code = TypeCode::parse(&v.type_code)
        .map_err(|e| anyhow::anyhow!("{}: type_code: {e}", args.values.display()))?;
    let id = CertificateId::new(type_code, uscc, &v.serial, v.version)
        .map_err(|e| anyhow::anyhow!("{}: serial/version: {e}", args.values.display()))?;
    let holder = HolderCode::parse(&v.holder_code_type, &v.holder_code)
        .map_err(|e| anyhow::anyhow!("{}: holder_code: {e}", args.values.display()))?;
    let mut values = BTreeMap::new();
    for (name, value) in v.values {
        let fv = match value {
            serde_json::Value::String(s) => FieldValue::Text(s),
            serde_json::Value::Bool(b) => FieldValue::Bool(b),
            serde_json::Value::Number(n) if n.as_i64().is_some() => {
                FieldValue::Int(n.as_i64().unwrap_or_default())
            }
            _ => bail!(
                "{}: values.{name}: only strings, integers and booleans",
                args.values.display()
            ),
        };
        if name == HOLDER_ITEM {
            bail!("{}: values.{name}: reserved name", args.values.display());
        }
        values.insert(name, fv);
    }
    let draft = Draft {
        id,
        holder,
        valid_from: v.valid_from,
        valid_until: v.valid_until,
        values,
    };
    let body = Issuer::new(key, vec![der]).issue_body(&draft, now, &mut os_salt);
    let json = serde_json::to_vec(&body)?;
    match (&args.url, &args.out) {
        (_, Some(out)) => {
            std::fs::write(out, &json).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", draft.id);
        }
        (Some(url), None) => {
            let resp = ureq::post(&format!("{}/v1/certificates", url.trim_end_matches('/')))
                .config()
                .http_status_as_error(false)
                .build()
                .header("content-type", "application/json")
                .send(&json[..])
                .with_context(|| format!("POST {url}/v1/certificates"))?;
            let status = resp.status();
            let text = resp.into_body().read_to_string().unwrap_or_default();
            if !status.is_success() {
                bail!("the ledger refused the certificate ({status}): {text}");
            }
            println!("{text}");
        }
        (None, None) => bail!("give --url to submit or --out to write the submission"),
    }
    Ok(())
}

/// Arguments of `certificate verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A certificate file: `{"security_object": …, "items": […]}` (base64), as written by
    /// `proofless issue --out` or received in a disclosure.
    #[arg(long)]
    file: PathBuf,
    /// The deployment's trust anchor (PEM).
    #[arg(long)]
    trust_anchor: PathBuf,
}

pub(crate) fn verify(args: VerifyArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let file: CertificateFile =
        serde_json::from_str(&text).with_context(|| format!("{}", args.file.display()))?;
    let anchor = read_anchor(&args.trust_anchor)?;
    let v = verify_certificate(&file, &anchor, None)
        .map_err(|e| anyhow::anyhow!("{} FAILED verification: {e}", args.file.display()))?;
    println!(
        "ok: signature, issuer chain and {} disclosed items verified",
        v.items.len()
    );
    println!("  certificate {}", v.object.certificate_id);
    println!("  type        {}", v.object.type_code);
    println!(
        "  issuer      {} {}",
        v.issuer_organisation,
        v.issuer_name.as_deref().unwrap_or("")
    );
    println!(
        "  valid       {} .. {}",
        v.object.valid_from,
        v.object.valid_until.as_deref().unwrap_or("(no end)")
    );
    for item in &v.items {
        let value = match &item.value {
            FieldValue::Text(s) => s.clone(),
            FieldValue::Int(i) => i.to_string(),
            FieldValue::Bool(b) => b.to_string(),
        };
        println!("  {:<28} {}", item.name, value);
    }
    Ok(())
}

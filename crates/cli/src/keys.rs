//! `proofless keys`: new random ledger keys, and the deterministic example set.
//!
//! The example set (`keys-example/`) is derived from fixed seeds —
//! `SHA-256("proofless keys-example v1\0" ‖ name)` — with fixed validity dates and serial
//! numbers, and Ed25519 signatures are deterministic, so running
//! `proofless keys example --out keys-example` reproduces the committed files byte for
//! byte. Anyone can do the same: **these keys are public and must never be used in
//! production.**

use crate::config::{self, write_durably};
use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::keys::Role;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber, date_time_ymd,
};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Origin of the example log.
pub(crate) const EXAMPLE_ORIGIN: &str = "ledger.qingdao.example/proofless/v1";

/// `proofless keys generate`.
pub(crate) fn generate(origin: &str, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(config::LEDGER_KEY_FILE);
    if path.exists() {
        anyhow::bail!("{} exists; refusing to overwrite a key", path.display());
    }
    let signer = config::new_signer(origin)?;
    config::write_key_files(out, &signer)?;
    println!("{}", signer.vkey());
    Ok(())
}

fn example_seed(name: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"proofless keys-example v1\0")
        .chain_update(name.as_bytes())
        .finalize()
        .into()
}

fn pkcs8_pem(seed: [u8; 32]) -> Result<String> {
    let key = SigningKey::from_bytes(&seed);
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("PKCS#8 encoding: {e}"))?
        .to_string())
}

fn role_extension(role: Role) -> CustomExtension {
    // ExtendedKeyUsage ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (RFC 5280 §4.2.1.12).
    let oid = role.oid_der();
    let mut der = vec![0x30, oid.len() as u8];
    der.extend_from_slice(&oid);
    CustomExtension::from_oid_content(&[2, 5, 29, 37], der)
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    // RFC 5280 Appendix A: countryName is a PrintableString.
    if let Ok(cn) = rcgen::string::PrintableString::try_from("CN") {
        dn.push(DnType::CountryName, rcgen::DnValue::PrintableString(cn));
    }
    dn.push(
        DnType::OrganizationName,
        "青岛市大数据发展管理局（示例 EXAMPLE）",
    );
    dn.push(DnType::CommonName, cn);
    dn
}

const README: &str = "# keys-example — EXAMPLE KEYS, NEVER FOR PRODUCTION

Every file here is derived from public seeds (`SHA-256(\"proofless keys-example v1\\0\" ‖ name)`).
Anyone can recompute the private keys: they exist only so that the server, the tests and the
README walkthrough work out of the box.

Regenerate (a test checks that the committed files are exactly what this writes):

    cargo run -p proofless-cli -- keys example --out keys-example

| file | what |
|---|---|
| `trust-anchor.key.pem`, `trust-anchor.crt.pem` | the deployment's example trust anchor CA (Ed25519, self-signed) |
| `ledger.key` | the ledger's checkpoint signer key (C2SP signed-note `PRIVATE+KEY+…`) |
| `ledger.vkey` | its verifier key (`<origin>+<key id>+<key>`): pin this in clients |
| `ledger.crt.pem` | the ledger key's X.509 certificate under the trust anchor, role `ledger` |
| `proofless.toml` | server configuration using the files above |
";

const CONFIG: &str =
    "# Example configuration: uses the EXAMPLE keys in this directory (never for production).
# Relative paths are resolved against this file's directory.
data = \"../data\"
listen = \"127.0.0.1:8080\"
ledger_key = \"ledger.key\"
ledger_certificate = \"ledger.crt.pem\"
trust_anchor = \"trust-anchor.crt.pem\"
";

/// The example files, by name.
pub(crate) fn example_files() -> Result<Vec<(&'static str, Vec<u8>)>> {
    let ta_pem = pkcs8_pem(example_seed("trust-anchor"))?;
    let ta_key = KeyPair::from_pem(&ta_pem).context("trust anchor key")?;
    let mut ta = CertificateParams::default();
    ta.distinguished_name = name("Proofless Example Trust Anchor (NOT FOR PRODUCTION)");
    ta.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    ta.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ta.not_before = date_time_ymd(2026, 1, 1);
    ta.not_after = date_time_ymd(2036, 1, 1);
    ta.serial_number = Some(SerialNumber::from(1u64));
    let ta_cert = ta
        .self_signed(&ta_key)
        .context("signing the trust anchor")?;
    let issuer = Issuer::from_params(&ta, &ta_key);

    let ledger_seed = example_seed("ledger");
    let signer = LedgerSigner::from_seed(EXAMPLE_ORIGIN, ledger_seed)
        .map_err(|e| anyhow::anyhow!("ledger key: {e}"))?;
    let ledger_key = KeyPair::from_pem(&pkcs8_pem(ledger_seed)?).context("ledger key")?;
    let mut lp = CertificateParams::default();
    lp.distinguished_name = name("Proofless Example Ledger (NOT FOR PRODUCTION)");
    lp.is_ca = IsCa::ExplicitNoCa;
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    lp.custom_extensions = vec![role_extension(Role::Ledger)];
    lp.use_authority_key_identifier_extension = true;
    lp.not_before = date_time_ymd(2026, 1, 1);
    lp.not_after = date_time_ymd(2031, 1, 1);
    lp.serial_number = Some(SerialNumber::from(2u64));
    let ledger_cert = lp
        .signed_by(&ledger_key, &issuer)
        .context("signing the ledger certificate")?;

    Ok(vec![
        ("README.md", README.as_bytes().to_vec()),
        ("proofless.toml", CONFIG.as_bytes().to_vec()),
        ("trust-anchor.key.pem", ta_pem.into_bytes()),
        ("trust-anchor.crt.pem", ta_cert.pem().into_bytes()),
        ("ledger.key", format!("{}\n", signer.skey()).into_bytes()),
        ("ledger.vkey", format!("{}\n", signer.vkey()).into_bytes()),
        ("ledger.crt.pem", ledger_cert.pem().into_bytes()),
    ])
}

/// `proofless keys example`.
pub(crate) fn write_examples(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (file, data) in example_files()? {
        write_durably(
            &out.join(file),
            &data,
            file.ends_with(".key") || file.ends_with(".key.pem"),
        )?;
        println!("wrote {}", out.join(file).display());
    }
    Ok(())
}

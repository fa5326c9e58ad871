//! `proofless keys`: new random ledger keys, and the deterministic example set.
//!
//! The example set (`keys-example/`) is derived from fixed seeds —
//! `SHA-256("proofless keys-example v1\0" ‖ name)` — with fixed validity dates and serial
//! numbers, and Ed25519 signatures are deterministic, so running
//! `proofless keys example --out keys-example` reproduces the committed files byte for
//! byte. Anyone can do the same: **these keys are public and must never be used in
//! production.**
//!
//! Besides the trust anchor and the ledger, the set holds one example principal for each
//! party of DESIGN.md §1 — issuers (together allowed every certificate type under
//! `schemas/certificates/`, each type to exactly one issuer), relying departments, the
//! 爱山东 channel, an auditor and a witness — each a key and a certificate signed by the
//! trust anchor, with its role, its organisation's 统一社会信用代码 and, for an issuer, the
//! certificate types it may issue (`proofless_core::pki`). `principals.json` lists them.

use crate::config::{self, write_durably};
use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::ids::{TypeCode, Uscc};
use proofless_core::keys::{self, Role};
use proofless_core::pki::{self, TrustAnchor};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, date_time_ymd,
};
use serde::Serialize;
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

/// One example principal: a key and a certificate under the example trust anchor.
struct ExamplePrincipal {
    /// File stem: `<role>-<slug>`; also the seed name.
    name: &'static str,
    role: Role,
    /// The organisation's name (subject O).
    organisation: &'static str,
    /// The first 17 characters of the organisation's (minted, example) 统一社会信用代码;
    /// the check character is computed.
    uscc17: &'static str,
    /// Subject CN.
    common_name: &'static str,
    /// For an issuer: the 证照类型代码 it may issue. Every type under
    /// `schemas/certificates/` is allowed to exactly one example issuer (tested).
    type_codes: &'static [&'static str],
}

/// The example principals, in serial-number order (serials 3, 4, …; 1 is the trust anchor
/// and 2 the ledger). USCCs are minted with the GB 32100 check: `11` 机关 (`13` for a
/// mass organisation), region `370200` (青岛市) or `370000` (山东省), `MB` + a serial.
const PRINCIPALS: &[ExamplePrincipal] = &[
    ExamplePrincipal {
        name: "issuer-qingdao-public-security",
        role: Role::Issuer,
        organisation: "青岛市公安局",
        uscc17: "11370200MB0000101",
        common_name: "青岛市公安局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL00000014901", // 居民身份证
            "11100000PL00000014902", // 居民户口簿
            "11100000PL00000014903", // 居住证
            "11100000PL00000014904", // 机动车驾驶证
            "11100000PL00000014905", // 机动车行驶证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-market-regulation",
        role: Role::Issuer,
        organisation: "青岛市市场监督管理局",
        uscc17: "11370200MB0000102",
        common_name: "青岛市市场监督管理局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL0000004D901", // 营业执照
            "11100000PL0000004D902", // 食品经营许可证
            "11100000PL0000004D903", // 特种设备作业人员证
            "11100000PL0000005G901", // 药品经营许可证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-civil-affairs",
        role: Role::Issuer,
        organisation: "青岛市民政局",
        uscc17: "11370200MB0000103",
        common_name: "青岛市民政局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL00000027901", // 结婚证
            "11100000PL00000027902", // 离婚证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-natural-resources",
        role: Role::Issuer,
        organisation: "青岛市自然资源和规划局",
        uscc17: "11370200MB0000104",
        common_name: "青岛市自然资源和规划局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000MB03271699001", // 不动产权证书
            "11100000MB03271699022", // 不动产登记证明
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-health",
        role: Role::Issuer,
        organisation: "青岛市卫生健康委员会",
        uscc17: "11370200MB0000105",
        common_name: "青岛市卫生健康委员会 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL0000003A901", // 出生医学证明
            "11100000PL0000003A902", // 居民死亡医学证明（推断）书
            "11100000PL0000003A903", // 医师执业证书
            "11100000PL0000003A904", // 护士执业证书
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-human-resources",
        role: Role::Issuer,
        organisation: "青岛市人力资源和社会保障局",
        uscc17: "11370200MB0000106",
        common_name: "青岛市人力资源和社会保障局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL0000006K901", // 社会保障卡
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-transport",
        role: Role::Issuer,
        organisation: "青岛市交通运输局",
        uscc17: "11370200MB0000107",
        common_name: "青岛市交通运输局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL0000009W901", // 道路运输经营许可证
            "11100000PL0000009W902", // 道路运输从业人员从业资格证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-education",
        role: Role::Issuer,
        organisation: "青岛市教育局",
        uscc17: "11370200MB0000108",
        common_name: "青岛市教育局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL0000008R901", // 毕业证书
            "11100000PL0000008R902", // 学位证书
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-disabled-persons-federation",
        role: Role::Issuer,
        organisation: "青岛市残疾人联合会",
        uscc17: "13370200MB0000109",
        common_name: "青岛市残疾人联合会 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "13100000PL0000007G901", // 残疾人证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-housing",
        role: Role::Issuer,
        organisation: "青岛市住房和城乡建设局",
        uscc17: "11370200MB0000110",
        common_name: "青岛市住房和城乡建设局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000000013338W901", // 建筑业企业资质证书
        ],
    },
    ExamplePrincipal {
        name: "issuer-shandong-housing",
        role: Role::Issuer,
        organisation: "山东省住房和城乡建设厅",
        uscc17: "11370000MB0000201",
        common_name: "山东省住房和城乡建设厅 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000000013338W001", // 二级建造师注册证书
            "11100000000013338W011", // 建筑施工企业安全生产管理人员考核合格证书
            "11100000000013338W032", // 建筑施工特种作业人员操作资格证书
            "11100000000013338W059", // 二级造价工程师（土木建筑工程）
            "11100000000013338W082", // 二级造价工程师（安装工程）
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-ecology",
        role: Role::Issuer,
        organisation: "青岛市生态环境局",
        uscc17: "11370200MB0000111",
        common_name: "青岛市生态环境局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL00000102901", // 排污许可证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-tobacco",
        role: Role::Issuer,
        organisation: "青岛市烟草专卖局",
        uscc17: "11370200MB0000112",
        common_name: "青岛市烟草专卖局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL00000115901", // 烟草专卖零售许可证
        ],
    },
    ExamplePrincipal {
        name: "issuer-qingdao-veterans",
        role: Role::Issuer,
        organisation: "青岛市退役军人事务局",
        uscc17: "11370200MB0000113",
        common_name: "青岛市退役军人事务局 电子证照签发（示例 EXAMPLE）",
        type_codes: &[
            "11100000PL00000128901", // 退役军人优待证
        ],
    },
    ExamplePrincipal {
        name: "department-qingdao-housing",
        role: Role::Department,
        organisation: "青岛市住房和城乡建设局",
        uscc17: "11370200MB0000110",
        common_name: "青岛市住房和城乡建设局 用证部门（示例 EXAMPLE）",
        type_codes: &[],
    },
    ExamplePrincipal {
        name: "department-qingdao-medical-insurance",
        role: Role::Department,
        organisation: "青岛市医疗保障局",
        uscc17: "11370200MB0000114",
        common_name: "青岛市医疗保障局 用证部门（示例 EXAMPLE）",
        type_codes: &[],
    },
    ExamplePrincipal {
        name: "department-qingdao-human-resources",
        role: Role::Department,
        organisation: "青岛市人力资源和社会保障局",
        uscc17: "11370200MB0000106",
        common_name: "青岛市人力资源和社会保障局 用证部门（示例 EXAMPLE）",
        type_codes: &[],
    },
    ExamplePrincipal {
        name: "channel-ishandong",
        role: Role::Channel,
        organisation: "山东省大数据局",
        uscc17: "11370000MB0000202",
        common_name: "爱山东 App 后端（示例 EXAMPLE）",
        type_codes: &[],
    },
    ExamplePrincipal {
        name: "auditor-qingdao-audit",
        role: Role::Auditor,
        organisation: "青岛市审计局",
        uscc17: "11370200MB0000115",
        common_name: "青岛市审计局 审计（示例 EXAMPLE）",
        type_codes: &[],
    },
    ExamplePrincipal {
        name: "witness-qingdao-audit",
        role: Role::Witness,
        organisation: "青岛市审计局",
        uscc17: "11370200MB0000115",
        common_name: "青岛市审计局 检查点见证（示例 EXAMPLE）",
        type_codes: &[],
    },
];

/// One row of `principals.json`.
#[derive(Serialize)]
struct PrincipalEntry {
    name: &'static str,
    role: &'static str,
    organisation: &'static str,
    uscc: String,
    common_name: &'static str,
    key: String,
    certificate: String,
    /// Hex SHA-256 of the DER SubjectPublicKeyInfo.
    key_id: String,
    type_codes: &'static [&'static str],
}

/// `principals.json`.
#[derive(Serialize)]
struct PrincipalsFile {
    note: &'static str,
    trust_anchor: &'static str,
    principals: Vec<PrincipalEntry>,
}

/// A stand-in for the certificate-types extension OID while rcgen writes the certificate:
/// `2.25.1.2.….21`, whose DER is exactly as long as the real OID
/// ([`pki::CERTIFICATE_TYPES_OID_DER`]). rcgen takes OIDs as `u64` arcs and the real one
/// has an arc beyond `u64`, so the stand-in is swapped for it and the certificate signed
/// again ([`with_certificate_types_oid`]).
const PLACEHOLDER_ARCS: [u64; 23] = [
    2, 25, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
];

fn placeholder_oid_der() -> Vec<u8> {
    let mut der = vec![0x06, 22, 0x69];
    der.extend(1u8..=21);
    der
}

/// Replaces the stand-in OID with the real certificate-types OID and signs the TBS again
/// with the issuer's key (Ed25519 signatures are deterministic, so this is reproducible).
fn with_certificate_types_oid(mut der: Vec<u8>, issuer: &SigningKey) -> Result<Vec<u8>> {
    use ed25519_dalek::Signer;
    use x509_parser::prelude::FromDer;

    let placeholder = placeholder_oid_der();
    let at: Vec<usize> = der
        .windows(placeholder.len())
        .enumerate()
        .filter(|(_, w)| *w == placeholder.as_slice())
        .map(|(i, _)| i)
        .collect();
    let [at] = at.as_slice() else {
        anyhow::bail!("the placeholder OID is not found exactly once");
    };
    der[*at..*at + placeholder.len()].copy_from_slice(&pki::CERTIFICATE_TYPES_OID_DER);
    let signature = {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
            .map_err(|e| anyhow::anyhow!("re-reading a generated certificate: {e}"))?;
        issuer.sign(cert.tbs_certificate.as_ref()).to_bytes()
    };
    // The signature BIT STRING ends the certificate, and an Ed25519 signature is 64 bytes.
    let n = der.len();
    der[n - 64..].copy_from_slice(&signature);
    Ok(der)
}

fn principal_name(p: &ExamplePrincipal, uscc: &Uscc) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Ok(cn) = rcgen::string::PrintableString::try_from("CN") {
        dn.push(DnType::CountryName, DnValue::PrintableString(cn));
    }
    dn.push(DnType::OrganizationName, p.organisation);
    // organizationIdentifier (X.520, 2.5.4.97): the 统一社会信用代码.
    if let Ok(code) = rcgen::string::PrintableString::try_from(uscc.as_str()) {
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 97]),
            DnValue::PrintableString(code),
        );
    }
    dn.push(DnType::CommonName, p.common_name);
    dn
}

/// The key and certificate PEMs of one example principal, and its key identifier.
fn principal_files(
    p: &ExamplePrincipal,
    serial: u64,
    issuer: &Issuer<'_, &KeyPair>,
    issuer_key: &SigningKey,
) -> Result<(String, String, [u8; 32])> {
    let uscc = Uscc::from_first17(p.uscc17)
        .map_err(|e| anyhow::anyhow!("{}: organisation code: {e}", p.name))?;
    let types = p
        .type_codes
        .iter()
        .map(|t| TypeCode::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: type code: {e}", p.name))?;
    let seed = example_seed(p.name);
    let key_pem = pkcs8_pem(seed)?;
    let key = KeyPair::from_pem(&key_pem).with_context(|| format!("{} key", p.name))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = principal_name(p, &uscc);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.custom_extensions = vec![role_extension(p.role)];
    if !types.is_empty() {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &PLACEHOLDER_ARCS,
                pki::certificate_types_extension_value(&types),
            ));
    }
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(2026, 1, 1);
    params.not_after = date_time_ymd(2031, 1, 1);
    params.serial_number = Some(SerialNumber::from(serial));
    let cert = params
        .signed_by(&key, issuer)
        .with_context(|| format!("signing the {} certificate", p.name))?;
    let der = if types.is_empty() {
        cert.der().to_vec()
    } else {
        with_certificate_types_oid(cert.der().to_vec(), issuer_key)?
    };
    let key_id = keys::key_id(&keys::ed25519_spki_der(
        SigningKey::from_bytes(&seed).verifying_key().as_bytes(),
    ));
    Ok((key_pem, pem_certificate(&der)?, key_id))
}

/// PEM `CERTIFICATE` armour (RFC 7468: 64 columns, LF line ends).
fn pem_certificate(der: &[u8]) -> Result<String> {
    ed25519_dalek::ed25519::pkcs8::spki::der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)
        .map_err(|e| anyhow::anyhow!("PEM encoding: {e}"))
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
| `principals.json` | the example principals below: files, role, organisation, 统一社会信用代码, key id, certificate types |

## Example principals

Each `<name>.key.pem` (PKCS#8) and `<name>.crt.pem` pair is an Ed25519 key and its certificate,
signed by the trust anchor, valid 2026-01-01 to 2031-01-01. The certificate carries the role as an
extended key usage (`2.25.126625176073788436213964392391781943468.1.<n>`), the organisation's
统一社会信用代码 as the subject's `organizationIdentifier` (2.5.4.97), and, for an issuer, the
certificate types it may issue (extension `2.25.126625176073788436213964392391781943468.2.1`,
`SEQUENCE OF UTF8String`). `proofless_core::pki::validate` checks all of it. Organisation codes
are minted for the example (valid check characters, not the real codes of these bodies); every
certificate type under `schemas/certificates/` is allowed to exactly one example issuer.

";

const CONFIG: &str =
    "# Example configuration: uses the EXAMPLE keys in this directory (never for production).
# Relative paths are resolved against this file's directory.
data = \"../data\"
listen = \"127.0.0.1:8080\"
ledger_key = \"ledger.key\"
ledger_certificate = \"ledger.crt.pem\"
trust_anchor = \"trust-anchor.crt.pem\"
certificate_types = \"../schemas/certificates\"
scenarios = \"../schemas/scenarios\"
";

/// The example files, by name.
pub(crate) fn example_files() -> Result<Vec<(String, Vec<u8>)>> {
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

    let ta_signing = SigningKey::from_bytes(&example_seed("trust-anchor"));
    let anchor = TrustAnchor::from_der(ta_cert.der())
        .map_err(|e| anyhow::anyhow!("the example trust anchor: {e}"))?;
    let mut principal_files_out = Vec::new();
    let mut entries = Vec::new();
    for (p, serial) in PRINCIPALS.iter().zip(3u64..) {
        let (key_pem, crt_pem, key_id) = principal_files(p, serial, &issuer, &ta_signing)?;
        // Refuse to write a certificate that the ledger's own policy would refuse.
        let der = pki::pem_certificate(crt_pem.as_bytes(), pki::Position::Chain(0))
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.name))?;
        pki::validate(&[der], &anchor, p.role, EXAMPLE_NOT_BEFORE)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.name))?;
        let key_file = format!("{}.key.pem", p.name);
        let crt_file = format!("{}.crt.pem", p.name);
        entries.push(PrincipalEntry {
            name: p.name,
            role: p.role.name(),
            organisation: p.organisation,
            uscc: Uscc::from_first17(p.uscc17)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.name))?
                .to_string(),
            common_name: p.common_name,
            key: key_file.clone(),
            certificate: crt_file.clone(),
            key_id: hex::encode(key_id),
            type_codes: p.type_codes,
        });
        principal_files_out.push((key_file, key_pem.into_bytes()));
        principal_files_out.push((crt_file, crt_pem.into_bytes()));
    }
    let mut principals_json = serde_json::to_string_pretty(&PrincipalsFile {
        note: "EXAMPLE KEYS, NEVER FOR PRODUCTION",
        trust_anchor: "trust-anchor.crt.pem",
        principals: entries,
    })?;
    principals_json.push('\n');

    let mut files = vec![
        ("README.md".to_owned(), readme().into_bytes()),
        ("proofless.toml".to_owned(), CONFIG.as_bytes().to_vec()),
        ("trust-anchor.key.pem".to_owned(), ta_pem.into_bytes()),
        (
            "trust-anchor.crt.pem".to_owned(),
            ta_cert.pem().into_bytes(),
        ),
        (
            "ledger.key".to_owned(),
            format!("{}\n", signer.skey()).into_bytes(),
        ),
        (
            "ledger.vkey".to_owned(),
            format!("{}\n", signer.vkey()).into_bytes(),
        ),
        ("ledger.crt.pem".to_owned(), ledger_cert.pem().into_bytes()),
        ("principals.json".to_owned(), principals_json.into_bytes()),
    ];
    files.extend(principal_files_out);
    Ok(files)
}

/// 2026-01-01T00:00:00Z, the start of every example certificate's validity.
const EXAMPLE_NOT_BEFORE: i64 = 1_767_225_600;

/// `README.md`: the fixed text, then one row per example principal.
fn readme() -> String {
    let mut out = String::from(README);
    out.push_str("| files (`.key.pem`, `.crt.pem`) | role | organisation | 统一社会信用代码 | certificate types |\n");
    out.push_str("|---|---|---|---|---|\n");
    for p in PRINCIPALS {
        // Checked in `example_files` before the README is written.
        let uscc = Uscc::from_first17(p.uscc17)
            .map(|u| u.to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} | `{}` | {} |\n",
            p.name,
            p.role.name(),
            p.organisation,
            uscc,
            p.type_codes
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// `proofless keys example`.
pub(crate) fn write_examples(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (file, data) in example_files()? {
        write_durably(
            &out.join(&file),
            &data,
            file.ends_with(".key") || file.ends_with(".key.pem"),
        )?;
        println!("wrote {}", out.join(&file).display());
    }
    Ok(())
}

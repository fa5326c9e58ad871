//! The principal chain policy (`proofless_core::pki`): valid chains, and one refusal for
//! every check. Certificates are built here with `rcgen` from fixed seeds and fixed
//! dates; `now` is always given, never read from a clock.

use ed25519_dalek::Signer;
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use proofless_core::ids::{TypeCode, Uscc};
use proofless_core::keys::{self, Role};
use proofless_core::pki::{
    self, CERTIFICATE_TYPES_OID_DER, PkiError, Position, TrustAnchor, validate,
};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, date_time_ymd,
};
use x509_parser::prelude::FromDer;

/// 2027-01-01T00:00:00Z: inside every validity period below unless a test says otherwise.
const NOW: i64 = 1_798_761_600;
/// 2025-01-01T00:00:00Z, before everything.
const BEFORE_ALL: i64 = 1_735_689_600;
/// 2037-01-01T00:00:00Z, after the anchor (2036) and the usual leaf (2031).
const AFTER_ANCHOR: i64 = 2_114_380_800;
/// 2031-01-01T00:00:00Z, the usual leaf's notAfter.
const LEAF_NOT_AFTER: i64 = 1_924_992_000;

const ORG: &str = "11370200MB0000101";
const ID_CARD: &str = "11100000PL00000014901";
const HOUSEHOLD: &str = "11100000PL00000014902";

/// A CA: its parameters, rcgen key and dalek key (to re-sign patched certificates).
struct Authority {
    params: CertificateParams,
    key: KeyPair,
    signing: SigningKey,
    der: Vec<u8>,
}

impl Authority {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn keys_from(seed: u8) -> (KeyPair, SigningKey) {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    let pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
    (KeyPair::from_pem(&pem).unwrap(), signing)
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "青岛市测试机构");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, is_ca: IsCa, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = is_ca;
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2026, 1, 1);
    p.not_after = date_time_ymd(2036, 1, 1);
    p.serial_number = Some(SerialNumber::from(serial));
    p
}

fn root_with(cn: &str, seed: u8, is_ca: IsCa) -> Authority {
    let (key, signing) = keys_from(seed);
    let params = ca_params(cn, is_ca, 1);
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Authority {
        params,
        key,
        signing,
        der,
    }
}

fn root() -> Authority {
    root_with("Test Root", 1, IsCa::Ca(BasicConstraints::Unconstrained))
}

fn anchor(root: &Authority) -> TrustAnchor {
    TrustAnchor::from_der(&root.der).unwrap()
}

fn intermediate(parent: &Authority, cn: &str, seed: u8, is_ca: IsCa) -> Authority {
    intermediate_with(parent, cn, seed, is_ca, |_| {})
}

/// An intermediate CA whose parameters `edit` changes before it is signed.
fn intermediate_with(
    parent: &Authority,
    cn: &str,
    seed: u8,
    is_ca: IsCa,
    edit: impl FnOnce(&mut CertificateParams),
) -> Authority {
    let (key, signing) = keys_from(seed);
    let mut params = ca_params(cn, is_ca, u64::from(seed));
    edit(&mut params);
    let der = params
        .signed_by(&key, &parent.issuer())
        .unwrap()
        .der()
        .to_vec();
    Authority {
        params,
        key,
        signing,
        der,
    }
}

/// What a test leaf carries; [`Leaf::default`] is a valid issuer.
struct Leaf {
    seed: u8,
    organisation: Option<String>,
    role: Option<Role>,
    is_ca: IsCa,
    key_usages: Vec<KeyUsagePurpose>,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
    type_list: Option<Vec<u8>>,
    extra: Vec<CustomExtension>,
}

impl Default for Leaf {
    fn default() -> Self {
        Leaf {
            seed: 50,
            organisation: None,
            role: Some(Role::Issuer),
            is_ca: IsCa::ExplicitNoCa,
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            not_before: (2026, 1, 1),
            not_after: (2031, 1, 1),
            type_list: None,
            extra: Vec::new(),
        }
    }
}

fn uscc() -> Uscc {
    Uscc::from_first17(ORG).unwrap()
}

fn types() -> Vec<TypeCode> {
    vec![
        TypeCode::parse(ID_CARD).unwrap(),
        TypeCode::parse(HOUSEHOLD).unwrap(),
    ]
}

/// A placeholder extension OID, `2.25.1.2.….21`, whose DER is as long as the real
/// certificate-types OID: rcgen takes OIDs as `u64` arcs, which the real one does not
/// fit, so the placeholder is swapped for it after signing and the certificate is
/// re-signed.
fn placeholder_arcs() -> Vec<u64> {
    let mut arcs = vec![2, 25];
    arcs.extend(1..=21);
    arcs
}

fn real_type_oid(der: Vec<u8>, issuer: &SigningKey) -> Vec<u8> {
    let mut placeholder = vec![0x06, 22, 0x69];
    placeholder.extend(1u8..=21);
    let at: Vec<_> = der
        .windows(placeholder.len())
        .enumerate()
        .filter(|(_, w)| *w == placeholder.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1);
    let mut der = der;
    der[at[0]..at[0] + 24].copy_from_slice(&CERTIFICATE_TYPES_OID_DER);
    resign(der, issuer)
}

/// Signs the TBS again; the Ed25519 signature is the last 64 bytes of the DER.
fn resign(mut der: Vec<u8>, issuer: &SigningKey) -> Vec<u8> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
    let signature = issuer.sign(cert.tbs_certificate.as_ref()).to_bytes();
    let n = der.len();
    der[n - 64..].copy_from_slice(&signature);
    der
}

fn leaf_params(spec: &Leaf) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut name = dn("Test Leaf 测试");
    if let Some(org) = &spec.organisation {
        name.push(
            DnType::CustomDnType(vec![2, 5, 4, 97]),
            DnValue::PrintableString(org.as_str().try_into().unwrap()),
        );
    }
    p.distinguished_name = name;
    p.is_ca = spec.is_ca;
    p.key_usages = spec.key_usages.clone();
    let (y, m, d) = spec.not_before;
    p.not_before = date_time_ymd(y, m, d);
    let (y, m, d) = spec.not_after;
    p.not_after = date_time_ymd(y, m, d);
    p.serial_number = Some(SerialNumber::from(u64::from(spec.seed) + 1000));
    if let Some(role) = spec.role {
        let oid = role.oid_der();
        let mut eku = vec![0x30, oid.len() as u8];
        eku.extend_from_slice(&oid);
        p.custom_extensions
            .push(CustomExtension::from_oid_content(&[2, 5, 29, 37], eku));
    }
    if let Some(value) = &spec.type_list {
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &placeholder_arcs(),
            value.clone(),
        ));
    }
    p.custom_extensions.extend(spec.extra.iter().cloned());
    p
}

fn leaf(parent: &Authority, spec: Leaf) -> Vec<u8> {
    let (key, _) = keys_from(spec.seed);
    let der = leaf_params(&spec)
        .signed_by(&key, &parent.issuer())
        .unwrap()
        .der()
        .to_vec();
    if spec.type_list.is_some() {
        real_type_oid(der, &parent.signing)
    } else {
        der
    }
}

fn refused(chain: &[Vec<u8>], anchor: &TrustAnchor, role: Role, now: i64) -> PkiError {
    validate(chain, anchor, role, now).unwrap_err()
}

#[test]
fn a_leaf_under_the_anchor_is_a_principal() {
    let root = root();
    let ta = anchor(&root);
    let der = leaf(
        &root,
        Leaf {
            organisation: Some(uscc().to_string()),
            type_list: Some(pki::certificate_types_extension_value(&types())),
            ..Leaf::default()
        },
    );
    let p = validate(std::slice::from_ref(&der), &ta, Role::Issuer, NOW).unwrap();
    assert_eq!(p.role(), Role::Issuer);
    assert_eq!(p.organisation(), Some(uscc()));
    assert_eq!(p.common_name(), Some("Test Leaf 测试"));
    assert_eq!(p.certificate_types(), types().as_slice());
    let signing = SigningKey::from_bytes(&[50; 32]);
    assert_eq!(p.verifying_key(), &signing.verifying_key());
    assert_eq!(
        p.key_id(),
        keys::key_id(&keys::ed25519_spki_der(signing.verifying_key().as_bytes()))
    );
    assert_eq!(p.not_after(), LEAF_NOT_AFTER);
    assert_eq!(p.leaf_der(), der.as_slice());

    // The anchor's own certificate at the end of the chain is ignored.
    let with_anchor = vec![der.clone(), root.der.clone()];
    assert_eq!(
        validate(&with_anchor, &ta, Role::Issuer, NOW)
            .unwrap()
            .key_id(),
        p.key_id()
    );
    // Valid at both ends of the period, inclusive.
    validate(
        std::slice::from_ref(&der),
        &ta,
        Role::Issuer,
        LEAF_NOT_AFTER,
    )
    .unwrap();
    validate(std::slice::from_ref(&der), &ta, Role::Issuer, 1_767_225_600).unwrap();
}

#[test]
fn a_principal_without_organisation_or_types_has_none() {
    let root = root();
    let ta = anchor(&root);
    let der = leaf(
        &root,
        Leaf {
            role: Some(Role::Witness),
            ..Leaf::default()
        },
    );
    let p = validate(&[der], &ta, Role::Witness, NOW).unwrap();
    assert_eq!(p.organisation(), None);
    assert!(p.certificate_types().is_empty());
}

#[test]
fn a_leaf_under_an_intermediate_is_a_principal() {
    let root = root();
    let ta = anchor(&root);
    let int = intermediate(
        &root,
        "Test Intermediate",
        10,
        IsCa::Ca(BasicConstraints::Constrained(0)),
    );
    let der = leaf(&int, Leaf::default());
    let p = validate(&[der.clone(), int.der.clone()], &ta, Role::Issuer, NOW).unwrap();
    assert_eq!(p.leaf_der(), der.as_slice());
    // Without the intermediate, the leaf does not chain to the anchor.
    assert_eq!(
        refused(&[der], &ta, Role::Issuer, NOW),
        PkiError::NameChain {
            position: Position::Chain(0)
        }
    );
}

#[test]
fn three_intermediates_are_allowed_four_are_too_many() {
    let root = root();
    let ta = anchor(&root);
    let unconstrained = || IsCa::Ca(BasicConstraints::Unconstrained);
    let i3 = intermediate(&root, "I3", 13, unconstrained());
    let i2 = intermediate(&i3, "I2", 12, unconstrained());
    let i1 = intermediate(&i2, "I1", 11, unconstrained());
    let der = leaf(&i1, Leaf::default());
    let chain = vec![der.clone(), i1.der.clone(), i2.der.clone(), i3.der.clone()];
    validate(&chain, &ta, Role::Issuer, NOW).unwrap();
    // The anchor's copy does not count.
    let mut with_anchor = chain.clone();
    with_anchor.push(root.der.clone());
    validate(&with_anchor, &ta, Role::Issuer, NOW).unwrap();

    let i0 = intermediate(&i1, "I0", 14, unconstrained());
    let long = leaf(&i0, Leaf::default());
    let chain = vec![long, i0.der.clone(), i1.der, i2.der, i3.der];
    assert_eq!(
        refused(&chain, &ta, Role::Issuer, NOW),
        PkiError::ChainTooLong { found: 5, max: 4 }
    );
    assert_eq!(refused(&[], &ta, Role::Issuer, NOW), PkiError::EmptyChain);
    assert_eq!(
        refused(std::slice::from_ref(&root.der), &ta, Role::Issuer, NOW),
        PkiError::EmptyChain
    );
}

#[test]
fn wrong_role_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let der = leaf(&root, Leaf::default());
    let err = refused(std::slice::from_ref(&der), &ta, Role::Department, NOW);
    assert_eq!(
        err,
        PkiError::MissingRole {
            position: Position::Chain(0),
            role: "department"
        }
    );
    let none = leaf(
        &root,
        Leaf {
            role: None,
            ..Leaf::default()
        },
    );
    assert!(matches!(
        refused(&[none], &ta, Role::Issuer, NOW),
        PkiError::MissingRole { .. }
    ));
}

#[test]
fn expired_and_not_yet_valid_are_refused() {
    let root = root();
    let ta = anchor(&root);
    let der = leaf(&root, Leaf::default());
    let chain = std::slice::from_ref(&der);
    assert_eq!(
        refused(chain, &ta, Role::Issuer, LEAF_NOT_AFTER + 1),
        PkiError::Expired {
            position: Position::Chain(0)
        }
    );
    let later = leaf(
        &root,
        Leaf {
            not_before: (2028, 1, 1),
            ..Leaf::default()
        },
    );
    assert_eq!(
        refused(&[later], &ta, Role::Issuer, NOW),
        PkiError::NotYetValid {
            position: Position::Chain(0)
        }
    );
    // The trust anchor's own validity counts too.
    assert_eq!(
        refused(chain, &ta, Role::Issuer, BEFORE_ALL),
        PkiError::NotYetValid {
            position: Position::TrustAnchor
        }
    );
    let long_lived = leaf(
        &root,
        Leaf {
            not_after: (2040, 1, 1),
            ..Leaf::default()
        },
    );
    assert_eq!(
        refused(
            std::slice::from_ref(&long_lived),
            &ta,
            Role::Issuer,
            AFTER_ANCHOR
        ),
        PkiError::Expired {
            position: Position::TrustAnchor
        }
    ); // A leaf that outlives the anchor is relied on only until the anchor expires.
    let p = proofless_core::pki::validate(&[long_lived], &ta, Role::Issuer, NOW).unwrap();
    assert!(p.not_after() > p.chain_not_after());
    assert_eq!(p.chain_not_after(), 2_082_758_400); // 2036-01-01, the anchor's notAfter
}

#[test]
fn an_intermediate_out_of_its_validity_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let int = intermediate_with(
        &root,
        "Short",
        10,
        IsCa::Ca(BasicConstraints::Unconstrained),
        |p| p.not_after = date_time_ymd(2026, 6, 1),
    );
    let l = leaf(&int, Leaf::default());
    assert_eq!(
        refused(&[l, int.der.clone()], &ta, Role::Issuer, NOW),
        PkiError::Expired {
            position: Position::Chain(1)
        }
    );
}

#[test]
fn signed_by_another_key_is_refused() {
    let root = root();
    let ta = anchor(&root);
    // Same name as the root, another key.
    let impostor = root_with("Test Root", 2, IsCa::Ca(BasicConstraints::Unconstrained));
    let der = leaf(&impostor, Leaf::default());
    assert_eq!(
        refused(&[der], &ta, Role::Issuer, NOW),
        PkiError::NotSignedByIssuer {
            position: Position::Chain(0)
        }
    );
}

#[test]
fn tampered_signature_or_body_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let mut der = leaf(&root, Leaf::default());
    let n = der.len();
    der[n - 1] ^= 0x01;
    assert_eq!(
        refused(std::slice::from_ref(&der), &ta, Role::Issuer, NOW),
        PkiError::NotSignedByIssuer {
            position: Position::Chain(0)
        }
    );
    // A changed byte in the serial number (inside the signed part).
    let mut der = leaf(&root, Leaf::default());
    // INTEGER 1050: tag, length, 0x04 0x1a.
    let serial = [0x02, 0x02, 0x04, 0x1a];
    let at = der
        .windows(4)
        .position(|w| w == serial)
        .expect("serial in DER");
    der[at + 3] ^= 0x01;
    assert_eq!(
        refused(&[der], &ta, Role::Issuer, NOW),
        PkiError::NotSignedByIssuer {
            position: Position::Chain(0)
        }
    );
}

#[test]
fn issuer_name_mismatch_is_refused() {
    let root = root();
    let ta = anchor(&root);
    // The root's key under another name: the signature is good, the name chain is not.
    let renamed = root_with("Other Name", 1, IsCa::Ca(BasicConstraints::Unconstrained));
    let l = leaf(&renamed, Leaf::default());
    assert_eq!(
        refused(&[l], &ta, Role::Issuer, NOW),
        PkiError::NameChain {
            position: Position::Chain(0)
        }
    );
}

#[test]
fn a_ca_leaf_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let der = leaf(
        &root,
        Leaf {
            is_ca: IsCa::Ca(BasicConstraints::Unconstrained),
            key_usages: vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ],
            ..Leaf::default()
        },
    );
    assert_eq!(refused(&[der], &ta, Role::Issuer, NOW), PkiError::LeafIsCa);
}

#[test]
fn key_usage_must_fit_a_leaf() {
    let root = root();
    let ta = anchor(&root);
    let no_ds = leaf(
        &root,
        Leaf {
            key_usages: vec![KeyUsagePurpose::ContentCommitment],
            ..Leaf::default()
        },
    );
    assert_eq!(
        refused(&[no_ds], &ta, Role::Issuer, NOW),
        PkiError::KeyUsage {
            position: Position::Chain(0),
            what: "lacks digitalSignature"
        }
    );
    let none = leaf(
        &root,
        Leaf {
            key_usages: Vec::new(),
            ..Leaf::default()
        },
    );
    assert!(matches!(
        refused(&[none], &ta, Role::Issuer, NOW),
        PkiError::KeyUsage { .. }
    ));
    let cert_sign = leaf(
        &root,
        Leaf {
            key_usages: vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ],
            ..Leaf::default()
        },
    );
    assert!(matches!(
        refused(&[cert_sign], &ta, Role::Issuer, NOW),
        PkiError::KeyUsage { .. }
    ));
}

#[test]
fn a_non_ed25519_leaf_key_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let p256 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let der = leaf_params(&Leaf::default())
        .signed_by(&p256, &root.issuer())
        .unwrap()
        .der()
        .to_vec();
    assert_eq!(
        refused(&[der], &ta, Role::Issuer, NOW),
        PkiError::NotEd25519 {
            position: Position::Chain(0),
            what: "public key"
        }
    );
}

#[test]
fn an_intermediate_must_be_a_ca_that_signs_certificates() {
    let root = root();
    let ta = anchor(&root);
    let not_ca = intermediate(&root, "Not a CA", 10, IsCa::ExplicitNoCa);
    let der = leaf(&not_ca, Leaf::default());
    assert_eq!(
        refused(&[der, not_ca.der.clone()], &ta, Role::Issuer, NOW),
        PkiError::NotCa {
            position: Position::Chain(1)
        }
    );

    let no_sign = intermediate_with(
        &root,
        "No keyCertSign",
        11,
        IsCa::Ca(BasicConstraints::Unconstrained),
        |p| p.key_usages = vec![KeyUsagePurpose::DigitalSignature],
    );
    let l = leaf(&no_sign, Leaf::default());
    assert_eq!(
        refused(&[l, no_sign.der.clone()], &ta, Role::Issuer, NOW),
        PkiError::KeyUsage {
            position: Position::Chain(1),
            what: "lacks keyCertSign"
        }
    );
}

#[test]
fn an_intermediate_extended_key_usage_limits_its_subtree() {
    let root = root();
    let ta = anchor(&root);
    let oid = Role::Department.oid_der();
    let mut eku = vec![0x30, oid.len() as u8];
    eku.extend_from_slice(&oid);
    let int = intermediate_with(
        &root,
        "Departments only",
        10,
        IsCa::Ca(BasicConstraints::Unconstrained),
        |p| {
            p.custom_extensions
                .push(CustomExtension::from_oid_content(&[2, 5, 29, 37], eku));
        },
    );
    let issuer = leaf(&int, Leaf::default());
    assert_eq!(
        refused(&[issuer, int.der.clone()], &ta, Role::Issuer, NOW),
        PkiError::MissingRole {
            position: Position::Chain(1),
            role: "issuer"
        }
    );
    let department = leaf(
        &int,
        Leaf {
            role: Some(Role::Department),
            ..Leaf::default()
        },
    );
    validate(&[department, int.der.clone()], &ta, Role::Department, NOW).unwrap();
}

#[test]
fn path_length_constraints_are_respected() {
    let root = root();
    let ta = anchor(&root);
    let upper = intermediate(
        &root,
        "Upper",
        10,
        IsCa::Ca(BasicConstraints::Constrained(0)),
    );
    let lower = intermediate(
        &upper,
        "Lower",
        11,
        IsCa::Ca(BasicConstraints::Unconstrained),
    );
    let der = leaf(&lower, Leaf::default());
    assert_eq!(
        refused(
            &[der, lower.der.clone(), upper.der.clone()],
            &ta,
            Role::Issuer,
            NOW
        ),
        PkiError::PathLength {
            position: Position::Chain(2)
        }
    );

    // The anchor's own constraint: pathlen 0 allows no intermediate.
    let tight = root_with("Tight Root", 3, IsCa::Ca(BasicConstraints::Constrained(0)));
    let tight_ta = anchor(&tight);
    let int = intermediate(
        &tight,
        "Under Tight",
        12,
        IsCa::Ca(BasicConstraints::Unconstrained),
    );
    let der = leaf(&int, Leaf::default());
    assert_eq!(
        refused(&[der, int.der.clone()], &tight_ta, Role::Issuer, NOW),
        PkiError::PathLength {
            position: Position::TrustAnchor
        }
    );
    // But a leaf directly under it is fine.
    validate(
        &[leaf(&tight, Leaf::default())],
        &tight_ta,
        Role::Issuer,
        NOW,
    )
    .unwrap();
}

#[test]
fn a_bad_organisation_identifier_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let good = uscc().as_str().to_owned();
    // Same code with another check character.
    let bad_check = if good.ends_with('0') { "1" } else { "0" };
    let bad = format!("{}{bad_check}", &good[..17]);
    let der = leaf(
        &root,
        Leaf {
            organisation: Some(bad.clone()),
            ..Leaf::default()
        },
    );
    let err = refused(&[der], &ta, Role::Issuer, NOW);
    assert_eq!(
        err,
        PkiError::BadOrganisation {
            position: Position::Chain(0)
        }
    );
    // The message does not repeat the certificate's contents.
    assert!(!err.to_string().contains(&bad), "{err}");
}

#[test]
fn a_bad_type_list_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let bad_code = {
        // A UTF8String that is not a type code (wrong check character in the definer).
        let text = b"11100000PL0000001X901";
        let mut v = vec![0x30, 23, 0x0c, 21];
        v.extend_from_slice(text);
        v
    };
    let duplicate = {
        let t = TypeCode::parse(ID_CARD).unwrap();
        pki::certificate_types_extension_value(&[t, t])
    };
    let printable = {
        // Type codes as PrintableString instead of UTF8String.
        let mut v = pki::certificate_types_extension_value(&types()[..1]);
        v[2] = 0x13;
        v
    };
    let cases = [
        ("invalid type code", bad_code),
        ("empty list", vec![0x30, 0x00]),
        ("not a sequence", vec![0x04, 0x00]),
        ("trailing bytes", {
            let mut v = pki::certificate_types_extension_value(&types());
            v.push(0);
            v
        }),
        ("duplicate", duplicate),
        ("wrong string type", printable),
    ];
    for (what, value) in cases {
        let der = leaf(
            &root,
            Leaf {
                type_list: Some(value),
                ..Leaf::default()
            },
        );
        assert_eq!(
            refused(&[der], &ta, Role::Issuer, NOW),
            PkiError::BadTypeList {
                position: Position::Chain(0)
            },
            "{what}"
        );
    }
}

#[test]
fn an_unknown_critical_extension_is_refused_a_non_critical_one_ignored() {
    let root = root();
    let ta = anchor(&root);
    let mut ext = CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
    ext.set_criticality(true);
    let der = leaf(
        &root,
        Leaf {
            extra: vec![ext],
            ..Leaf::default()
        },
    );
    assert_eq!(
        refused(&[der], &ta, Role::Issuer, NOW),
        PkiError::UnknownCriticalExtension {
            position: Position::Chain(0)
        }
    );
    let quiet = CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
    let der = leaf(
        &root,
        Leaf {
            extra: vec![quiet],
            ..Leaf::default()
        },
    );
    validate(&[der], &ta, Role::Issuer, NOW).unwrap();
}

#[test]
fn malformed_input_is_refused() {
    let root = root();
    let ta = anchor(&root);
    let mut der = leaf(&root, Leaf::default());
    der.push(0);
    assert!(matches!(
        refused(&[der], &ta, Role::Issuer, NOW),
        PkiError::Malformed {
            position: Position::Chain(0),
            what: "trailing bytes"
        }
    ));
    assert!(matches!(
        refused(
            &[vec![0x30, 0x03, 0x02, 0x01, 0x01]],
            &ta,
            Role::Issuer,
            NOW
        ),
        PkiError::Malformed { .. }
    ));
    let good = leaf(&root, Leaf::default());
    assert!(matches!(
        refused(&[good, b"junk".to_vec()], &ta, Role::Issuer, NOW),
        PkiError::Malformed {
            position: Position::Chain(1),
            ..
        }
    ));
}

#[test]
fn trust_anchor_must_be_a_self_signed_ed25519_ca() {
    let root = root();
    let ta = TrustAnchor::from_pem(params_pem(&root.params, &root.key).as_bytes()).unwrap();
    assert_eq!(ta.der(), root.der.as_slice());
    assert_eq!(
        ta.key_id(),
        keys::key_id(&keys::ed25519_spki_der(
            root.signing.verifying_key().as_bytes()
        ))
    );
    assert!(!ta.subject_der().is_empty());

    let (key, _) = keys_from(4);
    let not_ca = ca_params("Not CA", IsCa::ExplicitNoCa, 4);
    let der = not_ca.self_signed(&key).unwrap().der().to_vec();
    assert_eq!(
        TrustAnchor::from_der(&der).unwrap_err(),
        PkiError::NotCa {
            position: Position::TrustAnchor
        }
    );

    let mut no_cert_sign = ca_params(
        "No keyCertSign",
        IsCa::Ca(BasicConstraints::Unconstrained),
        4,
    );
    no_cert_sign.key_usages = vec![KeyUsagePurpose::CrlSign];
    let der = no_cert_sign.self_signed(&key).unwrap().der().to_vec();
    assert!(matches!(
        TrustAnchor::from_der(&der).unwrap_err(),
        PkiError::KeyUsage { .. }
    ));

    // Not self-signed: an intermediate is no anchor.
    let int = intermediate(&root, "Int", 10, IsCa::Ca(BasicConstraints::Unconstrained));
    assert_eq!(
        TrustAnchor::from_der(&int.der).unwrap_err(),
        PkiError::NameChain {
            position: Position::TrustAnchor
        }
    );
    // Self-issued, but the signature is broken.
    let mut der = root.der.clone();
    let n = der.len();
    der[n - 2] ^= 0x40;
    assert_eq!(
        TrustAnchor::from_der(&der).unwrap_err(),
        PkiError::NotSignedByIssuer {
            position: Position::TrustAnchor
        }
    );
    // An ECDSA root.
    let p256 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let der = ca_params("P-256", IsCa::Ca(BasicConstraints::Unconstrained), 5)
        .self_signed(&p256)
        .unwrap()
        .der()
        .to_vec();
    assert!(matches!(
        TrustAnchor::from_der(&der).unwrap_err(),
        PkiError::NotEd25519 { .. }
    ));
    assert!(matches!(
        TrustAnchor::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err(),
        PkiError::Malformed { .. }
    ));
}

fn params_pem(params: &CertificateParams, key: &KeyPair) -> String {
    params.self_signed(key).unwrap().pem()
}

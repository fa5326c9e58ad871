//! Synthetic certificates for demonstrations and load: Qingdao residents and companies,
//! each with the certificates such a holder would plausibly have.
//!
//! Guarantees, checked by `tests/it/demo.rs` against the real schemas:
//!
//! * every draft's values satisfy its type's schema, and its holder code type is one the
//!   type accepts;
//! * values agree with the holder: 公民身份号码, birth date and sex on every certificate of a
//!   citizen match the holder code (GB 11643: odd sequence for men); 统一社会信用代码 on a
//!   company's certificates is the holder code;
//! * every certificate is issued by the principal that `principals.json` allows to issue
//!   its type, and certificate identifiers never repeat: the serial is the issue year
//!   followed by the holder number, and a holder has at most one certificate of a type
//!   (a superseding successor keeps the serial and takes version 2);
//! * holder codes never repeat: holder numbers are mapped to identity numbers and
//!   organisation codes by a keyed permutation (below 310 million holders);
//! * the output of [`Generator::holder`] depends on the seed and the holder number only,
//!   never on the clock or on earlier calls. Dates are relative to [`AS_OF`], and every
//!   certificate is valid on that day.
//!
//! All people, companies and numbers are fictional; the place names, street names,
//! universities and hospitals are real, to make the data look familiar. This module does
//! no I/O except [`load_principals`].

use anyhow::Context as _;
use proofless_client::issuer::Draft;
use proofless_core::cert::FieldValue;
use proofless_core::ids::{CertificateId, HolderCode, TypeCode, Uscc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

// The submodules name their files because `tests/it/demo.rs` compiles this file with
// `#[path]`, and rustc then looks for undecorated submodules beside this file rather
// than in `demo/`.
#[path = "demo/codes.rs"]
mod codes;
#[path = "demo/companies.rs"]
mod companies;
#[path = "demo/date.rs"]
mod date;
#[path = "demo/people.rs"]
mod people;
#[path = "demo/reference.rs"]
mod reference;
#[path = "demo/rng.rs"]
mod rng;

use date::{Date, as_of};
use rng::Rng;

/// The day the generated world is seen from: every certificate is valid on it.
pub(crate) const AS_OF: (i32, u32, u32) = (2025, 6, 30);

/// An issuing principal: its file stem in `keys-example`, its USCC and the type codes it
/// may issue.
pub(crate) type Principal = (String, Uscc, Vec<String>);

/// One certificate to issue, and what happens to it afterwards.
#[derive(Debug, Clone)]
pub(crate) struct DemoRecord {
    /// The issuing principal's stem in `keys-example`, e.g. `issuer-qingdao-civil-affairs`.
    pub(crate) issuer: String,
    /// The certificate.
    pub(crate) draft: Draft,
    /// A status change to apply after issuance; `None` for most.
    pub(crate) status: Option<DemoStatus>,
}

/// A status change after issuance.
#[derive(Debug, Clone)]
pub(crate) enum DemoStatus {
    /// Suspended (may later be reinstated).
    Suspended,
    /// Revoked.
    Revoked,
    /// Replaced: issue the successor first (same type, holder, issuer and serial,
    /// version 2), then mark this one superseded by it.
    SupersededBy(Box<DemoRecord>),
}

/// Deterministic generator of holders and their certificates.
#[derive(Debug)]
pub(crate) struct Generator {
    seed: u64,
    /// By [`Kind`] index: who issues that type, if any principal may.
    issuers: Vec<Option<(String, Uscc, TypeCode)>>,
}

impl Generator {
    /// A generator whose certificates are issued by `principals` (see
    /// [`load_principals`]). Types that no principal may issue are left out.
    pub(crate) fn new(seed: u64, principals: &[Principal]) -> Self {
        let issuers = Kind::ALL
            .iter()
            .map(|kind| {
                principals
                    .iter()
                    .find(|(_, _, codes)| codes.iter().any(|c| c == kind.code()))
                    .map(|(stem, uscc, _)| {
                        // INVARIANT: `Kind::code` returns valid type codes (unit-tested).
                        let code = TypeCode::parse(kind.code()).expect("type code constant");
                        (stem.clone(), *uscc, code)
                    })
            })
            .collect();
        Self { seed, issuers }
    }

    /// All certificates of holder number `n`, in issuance order. About 80% of holders
    /// are citizens and 20% companies. Takes `&mut self` for future caching, but the
    /// result depends only on the seed and `n`.
    pub(crate) fn holder(&mut self, n: u64) -> Vec<DemoRecord> {
        let mut out = Builder {
            generator: self,
            records: Vec::new(),
            n,
            rng: Rng::new(self.seed, n),
        };
        if out.rng.chance(0.8) {
            out.citizen();
        } else {
            out.company();
        }
        out.records
    }
}

/// Reads `principals.json` in `keys_dir` and returns its issuers.
pub(crate) fn load_principals(keys_dir: &Path) -> anyhow::Result<Vec<Principal>> {
    #[derive(Deserialize)]
    struct File {
        principals: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        role: String,
        uscc: String,
        #[serde(default)]
        type_codes: Vec<String>,
    }
    let path = keys_dir.join("principals.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: File =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    file.principals
        .into_iter()
        .filter(|p| p.role == "issuer")
        .map(|p| {
            let uscc = Uscc::parse(&p.uscc).with_context(|| format!("{}: uscc", p.name))?;
            for code in &p.type_codes {
                TypeCode::parse(code).with_context(|| format!("{}: type code", p.name))?;
            }
            Ok((p.name, uscc, p.type_codes))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Certificate types
// ---------------------------------------------------------------------------------------

/// The certificate types the generator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    IdCard,
    SocialSecurityCard,
    HouseholdRegister,
    Marriage,
    Divorce,
    DrivingLicence,
    Graduation,
    Degree,
    RealEstateTitle,
    Disability,
    Physician,
    Nurse,
    BirthCertificate,
    BusinessLicence,
    FoodBusinessLicence,
    RoadTransportPermit,
}

impl Kind {
    pub(crate) const ALL: [Kind; 16] = [
        Kind::IdCard,
        Kind::SocialSecurityCard,
        Kind::HouseholdRegister,
        Kind::Marriage,
        Kind::Divorce,
        Kind::DrivingLicence,
        Kind::Graduation,
        Kind::Degree,
        Kind::RealEstateTitle,
        Kind::Disability,
        Kind::Physician,
        Kind::Nurse,
        Kind::BirthCertificate,
        Kind::BusinessLicence,
        Kind::FoodBusinessLicence,
        Kind::RoadTransportPermit,
    ];

    /// The 证照类型代码, as in `schemas/certificates`.
    pub(crate) const fn code(self) -> &'static str {
        match self {
            Kind::IdCard => "11100000PL00000014901",
            Kind::SocialSecurityCard => "11100000PL0000006K901",
            Kind::HouseholdRegister => "11100000PL00000014902",
            Kind::Marriage => "11100000PL00000027901",
            Kind::Divorce => "11100000PL00000027902",
            Kind::DrivingLicence => "11100000PL00000014904",
            Kind::Graduation => "11100000PL0000008R901",
            Kind::Degree => "11100000PL0000008R902",
            Kind::RealEstateTitle => "11100000MB03271699001",
            Kind::Disability => "13100000PL0000007G901",
            Kind::Physician => "11100000PL0000003A903",
            Kind::Nurse => "11100000PL0000003A904",
            Kind::BirthCertificate => "11100000PL0000003A901",
            Kind::BusinessLicence => "11100000PL0000004D901",
            Kind::FoodBusinessLicence => "11100000PL0000004D902",
            Kind::RoadTransportPermit => "11100000PL0000009W901",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------

/// Field values under construction.
#[derive(Default)]
struct Fields(BTreeMap<String, FieldValue>);

impl Fields {
    fn t(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0
            .insert(name.to_owned(), FieldValue::Text(value.into()));
        self
    }

    fn d(self, name: &str, date: Date) -> Self {
        self.t(name, date.iso())
    }

    fn i(mut self, name: &str, value: i64) -> Self {
        self.0.insert(name.to_owned(), FieldValue::Int(value));
        self
    }
}

/// The certificates of one holder under construction.
struct Builder<'a> {
    generator: &'a Generator,
    records: Vec<DemoRecord>,
    n: u64,
    rng: Rng,
}

impl Builder<'_> {
    /// Adds a certificate of `kind` with a status drawn from the mix (3% suspended, 2%
    /// revoked, 2% superseded); skipped when no principal may issue the type.
    fn emit(
        &mut self,
        kind: Kind,
        holder: HolderCode,
        valid: (Date, Option<Date>),
        fields: Fields,
    ) {
        let roll = self.rng.unit();
        let generator = self.generator;
        let Some((stem, uscc, code)) = &generator.issuers[kind as usize] else {
            return;
        };
        let serial = format!("{:04}{:010}", valid.0.year(), self.n);
        let draft = Draft {
            // INVARIANT: the serial is 14 or more digits, at most 24; version 1 is in range.
            id: CertificateId::new(*code, *uscc, &serial, 1).expect("serial is 14–24 digits"),
            holder,
            valid_from: valid.0.iso(),
            valid_until: valid.1.map(Date::iso),
            values: fields.0,
        };
        let status = if roll < 0.03 {
            Some(DemoStatus::Suspended)
        } else if roll < 0.05 {
            Some(DemoStatus::Revoked)
        } else if roll < 0.07 {
            let successor = DemoRecord {
                issuer: stem.clone(),
                draft: self.reissue(&draft, valid, *code, *uscc, &serial),
                status: None,
            };
            Some(DemoStatus::SupersededBy(Box::new(successor)))
        } else {
            None
        };
        self.records.push(DemoRecord {
            issuer: stem.clone(),
            draft,
            status,
        });
    }

    /// A replacement (换发/补发): same values and serial, version 2; when the certificate
    /// carries an issue date that starts its validity, both move to a later day.
    fn reissue(
        &mut self,
        draft: &Draft,
        valid: (Date, Option<Date>),
        code: TypeCode,
        uscc: Uscc,
        serial: &str,
    ) -> Draft {
        let mut next = draft.clone();
        // INVARIANT: as in `emit`, with version 2.
        next.id = CertificateId::new(code, uscc, serial, 2).expect("serial is 14–24 digits");
        let from = FieldValue::Text(draft.valid_from.clone());
        if draft.values.get("issue_date") == Some(&from) {
            let last = valid.1.map_or(as_of(), |u| u.min(as_of()));
            let day = self.rng.date_between(valid.0, last).iso();
            next.values
                .insert("issue_date".into(), FieldValue::Text(day.clone()));
            next.valid_from = day;
        }
        next
    }
}

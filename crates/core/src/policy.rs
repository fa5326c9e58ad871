//! Scenario rules (无证明场景规则): who may learn what, about whom, and why.
//!
//! A no-proof scenario replaces a paper proof in one government service (公共租赁住房申请,
//! 企业开办, …) by checks against electronic certificates. Each scenario is one TOML file
//! under `schemas/scenarios/` (format: that directory's `README.md`). A rule names
//!
//! * its legal basis and its source (which reference case it was drawn from);
//! * the departments (role and 统一社会信用代码) that may use it;
//! * whether the holder's one-time consent is needed ([`Access::Consent`]) or the access
//!   is statutory ([`Access::Statutory`]);
//! * per certificate type, the fields that may be *disclosed*, the fields that may be
//!   *checked* as claims (match / mismatch, nothing else), and the derived
//!   [`Predicate`]s that may be asked;
//! * the largest number of certificates one request may touch.
//!
//! This module enforces DESIGN.md §2 invariant 1, "no rule, no data": a field the rule
//! does not list cannot be returned, and a department it does not list cannot ask.
//!
//! # Parse, then lint
//! [`Scenario::parse`] only reads the file: TOML syntax, known keys (`deny_unknown_fields`
//! everywhere), known predicates and value types. [`lint`] then checks the rule against the
//! certificate catalog and the rules below, and reports *every* problem at once. A
//! [`RuleSet`] can only be built from scenarios that lint clean, so code that holds a
//! `RuleSet` holds rules that were checked.
//!
//! Every [`PolicyError`] names the file and a 1-based line, so `proofless policy check`
//! can print `file:line: message` like a compiler.
//!
//! # Example
//! ```
//! use proofless_core::policy::{Predicate, Scenario, lint};
//!
//! let text = r#"
//! code = "QD-GZF-001"
//! version = 1
//! name_zh = "公共租赁住房申请"
//! name_en = "Public rental housing application"
//! legal_basis = ["《公共租赁住房管理办法》（住房和城乡建设部令第11号）第七条"]
//! source = ["reference:S11"]
//! access = "consent"
//! max_certificates = 1
//!
//! [[departments]]
//! role = "department"
//! organisation = "11370200MB00001103"
//! name = "青岛市住房和城乡建设局"
//!
//! [[certificates]]
//! type_code = "11100000PL00000027901"
//! claims = ["spouse_name"]
//! predicates = ["marital_status_is", "currently_valid"]
//! "#;
//! let scenario = Scenario::parse("gzf.toml", text).unwrap();
//! let catalog = |code: &str| {
//!     (code == "11100000PL00000027901").then(|| vec!["holder_name".into(), "spouse_name".into()])
//! };
//! assert!(lint(&scenario, &catalog).is_empty());
//! let marriage = scenario.certificate("11100000PL00000027901").unwrap();
//! assert!(marriage.allows(Predicate::MaritalStatusIs));
//! assert!(marriage.may_check("spouse_name") && !marriage.may_disclose("spouse_name"));
//!
//! // An unknown field is reported with its file and line.
//! let bad = Scenario::parse("gzf.toml", &text.replace("[\"spouse_name\"]", "[\"spouse\"]")).unwrap();
//! assert_eq!(lint(&bad, &catalog)[0].to_string(),
//!     "gzf.toml:18: certificate type 11100000PL00000027901 has no field `spouse`");
//! ```
//!
//! # Non-goals
//! No I/O: callers read the files and the certificate catalog and pass text and a lookup
//! function in. Nothing here decides a request; the verification code asks the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::ids::{IdError, TypeCode, Uscc};
use crate::keys::Role;

/// Domain-separation prefix of [`RuleSet::digest`].
const DIGEST_PREFIX: &[u8] = b"proofless/scenario-rule-set/v1\n";

/// Whether a scenario needs the holder's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// The holder must grant a one-time consent through a channel (DESIGN.md §5), valid
    /// and unused, naming this scenario.
    Consent,
    /// A law or regulation obliges the department to check without asking the holder
    /// (户籍注销, 养老待遇资格认证). The access is still recorded and shown to the holder.
    Statutory,
}

/// The derived statements a department may ask for instead of reading fields (DESIGN.md
/// §5: answered as ledger-signed statements, true or false, with no field values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Predicate {
    /// The certificate named in the request is currently valid: issued, not suspended,
    /// revoked, superseded or expired at the time of the request. Needs no field.
    CurrentlyValid,
    /// The holder holds at least one currently valid certificate of this type. The
    /// request names the holder, not a certificate; the answer does not say which
    /// certificate or how many. Used both ways: "has a 残疾人证" and "has no 不动产权证书"
    /// (无房) or "no 死亡医学证明 has been issued" (生存认证). Needs no field.
    HoldsValid,
    /// The holder is at least N full years old on the request date; N is a parameter of
    /// the request. Answered from a birth-date field (`birth_date` or a field ending in
    /// `_birth_date`), which the type must have.
    AgeAtLeast,
    /// The holder's marital status is the one named in the request (未婚, 已婚, 离婚,
    /// 丧偶). Answered from a `marital_status` field (居民户口簿), or from the status of a
    /// marriage or divorce certificate (types with `spouse_name` or `former_spouse_name`),
    /// which the type must have.
    MaritalStatusIs,
}

impl Predicate {
    /// Every predicate.
    pub const ALL: [Predicate; 4] = [
        Predicate::CurrentlyValid,
        Predicate::HoldsValid,
        Predicate::AgeAtLeast,
        Predicate::MaritalStatusIs,
    ];

    /// The predicate with this name, as in scenario files.
    pub fn from_name(name: &str) -> Option<Predicate> {
        Predicate::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The name used in scenario files.
    pub const fn name(self) -> &'static str {
        match self {
            Predicate::CurrentlyValid => "currently_valid",
            Predicate::HoldsValid => "holds_valid",
            Predicate::AgeAtLeast => "age_at_least",
            Predicate::MaritalStatusIs => "marital_status_is",
        }
    }

    /// Whether a certificate type with these field names can answer this predicate.
    pub fn applies_to(self, fields: &[String]) -> bool {
        match self {
            Predicate::CurrentlyValid | Predicate::HoldsValid => true,
            Predicate::AgeAtLeast => fields
                .iter()
                .any(|f| f == "birth_date" || f.ends_with("_birth_date")),
            Predicate::MaritalStatusIs => fields
                .iter()
                .any(|f| f == "marital_status" || f == "spouse_name" || f == "former_spouse_name"),
        }
    }

    /// What [`Predicate::applies_to`] needs, in words, for error messages.
    const fn requirement(self) -> &'static str {
        match self {
            Predicate::CurrentlyValid | Predicate::HoldsValid => "nothing",
            Predicate::AgeAtLeast => "a birth-date field",
            Predicate::MaritalStatusIs => {
                "a `marital_status`, `spouse_name` or `former_spouse_name` field"
            }
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One department allowed to use a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    role: Spanned<String>,
    organisation: Spanned<String>,
    name: Spanned<String>,
}

impl Department {
    /// The principal role (always `department` once linted; see [`Role`]).
    pub fn role(&self) -> &str {
        self.role.get_ref()
    }

    /// The organisation's 统一社会信用代码, as written.
    pub fn organisation(&self) -> &str {
        self.organisation.get_ref()
    }

    /// The organisation's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }
}

/// What a scenario allows for one certificate type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRule {
    type_code: Spanned<String>,
    #[serde(default)]
    disclose: Vec<Spanned<String>>,
    #[serde(default)]
    claims: Vec<Spanned<String>>,
    #[serde(default)]
    predicates: Vec<Spanned<Predicate>>,
}

impl CertificateRule {
    /// The certificate type code (证照类型代码).
    pub fn type_code(&self) -> &str {
        self.type_code.get_ref()
    }

    /// Fields whose values (with their salts) may be returned.
    pub fn disclose(&self) -> impl Iterator<Item = &str> {
        self.disclose.iter().map(|f| f.get_ref().as_str())
    }

    /// Fields that may be checked against a value the department sends.
    pub fn claims(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().map(|f| f.get_ref().as_str())
    }

    /// Predicates that may be asked.
    pub fn predicates(&self) -> impl Iterator<Item = Predicate> + '_ {
        self.predicates.iter().map(|p| *p.get_ref())
    }

    /// Whether `field` may be disclosed.
    pub fn may_disclose(&self, field: &str) -> bool {
        self.disclose().any(|f| f == field)
    }

    /// Whether `field` may be checked as a claim.
    pub fn may_check(&self, field: &str) -> bool {
        self.claims().any(|f| f == field)
    }

    /// Whether `predicate` may be asked.
    pub fn allows(&self, predicate: Predicate) -> bool {
        self.predicates().any(|p| p == predicate)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    code: Spanned<String>,
    version: Spanned<u32>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
    legal_basis: Spanned<Vec<Spanned<String>>>,
    source: Spanned<Vec<Spanned<String>>>,
    access: Access,
    max_certificates: Spanned<u32>,
    departments: Spanned<Vec<Department>>,
    certificates: Spanned<Vec<CertificateRule>>,
}

/// One parsed scenario file. Parsed is not checked: see [`lint`] and [`RuleSet`].
#[derive(Debug, Clone)]
pub struct Scenario {
    file: String,
    text: String,
    body: Body,
}

impl Scenario {
    /// Parses one scenario file. `file_name` is only used in errors.
    ///
    /// Refuses bad TOML, unknown keys (at any level), missing keys, unknown predicates
    /// and values of the wrong type, with the line of the offending text.
    pub fn parse(file_name: &str, text: &str) -> Result<Scenario, PolicyError> {
        match toml::from_str::<Body>(text) {
            Ok(body) => Ok(Scenario {
                file: file_name.to_owned(),
                text: text.to_owned(),
                body,
            }),
            Err(e) => Err(PolicyError {
                file: file_name.to_owned(),
                line: e.span().map_or(1, |span| line_of(text, span.start)),
                kind: PolicyErrorKind::Syntax {
                    message: e.message().trim_end().to_owned(),
                },
            }),
        }
    }

    /// The file name given to [`Scenario::parse`].
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// The file's text, exactly as parsed (what [`RuleSet::digest`] covers).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The stable scenario code (`QD-GZF-001`).
    pub fn code(&self) -> &str {
        self.body.code.get_ref()
    }

    /// The rule's version, bumped on every change.
    pub fn version(&self) -> u32 {
        *self.body.version.get_ref()
    }

    /// The Chinese name of the service (办事事项).
    pub fn name_zh(&self) -> &str {
        self.body.name_zh.get_ref()
    }

    /// The English name of the service.
    pub fn name_en(&self) -> &str {
        self.body.name_en.get_ref()
    }

    /// The laws, regulations and documents the scenario rests on.
    pub fn legal_basis(&self) -> impl Iterator<Item = &str> {
        self.body
            .legal_basis
            .get_ref()
            .iter()
            .map(|s| s.get_ref().as_str())
    }

    /// Where the scenario was drawn from (reference case ids, URLs).
    pub fn source(&self) -> impl Iterator<Item = &str> {
        self.body
            .source
            .get_ref()
            .iter()
            .map(|s| s.get_ref().as_str())
    }

    /// Consent or statutory access.
    pub fn access(&self) -> Access {
        self.body.access
    }

    /// The largest number of certificates one request may touch.
    pub fn max_certificates(&self) -> u32 {
        *self.body.max_certificates.get_ref()
    }

    /// The departments that may use the scenario.
    pub fn departments(&self) -> &[Department] {
        self.body.departments.get_ref()
    }

    /// The per-type rules.
    pub fn certificates(&self) -> &[CertificateRule] {
        self.body.certificates.get_ref()
    }

    /// The rule for one certificate type, if the scenario covers it.
    pub fn certificate(&self, type_code: &str) -> Option<&CertificateRule> {
        self.certificates()
            .iter()
            .find(|c| c.type_code() == type_code)
    }

    /// Whether a principal with this role and organisation may use the scenario.
    pub fn allows_department(&self, role: Role, organisation: &Uscc) -> bool {
        self.departments()
            .iter()
            .any(|d| d.role() == role.name() && d.organisation() == organisation.as_str())
    }

    fn error(&self, span: Range<usize>, kind: PolicyErrorKind) -> PolicyError {
        PolicyError {
            file: self.file.clone(),
            line: line_of(&self.text, span.start),
            kind,
        }
    }
}

/// The 1-based line of a byte offset. Counting bytes is safe for UTF-8: `\n` never
/// occurs inside a multi-byte character.
fn line_of(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    1 + bytes[..end].iter().filter(|b| **b == b'\n').count()
}

/// Checks a parsed scenario against the certificate catalog and the rules of this module.
///
/// `catalog` maps a type code to the field names of that type (the `properties` of its
/// schema), or `None` when the type is unknown. Returns every problem found, in file
/// order within each kind; an empty vector means the scenario is clean.
pub fn lint(
    scenario: &Scenario,
    catalog: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Vec<PolicyError> {
    let b = &scenario.body;
    let mut errors = Vec::new();
    let mut push = |span: Range<usize>, kind| errors.push(scenario.error(span, kind));

    if !is_scenario_code(b.code.get_ref()) {
        push(b.code.span(), PolicyErrorKind::InvalidCode);
    }
    if *b.version.get_ref() == 0 {
        push(b.version.span(), PolicyErrorKind::ZeroVersion);
    }
    for (key, value) in [("name_zh", &b.name_zh), ("name_en", &b.name_en)] {
        if value.get_ref().trim().is_empty() {
            push(value.span(), PolicyErrorKind::Empty { key });
        }
    }
    for (key, list) in [("legal_basis", &b.legal_basis), ("source", &b.source)] {
        if list.get_ref().is_empty() {
            push(list.span(), PolicyErrorKind::Empty { key });
        }
        for item in list.get_ref() {
            if item.get_ref().trim().is_empty() {
                push(item.span(), PolicyErrorKind::Empty { key });
            }
        }
    }
    if *b.max_certificates.get_ref() == 0 {
        push(
            b.max_certificates.span(),
            PolicyErrorKind::ZeroMaxCertificates,
        );
    }

    if b.departments.get_ref().is_empty() {
        push(
            b.departments.span(),
            PolicyErrorKind::Empty { key: "departments" },
        );
    }
    let mut organisations = BTreeSet::new();
    for d in b.departments.get_ref() {
        if d.role.get_ref() != Role::Department.name() {
            push(
                d.role.span(),
                PolicyErrorKind::RoleNotAllowed {
                    role: d.role.get_ref().clone(),
                },
            );
        }
        match Uscc::parse(d.organisation.get_ref()) {
            Err(error) => push(
                d.organisation.span(),
                PolicyErrorKind::InvalidUscc { error },
            ),
            Ok(uscc) => {
                if !organisations.insert(uscc) {
                    push(
                        d.organisation.span(),
                        PolicyErrorKind::DuplicateDepartment {
                            organisation: uscc.as_str().to_owned(),
                        },
                    );
                }
            }
        }
        if d.name.get_ref().trim().is_empty() {
            push(
                d.name.span(),
                PolicyErrorKind::Empty {
                    key: "departments.name",
                },
            );
        }
    }

    if b.certificates.get_ref().is_empty() {
        push(
            b.certificates.span(),
            PolicyErrorKind::Empty {
                key: "certificates",
            },
        );
    }
    let mut types = BTreeSet::new();
    for c in b.certificates.get_ref() {
        let code = c.type_code.get_ref();
        if !types.insert(code.as_str()) {
            push(
                c.type_code.span(),
                PolicyErrorKind::DuplicateType {
                    type_code: code.clone(),
                },
            );
        }
        if c.disclose.is_empty() && c.claims.is_empty() && c.predicates.is_empty() {
            push(
                c.type_code.span(),
                PolicyErrorKind::NothingAllowed {
                    type_code: code.clone(),
                },
            );
        }
        if let Err(error) = TypeCode::parse(code) {
            push(
                c.type_code.span(),
                PolicyErrorKind::InvalidTypeCode { error },
            );
            continue;
        }
        let Some(fields) = catalog(code) else {
            push(
                c.type_code.span(),
                PolicyErrorKind::UnknownTypeCode {
                    type_code: code.clone(),
                },
            );
            continue;
        };
        for (list, names) in [("disclose", &c.disclose), ("claims", &c.claims)] {
            let mut seen = BTreeSet::new();
            for name in names {
                let field = name.get_ref();
                if !fields.contains(field) {
                    push(
                        name.span(),
                        PolicyErrorKind::UnknownField {
                            type_code: code.clone(),
                            field: field.clone(),
                        },
                    );
                } else if !seen.insert(field.as_str()) {
                    push(
                        name.span(),
                        PolicyErrorKind::DuplicateField {
                            list,
                            field: field.clone(),
                        },
                    );
                }
            }
        }
        let mut seen = BTreeSet::new();
        for p in &c.predicates {
            let predicate = *p.get_ref();
            if !seen.insert(predicate) {
                push(p.span(), PolicyErrorKind::DuplicatePredicate { predicate });
            } else if !predicate.applies_to(&fields) {
                push(
                    p.span(),
                    PolicyErrorKind::PredicateNotApplicable {
                        predicate,
                        type_code: code.clone(),
                    },
                );
            }
        }
    }
    errors.sort_by_key(|e| e.line);
    errors
}

/// `QD-GZF-001`: two upper-case letters (the deployment's region), a segment of 2 to 8
/// upper-case letters or digits (the service), and a three-digit number.
fn is_scenario_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    let [region, service, number] = parts.as_slice() else {
        return false;
    };
    region.len() == 2
        && region.bytes().all(|b| b.is_ascii_uppercase())
        && (2..=8).contains(&service.len())
        && service
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && number.len() == 3
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// A set of scenarios that all lint clean, keyed by scenario code.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    // INVARIANT: every scenario here passed `lint` against the catalog given to `new` (or,
    // from `from_published`, was published by a ledger that linted it), and is stored
    // under its own code.
    scenarios: BTreeMap<String, Scenario>,
}

impl RuleSet {
    /// Lints every scenario and collects them. Fails with every lint error of every
    /// scenario, plus one error for each scenario code used by more than one file.
    pub fn new(
        scenarios: impl IntoIterator<Item = Scenario>,
        catalog: &dyn Fn(&str) -> Option<Vec<String>>,
    ) -> Result<RuleSet, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let mut map: BTreeMap<String, Scenario> = BTreeMap::new();
        for scenario in scenarios {
            errors.extend(lint(&scenario, catalog));
            if let Some(first) = map.get(scenario.code()) {
                errors.push(scenario.error(
                    scenario.body.code.span(),
                    PolicyErrorKind::DuplicateCode {
                        code: scenario.code().to_owned(),
                        first_file: first.file.clone(),
                    },
                ));
                continue;
            }
            map.insert(scenario.code().to_owned(), scenario);
        }
        if errors.is_empty() {
            Ok(RuleSet { scenarios: map })
        } else {
            Err(errors)
        }
    }

    /// Rebuilds a rule set as it was published, for an auditor: the scenarios are not
    /// linted again (the catalog of that moment may be gone); the caller instead checks
    /// [`RuleSet::digest`] against the `PolicyPublished` entry, which the ledger wrote only
    /// for a set that linted clean. Fails on a scenario code used twice.
    pub fn from_published(
        scenarios: impl IntoIterator<Item = Scenario>,
    ) -> Result<RuleSet, String> {
        let mut map = BTreeMap::new();
        for s in scenarios {
            let code = s.code().to_owned();
            if map.insert(code.clone(), s).is_some() {
                return Err(format!("scenario {code} appears twice"));
            }
        }
        Ok(RuleSet { scenarios: map })
    }

    /// The `PolicyPublished` entry that publishes this set as `version` at `time`: its
    /// digest, and each scenario's code, version and SHA-256 of its file, in code order.
    pub fn publication(&self, version: u64, time: u64) -> crate::entry::PolicyPublished {
        crate::entry::PolicyPublished {
            time,
            version,
            digest: self.digest(),
            scenarios: self
                .scenarios
                .values()
                .map(|s| {
                    (
                        s.code().to_owned(),
                        u64::from(s.version()),
                        Sha256::digest(s.text().as_bytes()).into(),
                    )
                })
                .collect(),
        }
    }

    /// The scenario with this code.
    pub fn get(&self, code: &str) -> Option<&Scenario> {
        self.scenarios.get(code)
    }

    /// All scenarios, by code.
    pub fn scenarios(&self) -> &BTreeMap<String, Scenario> {
        &self.scenarios
    }

    /// The number of scenarios.
    pub fn len(&self) -> usize {
        self.scenarios.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty()
    }

    /// The digest that a `PolicyPublished` entry commits to:
    ///
    /// ```text
    /// SHA-256( "proofless/scenario-rule-set/v1\n"
    ///          ‖ for each scenario in ascending byte order of its code:
    ///              u64 big-endian byte length of the file's text ‖ the text (UTF-8) )
    /// ```
    ///
    /// It covers each file's exact text, so comments and layout count: an auditor
    /// who has the published files recomputes it without a TOML parser. The length
    /// prefixes make the encoding unambiguous (two different sets cannot concatenate to
    /// the same bytes); the prefix keeps it apart from every other hash in the system.
    /// File names are not covered: the code inside each file is the scenario's identity.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(DIGEST_PREFIX);
        for scenario in self.scenarios.values() {
            h.update((scenario.text.len() as u64).to_be_bytes());
            h.update(scenario.text.as_bytes());
        }
        h.finalize().into()
    }
}

/// A problem in a scenario file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct PolicyError {
    /// The file name given to [`Scenario::parse`].
    pub file: String,
    /// The 1-based line of the offending value (line 1 when the parser gives no place).
    pub line: usize,
    /// What is wrong.
    pub kind: PolicyErrorKind,
}

/// What is wrong in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// Not TOML, an unknown or missing key, an unknown predicate or access, or a value of
    /// the wrong type. The message is the TOML parser's, without the source snippet.
    #[error("{message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// `code` is not of the form `QD-GZF-001`.
    #[error("scenario code must look like QD-GZF-001 (2 letters, 2-8 letters or digits, 3 digits)")]
    InvalidCode,
    /// Two files carry the same scenario code.
    #[error("scenario code {code} is already used by {first_file}")]
    DuplicateCode {
        /// The code.
        code: String,
        /// The file that used it first.
        first_file: String,
    },
    /// `version` is 0; versions start at 1.
    #[error("version must be at least 1")]
    ZeroVersion,
    /// A name, list or list item that must say something is empty: a scenario must name
    /// its purpose, its legal basis, its source, its departments and its certificates.
    #[error("`{key}` must not be empty")]
    Empty {
        /// The key.
        key: &'static str,
    },
    /// `max_certificates` is 0: the scenario could never be used.
    #[error("max_certificates must be at least 1")]
    ZeroMaxCertificates,
    /// A department entry names a role other than `department`.
    #[error("role `{role}` may not use scenarios (only `department`)")]
    RoleNotAllowed {
        /// The role as written.
        role: String,
    },
    /// A department's organisation code is not a valid 统一社会信用代码.
    #[error("organisation is not a valid USCC: {error}")]
    InvalidUscc {
        /// Why.
        error: IdError,
    },
    /// The same organisation is listed twice.
    #[error("department {organisation} is listed twice")]
    DuplicateDepartment {
        /// The organisation's USCC.
        organisation: String,
    },
    /// A type code that is not a well-formed 证照类型代码.
    #[error("type code is malformed: {error}")]
    InvalidTypeCode {
        /// Why.
        error: IdError,
    },
    /// A well-formed type code that the catalog does not know.
    #[error("unknown certificate type {type_code}")]
    UnknownTypeCode {
        /// The type code.
        type_code: String,
    },
    /// The same certificate type has two `[[certificates]]` entries.
    #[error("certificate type {type_code} is listed twice")]
    DuplicateType {
        /// The type code.
        type_code: String,
    },
    /// A certificate entry allows nothing (no disclose, claims or predicates).
    #[error("certificate type {type_code} allows nothing: list disclose, claims or predicates")]
    NothingAllowed {
        /// The type code.
        type_code: String,
    },
    /// A field that the certificate type does not have.
    #[error("certificate type {type_code} has no field `{field}`")]
    UnknownField {
        /// The type code.
        type_code: String,
        /// The field as written.
        field: String,
    },
    /// A field listed twice in the same list.
    #[error("field `{field}` is listed twice in `{list}`")]
    DuplicateField {
        /// `disclose` or `claims`.
        list: &'static str,
        /// The field.
        field: String,
    },
    /// A predicate listed twice for the same type.
    #[error("predicate `{predicate}` is listed twice")]
    DuplicatePredicate {
        /// The predicate.
        predicate: Predicate,
    },
    /// The certificate type lacks the field the predicate is answered from.
    #[error("predicate `{predicate}` needs {} in certificate type {type_code}", predicate.requirement())]
    PredicateNotApplicable {
        /// The predicate.
        predicate: Predicate,
        /// The type code.
        type_code: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_counts_newlines_before_the_offset() {
        let text = "a = 1\n名 = \"二\"\nc = 3\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, text.find('c').unwrap_or(0)), 3);
        assert_eq!(line_of(text, 10_000), 4);
    }

    #[test]
    fn scenario_codes() {
        for good in ["QD-GZF-001", "QD-YBYD-012", "SD-AB12-999"] {
            assert!(is_scenario_code(good), "{good}");
        }
        for bad in [
            "",
            "QD-GZF-01",
            "qd-GZF-001",
            "QD-G-001",
            "QD-GZF-001-2",
            "QDX-GZF-001",
        ] {
            assert!(!is_scenario_code(bad), "{bad}");
        }
    }

    #[test]
    fn predicate_names_match_serde() {
        for p in Predicate::ALL {
            let parsed: Spanned<Predicate> =
                toml::from_str::<BTreeMap<String, Spanned<Predicate>>>(&format!("p = \"{p}\""))
                    .ok()
                    .and_then(|mut m| m.remove("p"))
                    .unwrap_or_else(|| panic!("{p} does not parse"));
            assert_eq!(*parsed.get_ref(), p);
        }
    }

    #[test]
    fn predicate_applicability() {
        let fields = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Predicate::AgeAtLeast.applies_to(&fields(&["birth_date"])));
        assert!(Predicate::AgeAtLeast.applies_to(&fields(&["holder_birth_date"])));
        assert!(!Predicate::AgeAtLeast.applies_to(&fields(&["birth_place"])));
        assert!(Predicate::MaritalStatusIs.applies_to(&fields(&["spouse_name"])));
        assert!(!Predicate::MaritalStatusIs.applies_to(&fields(&["name"])));
        assert!(Predicate::HoldsValid.applies_to(&[]));
    }
}

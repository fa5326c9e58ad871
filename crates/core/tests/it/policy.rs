//! Scenario rules: every committed file in `schemas/scenarios/` parses and lints clean
//! against the real certificate schemas; each kind of mistake is reported with the file and
//! the line of the offending value.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use proofless_core::ids::Uscc;
use proofless_core::keys::Role;
use proofless_core::policy::{
    Access, PolicyError, PolicyErrorKind, Predicate, RuleSet, Scenario, lint,
};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/scenarios");
const CERTIFICATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/certificates");

/// Type code → field names, from the `properties` of every certificate schema.
fn catalog() -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(CERTIFICATES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let schema: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let code = schema["x-proofless"]["type_code"]
            .as_str()
            .unwrap()
            .to_owned();
        let fields = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert!(out.insert(code, fields).is_none(), "{}", path.display());
    }
    assert_eq!(out.len(), 32);
    out
}

fn lookup(catalog: &BTreeMap<String, Vec<String>>) -> impl Fn(&str) -> Option<Vec<String>> + '_ {
    |code| catalog.get(code).cloned()
}

/// Every `*.toml` in `schemas/scenarios/`, as (file name, text), sorted by name.
fn committed() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(SCENARIOS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            (
                Path::new(&p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                text,
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn committed_scenarios_parse_and_lint_clean() {
    let catalog = catalog();
    let files = committed();
    assert!(files.len() >= 12, "only {} scenario files", files.len());
    let mut scenarios = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in &files {
        match Scenario::parse(name, text) {
            Ok(s) => {
                problems.extend(lint(&s, &lookup(&catalog)));
                scenarios.push(s);
            }
            Err(e) => problems.push(e),
        }
    }
    let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
    let set = RuleSet::new(scenarios, &lookup(&catalog)).unwrap();
    assert_eq!(set.len(), files.len());
    // Both kinds of access are represented, and every predicate is used somewhere.
    let all: Vec<&Scenario> = set.scenarios().values().collect();
    assert!(all.iter().any(|s| s.access() == Access::Statutory));
    assert!(all.iter().any(|s| s.access() == Access::Consent));
    for p in Predicate::ALL {
        assert!(
            all.iter()
                .flat_map(|s| s.certificates())
                .any(|c| c.allows(p)),
            "no scenario uses {p}"
        );
    }
    for s in &all {
        assert!(
            s.source().any(|src| src.starts_with("reference:S")),
            "{}: cite a reference entry",
            s.file_name()
        );
    }
}

/// (type code, field) of every field the schemas mark `sensitive`.
fn sensitive_fields() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(CERTIFICATES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let schema: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let x = &schema["x-proofless"];
        for field in x["fields"].as_array().unwrap() {
            if field["sensitive"].as_bool().unwrap() {
                out.push((
                    x["type_code"].as_str().unwrap().to_owned(),
                    field["name"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

/// Data minimisation: a sensitive field may only be disclosed where the service cannot work
/// from a claim or a predicate. Each exception is listed here with its reason, so a new one
/// is a deliberate, reviewed change.
#[test]
fn sensitive_fields_are_disclosed_only_where_listed() {
    const ALLOWED: [(&str, &str, &str); 3] = [
        // 两项补贴: eligibility depends on category and grade (重度 = grade 1 or 2).
        (
            "QD-CJBT-001",
            "13100000PL0000007G901",
            "disability_category",
        ),
        ("QD-CJBT-001", "13100000PL0000007G901", "disability_grade"),
        // 出生登记: the register records the place of birth.
        ("QD-CSDJ-001", "11100000PL0000003A901", "birth_place"),
    ];
    let sensitive = sensitive_fields();
    assert!(!sensitive.is_empty());
    let mut found = Vec::new();
    for (name, text) in committed() {
        let s = Scenario::parse(&name, &text).unwrap();
        for c in s.certificates() {
            for field in c.disclose() {
                if sensitive
                    .iter()
                    .any(|(t, f)| t == c.type_code() && f == field)
                {
                    found.push((
                        s.code().to_owned(),
                        c.type_code().to_owned(),
                        field.to_owned(),
                    ));
                }
            }
        }
    }
    found.sort();
    let mut allowed: Vec<(String, String, String)> = ALLOWED
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    allowed.sort();
    assert_eq!(found, allowed);
}

#[test]
fn example_departments_can_use_their_scenarios() {
    let catalog = catalog();
    let scenarios = committed()
        .iter()
        .map(|(n, t)| Scenario::parse(n, t).unwrap())
        .collect::<Vec<_>>();
    let set = RuleSet::new(scenarios, &lookup(&catalog)).unwrap();
    let housing = Uscc::parse("11370200MB00001103").unwrap();
    let medical = Uscc::parse("11370200MB0000114F").unwrap();
    let gzf = set.get("QD-GZF-001").unwrap();
    assert!(gzf.allows_department(Role::Department, &housing));
    assert!(!gzf.allows_department(Role::Department, &medical));
    assert!(!gzf.allows_department(Role::Issuer, &housing));
    let marriage = gzf.certificate("11100000PL00000027901").unwrap();
    assert!(marriage.allows(Predicate::MaritalStatusIs));
    assert!(marriage.may_check("spouse_name"));
    assert!(!marriage.may_disclose("spouse_id_number"));
    assert!(
        set.get("QD-YBYD-001")
            .unwrap()
            .allows_department(Role::Department, &medical)
    );
}

#[test]
fn digest_covers_exact_text_in_code_order() {
    let catalog = catalog();
    let files = committed();
    let parse_all = |files: &[(String, String)]| {
        files
            .iter()
            .map(|(n, t)| Scenario::parse(n, t).unwrap())
            .collect::<Vec<_>>()
    };
    let a = RuleSet::new(parse_all(&files), &lookup(&catalog)).unwrap();
    let mut reversed = files.clone();
    reversed.reverse();
    let b = RuleSet::new(parse_all(&reversed), &lookup(&catalog)).unwrap();
    assert_eq!(a.digest(), b.digest(), "order of loading must not matter");

    // Recompute by hand, as an auditor would.
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"proofless/scenario-rule-set/v1\n");
    for s in a.scenarios().values() {
        h.update((s.text().len() as u64).to_be_bytes());
        h.update(s.text().as_bytes());
    }
    assert_eq!(a.digest(), <[u8; 32]>::from(h.finalize()));

    // A comment counts.
    let mut changed = files.clone();
    changed[0].1.push_str("# edited\n");
    let c = RuleSet::new(parse_all(&changed), &lookup(&catalog)).unwrap();
    assert_ne!(a.digest(), c.digest());
    assert_ne!(a.digest(), RuleSet::default().digest());
}

// ---------------------------------------------------------------------------------------
// Negative cases: one valid base file, one mistake each, the right error on the right line.
// ---------------------------------------------------------------------------------------

const BASE: &str = r#"code = "QD-TEST-001"
version = 1
name_zh = "测试场景"
name_en = "Test scenario"
legal_basis = ["《测试条例》第一条"]
source = ["reference:S11"]
access = "consent"
max_certificates = 2

[[departments]]
role = "department"
organisation = "11370200MB00001103"
name = "青岛市住房和城乡建设局"

[[certificates]]
type_code = "11100000PL00000027901"
disclose = ["registration_date"]
claims = ["holder_name", "spouse_name"]
predicates = ["currently_valid", "marital_status_is"]

[[certificates]]
type_code = "11100000PL00000014901"
claims = ["name"]
predicates = ["age_at_least"]
"#;

/// `BASE` with the first occurrence of `from` replaced by `to`.
fn edited(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replacen(from, to, 1)
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_with(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    1 + text[..at].matches('\n').count()
}

fn lint_text(text: &str) -> Vec<PolicyError> {
    let catalog = catalog();
    let scenario = Scenario::parse("test.toml", text).unwrap();
    lint(&scenario, &lookup(&catalog))
}

/// Lints `text` and expects exactly one error, on the line of `needle`.
fn one_lint_error(text: &str, needle: &str) -> PolicyErrorKind {
    let errors = lint_text(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors.into_iter().next().unwrap();
    assert_eq!(e.file, "test.toml");
    assert_eq!(e.line, line_with(text, needle), "{e}");
    e.kind
}

/// Parses `text` and expects a syntax error on the line of `needle` mentioning `word`.
fn parse_error(text: &str, needle: &str, word: &str) {
    let e = Scenario::parse("test.toml", text).unwrap_err();
    assert_eq!(e.file, "test.toml");
    assert_eq!(e.line, line_with(text, needle), "{e}");
    let PolicyErrorKind::Syntax { message } = &e.kind else {
        panic!("{e:?}");
    };
    assert!(message.contains(word), "{message}");
    assert!(
        e.to_string()
            .starts_with(&format!("test.toml:{}: ", e.line))
    );
}

#[test]
fn base_is_clean() {
    assert_eq!(lint_text(BASE), vec![]);
}

#[test]
fn unknown_type_code() {
    let text = edited("11100000PL00000014901", "11100000PL00000014999");
    let kind = one_lint_error(&text, "11100000PL00000014999");
    assert_eq!(
        kind,
        PolicyErrorKind::UnknownTypeCode {
            type_code: "11100000PL00000014999".into()
        }
    );
}

#[test]
fn malformed_type_code() {
    let text = edited("11100000PL00000014901", "11100000PL0000001490I");
    let kind = one_lint_error(&text, "11100000PL0000001490I");
    assert!(
        matches!(kind, PolicyErrorKind::InvalidTypeCode { .. }),
        "{kind:?}"
    );
}

#[test]
fn unknown_field_in_claims_and_disclose() {
    let text = edited("claims = [\"name\"]", "claims = [\"name\", \"nickname\"]");
    let kind = one_lint_error(&text, "nickname");
    assert_eq!(
        kind,
        PolicyErrorKind::UnknownField {
            type_code: "11100000PL00000014901".into(),
            field: "nickname".into()
        }
    );
    let text = edited(
        "\"registration_date\"]",
        "\"registration_date\",\n  \"wedding_venue\"]",
    );
    let kind = one_lint_error(&text, "wedding_venue");
    assert!(
        matches!(kind, PolicyErrorKind::UnknownField { field, .. } if field == "wedding_venue")
    );
}

#[test]
fn bad_uscc() {
    let text = edited("11370200MB00001103", "11370200MB00001104");
    let kind = one_lint_error(&text, "11370200MB00001104");
    assert!(
        matches!(kind, PolicyErrorKind::InvalidUscc { .. }),
        "{kind:?}"
    );
}

#[test]
fn unknown_predicate_is_a_parse_error_on_its_line() {
    let text = edited("[\"age_at_least\"]", "[\"age_at_least\", \"is_rich\"]");
    parse_error(&text, "is_rich", "is_rich");
}

#[test]
fn unknown_keys_are_parse_errors_on_their_line() {
    // At the top level, in a department and in a certificate rule.
    parse_error(
        &edited("version = 1\n", "version = 1\nowner = \"x\"\n"),
        "owner",
        "owner",
    );
    parse_error(
        &edited(
            "name = \"青岛市住房",
            "unit = \"窗口\"\nname = \"青岛市住房",
        ),
        "unit",
        "unit",
    );
    parse_error(
        &edited(
            "claims = [\"name\"]",
            "claims = [\"name\"]\nreturn_all = true",
        ),
        "return_all",
        "return_all",
    );
}

#[test]
fn other_parse_errors() {
    parse_error(&edited("\"consent\"", "\"maybe\""), "maybe", "maybe");
    parse_error(
        &edited("max_certificates = 2", "max_certificates = -1"),
        "max_certificates",
        "",
    );
    parse_error(&edited("version = 1", "version = \"1\""), "version", "");
    let missing = Scenario::parse("test.toml", &edited("access = \"consent\"\n", "")).unwrap_err();
    assert!(
        matches!(&missing.kind, PolicyErrorKind::Syntax { message } if message.contains("access"))
    );
    let bad_toml = edited("name_en = \"Test scenario\"", "name_en = \"Test scenario");
    parse_error(&bad_toml, "name_en", "");
}

#[test]
fn duplicate_type() {
    let text = edited(
        "type_code = \"11100000PL00000014901\"\nclaims = [\"name\"]\npredicates = [\"age_at_least\"]",
        "type_code = \"11100000PL00000027901\"\nclaims = [\"holder_name\"]",
    );
    let second = text.rfind("type_code = \"11100000PL00000027901\"").unwrap();
    let errors = lint_text(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 1 + text[..second].matches('\n').count());
    assert_eq!(
        errors[0].kind,
        PolicyErrorKind::DuplicateType {
            type_code: "11100000PL00000027901".into()
        }
    );
}

#[test]
fn max_certificates_zero() {
    let text = edited("max_certificates = 2", "max_certificates = 0");
    assert_eq!(
        one_lint_error(&text, "max_certificates"),
        PolicyErrorKind::ZeroMaxCertificates
    );
}

#[test]
fn duplicate_department() {
    let dept = "[[departments]]\nrole = \"department\"\norganisation = \"11370200MB00001103\"\nname = \"青岛市住房和城乡建设局\"\n";
    let text = edited(dept, &format!("{dept}\n{dept}"));
    let second = text.rfind("organisation").unwrap();
    let errors = lint_text(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 1 + text[..second].matches('\n').count());
    assert!(matches!(
        errors[0].kind,
        PolicyErrorKind::DuplicateDepartment { .. }
    ));
}

#[test]
fn role_other_than_department() {
    let text = edited("role = \"department\"", "role = \"channel\"");
    assert_eq!(
        one_lint_error(&text, "role"),
        PolicyErrorKind::RoleNotAllowed {
            role: "channel".into()
        }
    );
}

#[test]
fn empty_rule() {
    let text = edited("claims = [\"name\"]\npredicates = [\"age_at_least\"]\n", "");
    assert_eq!(
        one_lint_error(&text, "11100000PL00000014901"),
        PolicyErrorKind::NothingAllowed {
            type_code: "11100000PL00000014901".into()
        }
    );
}

#[test]
fn purpose_less_names_and_empty_lists() {
    assert_eq!(
        one_lint_error(&edited("\"测试场景\"", "\" \""), "name_zh"),
        PolicyErrorKind::Empty { key: "name_zh" }
    );
    assert_eq!(
        one_lint_error(&edited("[\"《测试条例》第一条\"]", "[]"), "legal_basis"),
        PolicyErrorKind::Empty { key: "legal_basis" }
    );
    assert_eq!(
        one_lint_error(&edited("[\"reference:S11\"]", "[\"\"]"), "source"),
        PolicyErrorKind::Empty { key: "source" }
    );
}

#[test]
fn code_and_version() {
    assert_eq!(
        one_lint_error(&edited("QD-TEST-001", "GZF1"), "code"),
        PolicyErrorKind::InvalidCode
    );
    assert_eq!(
        one_lint_error(&edited("version = 1", "version = 0"), "version"),
        PolicyErrorKind::ZeroVersion
    );
}

#[test]
fn predicate_must_fit_the_type() {
    // A marriage certificate has no plain birth date but does have `holder_birth_date`;
    // a social security card has neither a birth date nor a marital status.
    let text = edited(
        "type_code = \"11100000PL00000014901\"\nclaims = [\"name\"]\npredicates = [\"age_at_least\"]",
        "type_code = \"11100000PL0000006K901\"\nclaims = [\"name\"]\npredicates = [\"holds_valid\", \"marital_status_is\"]",
    );
    assert_eq!(
        one_lint_error(&text, "[\"holds_valid\", \"marital_status_is\"]"),
        PolicyErrorKind::PredicateNotApplicable {
            predicate: Predicate::MaritalStatusIs,
            type_code: "11100000PL0000006K901".into()
        }
    );
    let text = edited("[\"age_at_least\"]", "[\"age_at_least\", \"age_at_least\"]");
    assert_eq!(
        one_lint_error(&text, "[\"age_at_least\", \"age_at_least\"]"),
        PolicyErrorKind::DuplicatePredicate {
            predicate: Predicate::AgeAtLeast
        }
    );
}

#[test]
fn duplicate_field_in_a_list() {
    let text = edited("claims = [\"name\"]", "claims = [\"name\", \"name\"]");
    assert_eq!(
        one_lint_error(&text, "claims = [\"name\", \"name\"]"),
        PolicyErrorKind::DuplicateField {
            list: "claims",
            field: "name".into()
        }
    );
}

#[test]
fn several_errors_are_all_reported_in_line_order() {
    let text = edited("max_certificates = 2", "max_certificates = 0")
        .replacen("11370200MB00001103", "11370200MB00001104", 1)
        .replacen("\"spouse_name\"", "\"spouse\"", 1);
    let errors = lint_text(&text);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![
            line_with(&text, "max_certificates"),
            line_with(&text, "11370200MB00001104"),
            line_with(&text, "\"spouse\""),
        ]
    );
}

#[test]
fn rule_set_refuses_unclean_scenarios_and_duplicate_codes() {
    let catalog = catalog();
    let a = Scenario::parse("a.toml", BASE).unwrap();
    let b = Scenario::parse("b.toml", BASE).unwrap();
    let errors = RuleSet::new([a, b], &lookup(&catalog)).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, "b.toml");
    assert_eq!(errors[0].line, 1);
    assert_eq!(
        errors[0].kind,
        PolicyErrorKind::DuplicateCode {
            code: "QD-TEST-001".into(),
            first_file: "a.toml".into()
        }
    );
    let bad = Scenario::parse("c.toml", &edited("version = 1", "version = 0")).unwrap();
    assert!(RuleSet::new([bad], &lookup(&catalog)).is_err());
}

//! Identifiers: known answers and refusals.
//!
//! Known answers come from `shared/reference/identifiers.md` (worked examples, the 13
//! USCCs met in its sources, the published certificate identifiers and the "legacy"
//! column of its table). Citizen numbers here are synthetic or are the public examples
//! of the `sndnvaps/CheckID_card` README.

use proofless_core::ids::{
    CertificateId, CheckRule, CitizenId, HolderCode, IdError, TypeCode, Uscc,
};
use proptest::prelude::*;

const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const ALNUM36: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CITIZEN_ALPHABET: &str = "0123456789X";

/// The 13 USCCs of identifiers.md (b), all valid.
const USCCS: [&str; 13] = [
    "11100000000013338W",
    "11100000MB03271699",
    "11220000013544541J",
    "11330105002500287C",
    "11430000006122244L",
    "11110000000021135M",
    "91610800064834709T",
    "91370406L24894136J",
    "11420503087246977F",
    "113700000045046442",
    "113700000045030270",
    "11100000000013661B",
    "11371000004359010J",
];

/// The published identifiers that pass the standard rule and have a USCC issuer.
const STANDARD_IDS: [&str; 4] = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.002.S",
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
];

/// The Hefei real-estate test identifier: standard check character, but its issuer is an
/// administrative code, not a USCC.
const HEFEI_ID: &str = "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9";

/// The Shandong sharing-client example: legacy check character.
const SHANDONG_ID: &str = "1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M";

/// The comment example in Epoint's `CertCheckUtilsNew`: valid under neither rule.
const PLACEHOLDER_ID: &str =
    "1.2.156.3005.2.11100000000013338W050.91610800064834709T.2023000001.001.X";

/// ISO 7064 MOD 11-2 written again here, so that tests can build numbers whose only fault
/// is elsewhere (a bad date, a bad region).
fn with_mod11_check(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let s: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = "10X98765432".as_bytes()[(s % 11) as usize] as char;
    format!("{first17}{check}")
}

/// Replaces the character at byte `at` (ASCII input).
fn substitute(s: &str, at: usize, with: char) -> String {
    let mut out = s.to_owned();
    out.replace_range(at..at + 1, with.encode_utf8(&mut [0; 4]));
    out
}

fn uscc(s: &str) -> Uscc {
    s.parse().unwrap()
}

// --- 公民身份号码 --------------------------------------------------------------------

#[test]
fn citizen_worked_example() {
    let id = CitizenId::from_parts("370202", (1990, 1, 1), 123).unwrap();
    assert_eq!(id.as_str(), "370202199001011237");
    assert_eq!(CitizenId::parse("370202199001011237").unwrap(), id);
    assert_eq!(id.birth_date(), (1990, 1, 1));
    assert_eq!(id.region_code(), "370202");
    assert_eq!(id.sequence(), 123);
    assert!(id.is_male());
    assert_eq!(id.to_string(), "370202199001011237");
    assert_eq!(AsRef::<str>::as_ref(&id), "370202199001011237");
}

#[test]
fn citizen_readme_examples() {
    let id: CitizenId = "34052419800101001X".parse().unwrap();
    assert_eq!(id.birth_date(), (1980, 1, 1));
    assert_eq!(id.sequence(), 1);
    assert!(id.is_male());
    assert_eq!(
        CitizenId::parse("340524198001010013"),
        Err(IdError::Checksum { part: "citizen id" })
    );
}

#[test]
fn citizen_refuses_lower_case_x() {
    assert_eq!(
        CitizenId::parse("34052419800101001x"),
        Err(IdError::Charset {
            part: "citizen id",
            position: 18
        })
    );
}

#[test]
fn citizen_refuses_wrong_length_and_characters() {
    for bad in ["37020219900101123", "3702021990010112370", ""] {
        assert!(matches!(
            CitizenId::parse(bad),
            Err(IdError::Length {
                part: "citizen id",
                ..
            })
        ));
    }
    assert_eq!(
        CitizenId::parse("3702021990X1011237"),
        Err(IdError::Charset {
            part: "citizen id",
            position: 11
        })
    );
    assert_eq!(
        CitizenId::parse("37020219900101123Y"),
        Err(IdError::Charset {
            part: "citizen id",
            position: 18
        })
    );
    // 18 bytes, but not ASCII.
    assert!(matches!(
        CitizenId::parse("公民身份号码"),
        Err(IdError::Charset { position: 1, .. })
    ));
}

#[test]
fn citizen_refuses_bad_check_character() {
    assert_eq!(
        CitizenId::parse("370202199001011238"),
        Err(IdError::Checksum { part: "citizen id" })
    );
}

#[test]
fn citizen_dates() {
    let feb30 = with_mod11_check("37020219990230123");
    assert_eq!(CitizenId::parse(&feb30), Err(IdError::Date));
    assert_eq!(
        CitizenId::from_parts("370202", (1999, 2, 30), 123),
        Err(IdError::Date)
    );

    // 2000 is a leap year (divisible by 400), 1900 is not (divisible by 100).
    let leap = with_mod11_check("37020220000229123");
    assert_eq!(CitizenId::parse(&leap).unwrap().birth_date(), (2000, 2, 29));
    assert!(CitizenId::from_parts("370202", (2000, 2, 29), 123).is_ok());
    let not_leap = with_mod11_check("37020219000229123");
    assert_eq!(CitizenId::parse(&not_leap), Err(IdError::Date));
    assert_eq!(
        CitizenId::from_parts("370202", (1900, 2, 29), 123),
        Err(IdError::Date)
    );

    for first17 in [
        "37020218991231123",
        "37020221000101123",
        "37020219991301123",
    ] {
        assert_eq!(
            CitizenId::parse(&with_mod11_check(first17)),
            Err(IdError::Date)
        );
    }
}

#[test]
fn citizen_regions() {
    for first17 in [
        "00020219900101123",
        "99020219900101123",
        "16020219900101123",
    ] {
        assert_eq!(
            CitizenId::parse(&with_mod11_check(first17)),
            Err(IdError::Region)
        );
    }
    assert_eq!(
        CitizenId::from_parts("990202", (1990, 1, 1), 1),
        Err(IdError::Region)
    );
    for region in ["110101", "650102", "710000", "810000", "820000"] {
        assert!(CitizenId::from_parts(region, (1990, 1, 1), 1).is_ok());
    }
}

#[test]
fn citizen_from_parts_refuses_bad_parts() {
    assert!(matches!(
        CitizenId::from_parts("37020", (1990, 1, 1), 1),
        Err(IdError::Length { part: "region", .. })
    ));
    assert_eq!(
        CitizenId::from_parts("3702A2", (1990, 1, 1), 1),
        Err(IdError::Charset {
            part: "region",
            position: 5
        })
    );
    assert_eq!(
        CitizenId::from_parts("370202", (1990, 1, 1), 1000),
        Err(IdError::Part("sequence"))
    );
}

#[test]
fn errors_do_not_contain_the_input() {
    let inputs = [
        "340524198001010013",
        "3405241980010100",
        "34052419800230001X",
        "3405241980010100x1",
    ];
    for input in inputs {
        let err = CitizenId::parse(input).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("340524"), "{shown}");
        assert!(!shown.contains("19800"), "{shown}");
    }
}

// --- 统一社会信用代码 ----------------------------------------------------------------

#[test]
fn uscc_known_answers() {
    for code in USCCS {
        let parsed = Uscc::parse(code).unwrap();
        assert_eq!(parsed.as_str(), code);
        assert_eq!(parsed.to_string(), code);
        assert_eq!(Uscc::from_first17(&code[..17]).unwrap(), parsed);
    }
    // The worked example: 自然资源部.
    assert_eq!(
        Uscc::from_first17("11100000MB0327169").unwrap().as_str(),
        "11100000MB03271699"
    );
}

#[test]
fn uscc_refuses_excluded_letters_and_lower_case() {
    for letter in ['I', 'O', 'Z', 'S', 'V'] {
        let bad = substitute("11100000MB03271699", 8, letter);
        assert_eq!(
            Uscc::parse(&bad),
            Err(IdError::Charset {
                part: "USCC",
                position: 9
            })
        );
        let first17 = substitute("11100000MB0327169", 9, letter);
        assert_eq!(
            Uscc::from_first17(&first17),
            Err(IdError::Charset {
                part: "USCC",
                position: 10
            })
        );
        let check = substitute("11100000MB03271699", 17, letter);
        assert_eq!(
            Uscc::parse(&check),
            Err(IdError::Charset {
                part: "USCC",
                position: 18
            })
        );
    }
    assert_eq!(
        Uscc::parse("11100000mb03271699"),
        Err(IdError::Charset {
            part: "USCC",
            position: 9
        })
    );
    assert_eq!(
        Uscc::parse("11100000000013338w"),
        Err(IdError::Charset {
            part: "USCC",
            position: 18
        })
    );
}

#[test]
fn uscc_refuses_wrong_length_and_check() {
    for bad in ["11100000MB0327169", "11100000MB032716990", ""] {
        assert!(matches!(
            Uscc::parse(bad),
            Err(IdError::Length { part: "USCC", .. })
        ));
    }
    assert!(matches!(
        Uscc::from_first17("11100000MB03271699"),
        Err(IdError::Length { part: "USCC", .. })
    ));
    assert_eq!(
        Uscc::parse("11100000MB03271698"),
        Err(IdError::Checksum { part: "USCC" })
    );
}

/// Every single substitution of every known USCC, and of the citizen examples, fails.
#[test]
fn known_codes_detect_every_substitution() {
    for code in USCCS {
        for at in 0..18 {
            for c in USCC_ALPHABET.chars() {
                if code.as_bytes()[at] as char != c {
                    assert!(
                        Uscc::parse(&substitute(code, at, c)).is_err(),
                        "{code} {at} {c}"
                    );
                }
            }
        }
    }
    for id in ["370202199001011237", "34052419800101001X"] {
        for at in 0..18 {
            for c in CITIZEN_ALPHABET.chars() {
                if id.as_bytes()[at] as char != c {
                    assert!(
                        CitizenId::parse(&substitute(id, at, c)).is_err(),
                        "{at} {c}"
                    );
                }
            }
        }
    }
}

// --- 持证主体代码 --------------------------------------------------------------------

#[test]
fn holder_codes() {
    let person = HolderCode::parse("111", "370202199001011237").unwrap();
    assert_eq!(person.code_type(), "111");
    assert_eq!(person.as_str(), "370202199001011237");
    assert!(matches!(person, HolderCode::Citizen(_)));

    let org = HolderCode::parse("001", "11371000004359010J").unwrap();
    assert_eq!(org.code_type(), "001");
    assert_eq!(org, HolderCode::Organisation(uscc("11371000004359010J")));
    assert_eq!(org.to_string(), "11371000004359010J");

    assert_eq!(
        HolderCode::parse("002", "11371000004359010J"),
        Err(IdError::Part("holder code type"))
    );
    assert!(HolderCode::parse("111", "11371000004359010J").is_err());
    assert!(HolderCode::parse("001", "370202199001011237").is_err());
}

// --- 证照类型代码 --------------------------------------------------------------------

#[test]
fn type_codes() {
    for (code, definer, sequence) in [
        ("11100000MB03271699001", "11100000MB03271699", 1),
        ("11100000MB03271699022", "11100000MB03271699", 22),
        ("11100000000013338W011", "11100000000013338W", 11),
        ("11100000000013338W082", "11100000000013338W", 82),
        ("11100000000013661B006", "11100000000013661B", 6),
    ] {
        let parsed: TypeCode = code.parse().unwrap();
        assert_eq!(parsed.definer(), uscc(definer));
        assert_eq!(parsed.sequence(), sequence);
        assert_eq!(parsed.to_string(), code);
        assert_eq!(TypeCode::new(uscc(definer), sequence).unwrap(), parsed);
    }
    // The apparent typo of a C# source (identifiers.md, "Type codes seen") passes the
    // GB 32100 check by itself (a 1 in 31 chance), so the check cannot tell it apart.
    let odd = TypeCode::parse("1110000000001332XW059").unwrap();
    assert_eq!(odd.definer(), uscc("1110000000001332XW"));
    assert_eq!(
        TypeCode::parse("1110000000001332XY059"),
        Err(IdError::Checksum { part: "type code" })
    );
    assert!(matches!(
        TypeCode::parse("11100000MB0327169900"),
        Err(IdError::Length {
            part: "type code",
            ..
        })
    ));
    assert_eq!(
        TypeCode::parse("11100000MB0327169900A"),
        Err(IdError::Charset {
            part: "type code",
            position: 21
        })
    );
    assert_eq!(
        TypeCode::new(uscc("11100000MB03271699"), 1000),
        Err(IdError::Part("type code sequence"))
    );
}

// --- 电子证照标识 --------------------------------------------------------------------

#[test]
fn certificate_worked_example() {
    let type_code = TypeCode::parse("11100000000013338W011").unwrap();
    let issuer = uscc("11430000006122244L");
    let id = CertificateId::new(type_code, issuer, "20230000403", 1).unwrap();
    assert_eq!(id.as_str(), STANDARD_IDS[0]);
    assert_eq!(id.type_code(), type_code);
    assert_eq!(id.issuer(), issuer);
    assert_eq!(id.serial(), "20230000403");
    assert_eq!(id.version(), 1);
    assert_eq!(id.check_char(), 'U');
    assert_eq!(id.check_rule(), CheckRule::Standard);
    assert_eq!(format!("{id}"), STANDARD_IDS[0]);
}

#[test]
fn certificate_standard_known_answers() {
    for text in STANDARD_IDS {
        let id = CertificateId::parse(text).unwrap();
        assert_eq!(id.as_str(), text);
        let rebuilt = CertificateId::new(id.type_code(), id.issuer(), id.serial(), id.version());
        assert_eq!(rebuilt.unwrap(), id);
        // The import path with the legacy rule allowed still reports the standard rule.
        let (imported, rule) =
            CertificateId::parse_for_import(text, CheckRule::LegacyShandong).unwrap();
        assert_eq!((imported, rule), (id, CheckRule::Standard));
    }
    let jilin: CertificateId = STANDARD_IDS[2].parse().unwrap();
    assert_eq!(jilin.serial(), "2430599");
    assert_eq!(jilin.type_code().sequence(), 32);
    assert_eq!(jilin.version(), 1);
    assert_eq!(jilin.check_char(), 'F');
}

#[test]
fn certificate_with_administrative_issuer_is_refused() {
    // Its check character is the standard one (see the unit test in ids.rs), but the
    // issuer is `340100`, not a USCC.
    assert_eq!(
        CertificateId::parse(HEFEI_ID),
        Err(IdError::Length {
            part: "issuer",
            expected: "18",
            found: 6
        })
    );
}

#[test]
fn certificate_legacy_shandong_example() {
    assert_eq!(
        CertificateId::parse(SHANDONG_ID),
        Err(IdError::Checksum {
            part: "certificate id"
        })
    );
    assert_eq!(
        CertificateId::parse_for_import(SHANDONG_ID, CheckRule::Standard),
        Err(IdError::Checksum {
            part: "certificate id"
        })
    );
    let (id, rule) =
        CertificateId::parse_for_import(SHANDONG_ID, CheckRule::LegacyShandong).unwrap();
    assert_eq!(rule, CheckRule::LegacyShandong);
    assert_eq!(id.check_rule(), CheckRule::LegacyShandong);
    assert_eq!(id.as_str(), SHANDONG_ID);
    assert_eq!(id.serial(), "209FA4E88F9E4C878F3E9BED2CE7EA49");
    assert_eq!(id.issuer(), uscc("113700000045046442"));
    assert_eq!(id.check_char(), 'M');
    // Minting always uses the standard rule: D.
    let minted = CertificateId::new(id.type_code(), id.issuer(), id.serial(), id.version());
    assert_eq!(minted.unwrap().check_char(), 'D');
}

/// The "legacy" column of identifiers.md (T, R, E, Z, M, 1; the seventh, 4, belongs to the
/// Hefei identifier whose issuer is not a USCC and is checked in the unit tests).
#[test]
fn certificate_legacy_known_answers() {
    let cases = [
        (STANDARD_IDS[0], 'T'),
        (STANDARD_IDS[1], 'R'),
        (STANDARD_IDS[2], 'E'),
        (STANDARD_IDS[3], 'Z'),
        (SHANDONG_ID, 'M'),
        (PLACEHOLDER_ID, '1'),
    ];
    for (published, legacy) in cases {
        let stem = &published[..published.len() - 1];
        let text = format!("{stem}{legacy}");
        let (id, rule) = CertificateId::parse_for_import(&text, CheckRule::LegacyShandong).unwrap();
        assert_eq!(rule, CheckRule::LegacyShandong, "{text}");
        assert_eq!(id.as_str(), text);
        assert!(CertificateId::parse(&text).is_err(), "{text}");
        // No other check character passes the legacy rule (where it is not standard).
        for c in ALNUM36.chars() {
            let other = format!("{stem}{c}");
            match CertificateId::parse_for_import(&other, CheckRule::LegacyShandong) {
                Ok((_, CheckRule::LegacyShandong)) => assert_eq!(c, legacy, "{other}"),
                Ok((_, _)) => assert!(CertificateId::parse(&other).is_ok()),
                Err(_) => assert_ne!(c, legacy),
            }
        }
    }
}

#[test]
fn certificate_placeholder_passes_neither_rule() {
    assert_eq!(
        CertificateId::parse(PLACEHOLDER_ID),
        Err(IdError::Checksum {
            part: "certificate id"
        })
    );
    assert_eq!(
        CertificateId::parse_for_import(PLACEHOLDER_ID, CheckRule::LegacyShandong),
        Err(IdError::Checksum {
            part: "certificate id"
        })
    );
}

#[test]
fn certificate_structural_refusals() {
    let good = STANDARD_IDS[0];
    let type_issuer = "11100000000013338W011.11430000006122244L";

    // zfsoft's root 1.2.156.3003.2.
    assert_eq!(
        CertificateId::parse(&good.replace("3005", "3003")),
        Err(IdError::Root)
    );
    assert_eq!(CertificateId::parse(""), Err(IdError::Root));
    assert_eq!(
        CertificateId::parse("1.2.156.3005.2"),
        Err(IdError::PartCount { found: 0 })
    );
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.20.{type_issuer}.1.001.U")),
        Err(IdError::Root)
    );
    // A 2-digit version.
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}.20230000403.01.U")),
        Err(IdError::Length {
            part: "version",
            expected: "3",
            found: 2
        })
    );
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}.20230000403.0A1.U")),
        Err(IdError::Charset {
            part: "version",
            position: 2
        })
    );
    // An empty serial, and a 33-character one.
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}..001.U")),
        Err(IdError::Length {
            part: "serial",
            expected: "1 to 32",
            found: 0
        })
    );
    let long = "A".repeat(33);
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}.{long}.001.U")),
        Err(IdError::Length {
            part: "serial",
            expected: "1 to 32",
            found: 33
        })
    );
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}.2023a.001.U")),
        Err(IdError::Charset {
            part: "serial",
            position: 5
        })
    );
    // Missing parts.
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}.20230000403.001")),
        Err(IdError::PartCount { found: 4 })
    );
    assert_eq!(
        CertificateId::parse(&format!("1.2.156.3005.2.{type_issuer}")),
        Err(IdError::PartCount { found: 2 })
    );
    // Extra parts.
    assert_eq!(
        CertificateId::parse(&format!("{good}.U")),
        Err(IdError::PartCount { found: 6 })
    );
    assert_eq!(
        CertificateId::parse(&format!("{good}.")),
        Err(IdError::PartCount { found: 6 })
    );
    // Check character: lower case, wrong, too long, missing.
    let stem = &good[..good.len() - 1];
    assert_eq!(
        CertificateId::parse(&format!("{stem}u")),
        Err(IdError::Charset {
            part: "check character",
            position: 1
        })
    );
    assert_eq!(
        CertificateId::parse(&format!("{stem}V")),
        Err(IdError::Checksum {
            part: "certificate id"
        })
    );
    assert_eq!(
        CertificateId::parse(&format!("{stem}UU")),
        Err(IdError::Length {
            part: "check character",
            expected: "1",
            found: 2
        })
    );
    assert_eq!(
        CertificateId::parse(stem),
        Err(IdError::Length {
            part: "check character",
            expected: "1",
            found: 0
        })
    );
    // A bad USCC inside the type code or as issuer.
    assert_eq!(
        CertificateId::parse(&good.replace("13338W011", "13338X011")),
        Err(IdError::Checksum { part: "type code" })
    );
    assert_eq!(
        CertificateId::parse(&good.replace("6122244L", "6122244M")),
        Err(IdError::Checksum { part: "issuer" })
    );
    assert_eq!(
        CertificateId::parse(&good.to_lowercase()),
        Err(IdError::Charset {
            part: "type code",
            position: 18
        })
    );
}

#[test]
fn certificate_new_refuses_bad_parts() {
    let type_code = TypeCode::parse("11100000000013338W011").unwrap();
    let issuer = uscc("11430000006122244L");
    assert!(matches!(
        CertificateId::new(type_code, issuer, "", 1),
        Err(IdError::Length { part: "serial", .. })
    ));
    assert!(matches!(
        CertificateId::new(type_code, issuer, &"9".repeat(33), 1),
        Err(IdError::Length { part: "serial", .. })
    ));
    assert_eq!(
        CertificateId::new(type_code, issuer, "2023.1", 1),
        Err(IdError::Charset {
            part: "serial",
            position: 5
        })
    );
    assert_eq!(
        CertificateId::new(type_code, issuer, "1", 1000),
        Err(IdError::Part("version"))
    );
    let max = CertificateId::new(type_code, issuer, &"Z".repeat(32), 999).unwrap();
    assert_eq!(CertificateId::parse(max.as_str()).unwrap(), max);
}

// --- Properties -------------------------------------------------------------------------

const PROVINCES: [u16; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

fn days_in(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn citizen_parts() -> impl Strategy<Value = (String, (u16, u8, u8), u16)> {
    (
        prop::sample::select(PROVINCES.to_vec()),
        0u16..10_000,
        1900u16..=2099,
        1u8..=12,
        1u8..=31,
        0u16..=999,
    )
        .prop_map(|(province, rest, year, month, day, seq)| {
            let day = day.min(days_in(year, month));
            (format!("{province:02}{rest:04}"), (year, month, day), seq)
        })
}

fn from_alphabet(
    alphabet: &'static str,
    len: std::ops::RangeInclusive<usize>,
) -> BoxedStrategy<String> {
    prop::collection::vec(
        prop::sample::select(alphabet.chars().collect::<Vec<_>>()),
        len,
    )
    .prop_map(|chars| chars.into_iter().collect())
    .boxed()
}

fn any_uscc() -> impl Strategy<Value = Uscc> {
    from_alphabet(USCC_ALPHABET, 17..=17).prop_map(|first17| Uscc::from_first17(&first17).unwrap())
}

fn any_certificate_parts() -> impl Strategy<Value = (TypeCode, Uscc, String, u16)> {
    (
        any_uscc(),
        0u16..=999,
        any_uscc(),
        from_alphabet(ALNUM36, 1..=32),
        0u16..=999,
    )
        .prop_map(|(definer, sequence, issuer, serial, version)| {
            (
                TypeCode::new(definer, sequence).unwrap(),
                issuer,
                serial,
                version,
            )
        })
}

proptest! {
    #[test]
    fn citizen_round_trips_and_detects_substitution(
        (region, birth, seq) in citizen_parts(),
        at in 0usize..18,
        c in prop::sample::select(CITIZEN_ALPHABET.chars().collect::<Vec<_>>()),
    ) {
        let id = CitizenId::from_parts(&region, birth, seq).unwrap();
        let parsed = CitizenId::parse(id.as_str()).unwrap();
        prop_assert_eq!(parsed, id);
        prop_assert_eq!(parsed.birth_date(), birth);
        prop_assert_eq!(parsed.sequence(), seq);
        prop_assert_eq!(parsed.region_code(), region.as_str());
        prop_assert_eq!(parsed.is_male(), seq % 2 == 1);
        prop_assume!(id.as_str().as_bytes()[at] as char != c);
        prop_assert!(CitizenId::parse(&substitute(id.as_str(), at, c)).is_err());
    }

    #[test]
    fn uscc_round_trips_and_detects_substitution(
        code in any_uscc(),
        at in 0usize..18,
        c in prop::sample::select(USCC_ALPHABET.chars().collect::<Vec<_>>()),
    ) {
        prop_assert_eq!(Uscc::parse(code.as_str()).unwrap(), code);
        prop_assume!(code.as_str().as_bytes()[at] as char != c);
        prop_assert!(Uscc::parse(&substitute(code.as_str(), at, c)).is_err());
    }

    #[test]
    fn certificate_round_trips_and_detects_substitution(
        (type_code, issuer, serial, version) in any_certificate_parts(),
        at in any::<prop::sample::Index>(),
        c in prop::sample::select(ALNUM36.chars().collect::<Vec<_>>()),
    ) {
        let id = CertificateId::new(type_code, issuer, &serial, version).unwrap();
        let parsed = CertificateId::parse(id.as_str()).unwrap();
        prop_assert_eq!(&parsed, &id);
        prop_assert_eq!(parsed.type_code(), type_code);
        prop_assert_eq!(parsed.issuer(), issuer);
        prop_assert_eq!(parsed.serial(), serial.as_str());
        prop_assert_eq!(parsed.version(), version);
        prop_assert_eq!(parsed.check_rule(), CheckRule::Standard);
        let (imported, rule) =
            CertificateId::parse_for_import(id.as_str(), CheckRule::LegacyShandong).unwrap();
        prop_assert_eq!(rule, CheckRule::Standard);
        prop_assert_eq!(imported, id.clone());

        // Any single substitution of a non-dot character, root included, is refused.
        let positions: Vec<usize> =
            id.as_str().char_indices().filter(|&(_, ch)| ch != '.').map(|(i, _)| i).collect();
        let at = positions[at.index(positions.len())];
        prop_assume!(id.as_str().as_bytes()[at] as char != c);
        prop_assert!(CertificateId::parse(&substitute(id.as_str(), at, c)).is_err());
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,120}") {
        let _ = CitizenId::parse(&s);
        let _ = Uscc::parse(&s);
        let _ = TypeCode::parse(&s);
        let _ = CertificateId::parse_for_import(&s, CheckRule::LegacyShandong);
        let with_root = format!("1.2.156.3005.2.{s}");
        let _ = CertificateId::parse_for_import(&with_root, CheckRule::LegacyShandong);
    }
}

//! Identifiers that carry their own proof: 公民身份号码, 统一社会信用代码, 证照类型代码 and
//! 电子证照标识.
//!
//! Each type here is "parse, don't validate": its fields are private and every
//! constructor checks the length, the character set, the structure and the check
//! character, so a value of the type cannot hold a bad identifier. Three check-character
//! algorithms are implemented (see `shared/reference/identifiers.md` for worked examples):
//!
//! * [`CitizenId`] — GB 11643-1999《公民身份号码》: ISO 7064 MOD 11-2 over the first 17
//!   digits, weights 2^(18−i) mod 11, check `"10X98765432"[S mod 11]`.
//! * [`Uscc`] — GB 32100-2015《法人和其他组织统一社会信用代码编码规则》: weights
//!   3^(i−1) mod 31 over a 31-character alphabet (no I, O, Z, S, V), check
//!   `31 − (S mod 31)`, with 31 written as `0`.
//! * [`CertificateId`] — GB/T 36904-2018《电子证照 标识规范》 *as implemented* by the
//!   provincial platforms: ISO/IEC 7064 MOD 37,36 (hybrid system, M = 36) over the type
//!   code, issuer, serial and version with the dots removed and the root excluded. A
//!   legacy Epoint variant used in Shandong is available for import only
//!   ([`CheckRule::LegacyShandong`]).
//!
//! All three check characters detect every single-character substitution within their
//! alphabet: the weights of MOD 11-2 and GB 32100 are non-zero modulo a prime larger than
//! any difference of two character values, and each step of the MOD 37,36 recursion is a
//! bijection on the state (see the unit tests at the bottom of this file).
//!
//! Error messages never contain the input: a citizen identity number is personal data.
//! They name the part and, for a bad character, its position. For the same reason the
//! `Debug` form of a [`CitizenId`] shows only its province code.
//!
//! # Example
//! ```
//! use proofless_core::ids::{CertificateId, CitizenId, HolderCode, TypeCode, Uscc};
//!
//! let holder = HolderCode::parse("111", "370202199001011237").unwrap();
//! assert_eq!(holder.code_type(), "111");
//! let citizen: CitizenId = "370202199001011237".parse().unwrap();
//! assert_eq!(citizen.birth_date(), (1990, 1, 1));
//!
//! let mohurd: Uscc = "11100000000013338W".parse().unwrap();
//! let issuer: Uscc = "11430000006122244L".parse().unwrap();
//! let id = CertificateId::new(TypeCode::new(mohurd, 11).unwrap(), issuer, "20230000403", 1)
//!     .unwrap();
//! assert_eq!(
//!     id.to_string(),
//!     "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
//! );
//! assert_eq!(CertificateId::parse(id.as_str()).unwrap(), id);
//! assert!("11100000000013338X".parse::<Uscc>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// Why an identifier was refused.
///
/// No variant carries any part of the input: only part names, positions and lengths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The input, or the named part of it, has the wrong length (counted in bytes).
    #[error("{part}: wrong length ({found} bytes, expected {expected})")]
    Length {
        /// Which identifier or part.
        part: &'static str,
        /// The allowed length, in words (`"18"`, `"1 to 32"`).
        expected: &'static str,
        /// The length found, in bytes.
        found: usize,
    },
    /// A character outside the part's alphabet. Lower case is always refused.
    #[error("{part}: character not allowed at position {position}")]
    Charset {
        /// Which identifier or part.
        part: &'static str,
        /// 1-based byte position within the part.
        position: usize,
    },
    /// The check character does not match the rest of the identifier or part.
    #[error("{part}: check character does not match")]
    Checksum {
        /// Which identifier or part.
        part: &'static str,
    },
    /// The birth date of a citizen identity number is not a calendar date in 1900..=2099.
    #[error("birth date is not a calendar date between 1900 and 2099")]
    Date,
    /// The first two digits of a citizen identity number are not a province-level code of
    /// GB/T 2260.
    #[error("region code is not a province-level code of GB/T 2260")]
    Region,
    /// A certificate identifier does not start with the root `1.2.156.3005.2`.
    #[error("certificate id: root is not 1.2.156.3005.2")]
    Root,
    /// A certificate identifier does not have exactly five dot-separated parts after the
    /// root (type code, issuer, serial, version, check character).
    #[error("certificate id: expected 5 parts after the root, found {found}")]
    PartCount {
        /// How many parts were found.
        found: usize,
    },
    /// A value given to a constructor is out of range or not supported (a sequence over
    /// 999, an unknown holder code type).
    #[error("{0}: value out of range or not supported")]
    Part(&'static str),
}

// Part names used in errors.
const CITIZEN: &str = "citizen id";
const USCC: &str = "USCC";
const TYPE_CODE: &str = "type code";
const ISSUER: &str = "issuer";
const SERIAL: &str = "serial";
const VERSION: &str = "version";
const CHECK: &str = "check character";
const CERT: &str = "certificate id";

/// Views bytes that a constructor of this module has checked as a `&str`.
fn ascii_str(bytes: &[u8]) -> &str {
    // INVARIANT: every value of this module stores only bytes it has checked against an
    // ASCII alphabet, and ASCII is valid UTF-8.
    std::str::from_utf8(bytes).expect("identifier bytes are ASCII")
}

/// The decimal value of ASCII digits that have already been checked.
fn digits_value(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0, |acc, &b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
}

/// Refuses anything but ASCII digits, naming `part` and the 1-based position.
fn check_digits(bytes: &[u8], part: &'static str) -> Result<(), IdError> {
    match bytes.iter().position(|b| !b.is_ascii_digit()) {
        Some(i) => Err(IdError::Charset {
            part,
            position: i + 1,
        }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// 公民身份号码 (GB 11643-1999)
// ---------------------------------------------------------------------------------------

/// Weights 2^(18−i) mod 11 for i = 1..17 (ISO 7064 MOD 11-2).
const MOD11_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character indexed by S mod 11.
const MOD11_CHECK: &[u8; 11] = b"10X98765432";

/// The MOD 11-2 check character of 17 checked digits.
fn mod11_2_check(first17: &[u8]) -> u8 {
    let s: u32 = first17
        .iter()
        .zip(MOD11_WEIGHTS)
        .map(|(&b, w)| u32::from(b - b'0') * w)
        .sum();
    MOD11_CHECK[(s % 11) as usize]
}

/// Whether two digits are a province-level code of GB/T 2260: 11–15, 21–23, 31–37,
/// 41–46, 50–54, 61–65, 71 (台湾), 81 (香港), 82 (澳门).
fn is_province(code: u32) -> bool {
    matches!(
        code,
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82
    )
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Checks that (year, month, day) is a calendar date with a year in 1900..=2099.
fn check_date(year: u32, month: u32, day: u32) -> Result<(), IdError> {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return Err(IdError::Date),
    };
    if (1900..=2099).contains(&year) && (1..=days).contains(&day) {
        Ok(())
    } else {
        Err(IdError::Date)
    }
}

/// A 公民身份号码: 6-digit address code, birth date `YYYYMMDD`, 3-digit sequence and an
/// ISO 7064 MOD 11-2 check character (GB 11643-1999).
///
/// Parsing is strict: the check value 10 must be an upper-case `X`; a lower-case `x` is
/// refused rather than normalised, so that the stored text is always the one given.
/// Only the province (first two digits) of the address code is checked against
/// GB/T 2260; the birth year must be in 1900..=2099.
///
/// This is personal data: `Debug` shows only the province code, and errors never
/// include the number. `Display` and [`as_str`](Self::as_str) give the full number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CitizenId([u8; 18]);

impl CitizenId {
    /// Parses an 18-character citizen identity number.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bytes: [u8; 18] = s.as_bytes().try_into().map_err(|_| IdError::Length {
            part: CITIZEN,
            expected: "18",
            found: s.len(),
        })?;
        check_digits(&bytes[..17], CITIZEN)?;
        if !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(IdError::Charset {
                part: CITIZEN,
                position: 18,
            });
        }
        if !is_province(digits_value(&bytes[..2])) {
            return Err(IdError::Region);
        }
        check_date(
            digits_value(&bytes[6..10]),
            digits_value(&bytes[10..12]),
            digits_value(&bytes[12..14]),
        )?;
        if mod11_2_check(&bytes[..17]) != bytes[17] {
            return Err(IdError::Checksum { part: CITIZEN });
        }
        Ok(Self(bytes))
    }

    /// Builds a number from its parts and computes the check character (for synthetic
    /// data generators).
    ///
    /// `region6` is the 6-digit address code, `birth` is (year, month, day) and `seq` the
    /// sequence code, 0..=999 (odd for men, even for women).
    pub fn from_parts(region6: &str, birth: (u16, u8, u8), seq: u16) -> Result<Self, IdError> {
        let region = region6.as_bytes();
        if region.len() != 6 {
            return Err(IdError::Length {
                part: "region",
                expected: "6",
                found: region.len(),
            });
        }
        check_digits(region, "region")?;
        if !is_province(digits_value(&region[..2])) {
            return Err(IdError::Region);
        }
        let (year, month, day) = birth;
        check_date(year.into(), month.into(), day.into())?;
        if seq > 999 {
            return Err(IdError::Part("sequence"));
        }
        let text = format!("{region6}{year:04}{month:02}{day:02}{seq:03}");
        let mut bytes = [0u8; 18];
        bytes[..17].copy_from_slice(text.as_bytes());
        bytes[17] = mod11_2_check(&bytes[..17]);
        Ok(Self(bytes))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }

    /// The 6-digit address code (GB/T 2260 at the time of issue).
    pub fn region_code(&self) -> &str {
        ascii_str(&self.0[..6])
    }

    /// The birth date as (year, month, day).
    pub fn birth_date(&self) -> (u16, u8, u8) {
        // The date was checked on construction, so these narrowings cannot truncate.
        (
            digits_value(&self.0[6..10]) as u16,
            digits_value(&self.0[10..12]) as u8,
            digits_value(&self.0[12..14]) as u8,
        )
    }

    /// The 3-digit sequence code.
    pub fn sequence(&self) -> u16 {
        digits_value(&self.0[14..17]) as u16
    }

    /// Whether the sequence code is odd, which GB 11643-1999 assigns to men.
    pub fn is_male(&self) -> bool {
        (self.0[16] - b'0') % 2 == 1
    }
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: show the province only.
        write!(
            f,
            "CitizenId(\"{}****************\")",
            ascii_str(&self.0[..2])
        )
    }
}

// ---------------------------------------------------------------------------------------
// 统一社会信用代码 (GB 32100-2015)
// ---------------------------------------------------------------------------------------

/// The 31 characters of GB 32100-2015, each valued at its index (no I, O, Z, S, V).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights 3^(i−1) mod 31 for i = 1..17.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(b: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&c| c == b).map(|i| i as u32)
}

/// Checks the first 17 characters against the alphabet and returns the check character
/// they call for.
fn uscc_check(first17: &[u8], part: &'static str) -> Result<u8, IdError> {
    let mut s = 0;
    for (i, (&b, w)) in first17.iter().zip(USCC_WEIGHTS).enumerate() {
        let v = uscc_value(b).ok_or(IdError::Charset {
            part,
            position: i + 1,
        })?;
        s += v * w;
    }
    Ok(USCC_ALPHABET[((31 - s % 31) % 31) as usize])
}

/// Parses the 18 bytes of a USCC, naming `part` in errors; positions count from the
/// first byte of `bytes`.
fn uscc_from_bytes(bytes: &[u8], part: &'static str) -> Result<[u8; 18], IdError> {
    let code: [u8; 18] = bytes.try_into().map_err(|_| IdError::Length {
        part,
        expected: "18",
        found: bytes.len(),
    })?;
    let check = uscc_check(&code[..17], part)?;
    if uscc_value(code[17]).is_none() {
        return Err(IdError::Charset { part, position: 18 });
    }
    if code[17] != check {
        return Err(IdError::Checksum { part });
    }
    Ok(code)
}

/// A 统一社会信用代码 (GB 32100-2015): 17 characters of the 31-character alphabet
/// `0-9 A-H J-N P-R T U W-Y` and a check character.
///
/// Upper case only. The structure of positions 1–8 (registration authority, category,
/// region) is not checked: only the alphabet and the check character.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc([u8; 18]);

impl Uscc {
    /// Parses an 18-character code.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        uscc_from_bytes(s.as_bytes(), USCC).map(Self)
    }

    /// Builds a code from its first 17 characters, computing the check character (for
    /// minting test organisations).
    pub fn from_first17(first17: &str) -> Result<Self, IdError> {
        let bytes = first17.as_bytes();
        if bytes.len() != 17 {
            return Err(IdError::Length {
                part: USCC,
                expected: "17",
                found: bytes.len(),
            });
        }
        let mut code = [0u8; 18];
        code[17] = uscc_check(bytes, USCC)?;
        code[..17].copy_from_slice(bytes);
        Ok(Self(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({:?})", self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// 持证主体代码 (GB/T 36903-2018)
// ---------------------------------------------------------------------------------------

/// The code of a certificate's holder (持证主体代码) with its type (持证主体代码类型代码,
/// GB/T 36903-2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HolderCode {
    /// A person, by 公民身份号码 (type code `111`).
    Citizen(CitizenId),
    /// An organisation, by 统一社会信用代码 (type code `001`).
    Organisation(Uscc),
}

impl HolderCode {
    /// The type code of a 公民身份号码.
    pub const CITIZEN_CODE_TYPE: &'static str = "111";
    /// The type code of a 统一社会信用代码.
    pub const ORGANISATION_CODE_TYPE: &'static str = "001";

    /// Parses a holder code given with its type code (`111` or `001`).
    pub fn parse(code_type: &str, value: &str) -> Result<Self, IdError> {
        match code_type {
            Self::CITIZEN_CODE_TYPE => CitizenId::parse(value).map(Self::Citizen),
            Self::ORGANISATION_CODE_TYPE => Uscc::parse(value).map(Self::Organisation),
            _ => Err(IdError::Part("holder code type")),
        }
    }

    /// The GB/T 36903-2018 type code: `"111"` or `"001"`.
    pub fn code_type(&self) -> &'static str {
        match self {
            Self::Citizen(_) => Self::CITIZEN_CODE_TYPE,
            Self::Organisation(_) => Self::ORGANISATION_CODE_TYPE,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Citizen(id) => id.as_str(),
            Self::Organisation(code) => code.as_str(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// 证照类型代码 and 电子证照标识 (GB/T 36904-2018 as implemented)
// ---------------------------------------------------------------------------------------

/// A 证照类型代码: the defining authority's [`Uscc`] followed by a 3-digit sequence,
/// 21 characters (e.g. `11100000MB03271699001`, 不动产权证).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeCode([u8; 21]);

impl TypeCode {
    /// Parses a 21-character type code.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_bytes(s.as_bytes())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let code: [u8; 21] = bytes.try_into().map_err(|_| IdError::Length {
            part: TYPE_CODE,
            expected: "21",
            found: bytes.len(),
        })?;
        uscc_from_bytes(&code[..18], TYPE_CODE)?;
        check_digits(&code[18..], TYPE_CODE).map_err(|e| match e {
            IdError::Charset { part, position } => IdError::Charset {
                part,
                position: position + 18,
            },
            other => other,
        })?;
        Ok(Self(code))
    }

    /// Builds a type code from its definer and a sequence in 0..=999.
    pub fn new(definer: Uscc, sequence: u16) -> Result<Self, IdError> {
        if sequence > 999 {
            return Err(IdError::Part("type code sequence"));
        }
        let mut code = [0u8; 21];
        code[..18].copy_from_slice(&definer.0);
        code[18..].copy_from_slice(format!("{sequence:03}").as_bytes());
        Ok(Self(code))
    }

    /// The 证照定义机构代码: the USCC of the authority that defined the certificate type.
    pub fn definer(&self) -> Uscc {
        let mut code = [0u8; 18];
        code.copy_from_slice(&self.0[..18]);
        Uscc(code)
    }

    /// The 3-digit sequence of the type within its definer.
    pub fn sequence(&self) -> u16 {
        digits_value(&self.0[18..]) as u16
    }

    /// The type code as text.
    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

impl fmt::Debug for TypeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeCode({:?})", self.as_str())
    }
}

/// The alphabet of MOD 37,36: `0-9` valued 0–9, `A-Z` valued 10–35.
const ALNUM36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The MOD 37,36 value of a character already checked against [`ALNUM36`].
fn alnum36_value(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        _ => u32::from(b.wrapping_sub(b'A')) + 10,
    }
}

/// One step of the ISO/IEC 7064 MOD 37,36 hybrid recursion: S = P + v; R = S mod 36,
/// read as 36 when 0; P' = 2R mod 37.
fn mod37_36_step(p: u32, value: u32) -> u32 {
    let r = match (p + value) % 36 {
        0 => 36,
        r => r,
    };
    (2 * r) % 37
}

/// The ISO/IEC 7064 MOD 37,36 hybrid check character of `data` (characters of
/// [`ALNUM36`]): P₀ = 36, one step per character, check value (37 − P) mod 36.
fn mod37_36_check(data: impl Iterator<Item = u8>) -> u8 {
    let p = data.fold(36, |p, b| mod37_36_step(p, alnum36_value(b)));
    ALNUM36[((37 - p) % 36) as usize]
}

/// The check character of Epoint's legacy `com.epoint.cert.util.CertCheckUtil.getCheckCode`,
/// re-expressed from its published Java source (found through a code search; the class
/// sits beside the newer, standard `CertCheckUtilsNew.getXy`). Differences from
/// [`mod37_36_check`]:
///
/// * letters are valued at their index in `0-9A-Z` plus one (`A` = 11 … `Z` = 36);
/// * before the usual step, S = P + a is reduced mod 37 when the character is a letter
///   and S > 37, and mod 36 when it is a digit and S > 36 (the second reduction does not
///   change S mod 36, so it has no effect);
/// * the output is the character at index 36 − P (the Java computes X = 37 − P, which
///   is always in 1..=36 so its correction loop never runs, and returns `str[X − 1]`).
///
/// It reproduces the "legacy" column of identifiers.md for all seven published
/// identifiers (T, R, E, Z, 4, M, 1).
fn legacy_epoint_check(data: impl Iterator<Item = u8>) -> u8 {
    const M: u32 = 36;
    // The Java starts the first character from M and later ones from P: the same as P₀ = M.
    let p = data.fold(M, |p, b| {
        let is_letter = b.is_ascii_uppercase();
        let a = alnum36_value(b) + u32::from(is_letter);
        let mut s = p + a;
        if is_letter && s > M + 1 {
            s %= M + 1;
        } else if !is_letter && s > M {
            s %= M;
        }
        let r = match s % M {
            0 => M,
            r => r,
        };
        (2 * r) % (M + 1)
    });
    // p is in 1..=36 after any character (and 36 for none), so the index is in 0..=35.
    ALNUM36[(M - p) as usize]
}

/// Which check-character rule an imported [`CertificateId`] satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CheckRule {
    /// ISO/IEC 7064 MOD 37,36 hybrid over type code, issuer, serial and version with the
    /// dots removed, root excluded: GB/T 36904-2018 as the national and provincial
    /// platforms implement it.
    Standard,
    /// Epoint's legacy `CertCheckUtil.getCheckCode`, met in historical Shandong
    /// identifiers (identifiers.md, "Where sources disagree", item 2). Accepted only on
    /// import, after the standard rule has failed; never used to mint.
    LegacyShandong,
}

/// An 电子证照标识 (GB/T 36904-2018 as implemented):
/// `1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>`.
///
/// The serial is 1 to 32 characters of `0-9A-Z`, the version exactly 3 digits, the check
/// one character of `0-9A-Z` computed by ISO/IEC 7064 MOD 37,36 over type code, issuer,
/// serial and version without dots (the root is not included). The issuer must be a
/// valid USCC: identifiers whose issuer is an administrative-division code (seen in
/// real-estate test data, e.g. `340100`) are refused.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateId {
    // INVARIANT: `text` is the canonical identifier, and every other field is a view of it.
    text: String,
    type_code: TypeCode,
    issuer: Uscc,
    serial_len: usize,
    version: u16,
    rule: CheckRule,
}

impl CertificateId {
    /// The root code 电子证照根代码.
    pub const ROOT: &'static str = "1.2.156.3005.2";
    /// Where the serial starts: root, dot, 21-char type code, dot, 18-char issuer, dot.
    const SERIAL_AT: usize = Self::ROOT.len() + 1 + 21 + 1 + 18 + 1;

    /// Builds an identifier and computes its standard check character.
    pub fn new(
        type_code: TypeCode,
        issuer: Uscc,
        serial: &str,
        version: u16,
    ) -> Result<Self, IdError> {
        check_serial(serial)?;
        if version > 999 {
            return Err(IdError::Part(VERSION));
        }
        let mut text = format!(
            "{}.{}.{}.{serial}.{version:03}",
            Self::ROOT,
            type_code.as_str(),
            issuer.as_str()
        );
        let check = mod37_36_check(checked_chars(&text.as_bytes()[Self::ROOT.len()..]));
        text.push('.');
        text.push(char::from(check));
        Ok(Self {
            text,
            type_code,
            issuer,
            serial_len: serial.len(),
            version,
            rule: CheckRule::Standard,
        })
    }

    /// Parses an identifier whose check character follows the standard rule.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::parse_with(s, CheckRule::Standard)
    }

    /// Parses an identifier from historical data. With [`CheckRule::LegacyShandong`] the
    /// standard check is tried first and, if it fails, the legacy Epoint check; the rule
    /// that passed is returned so that the caller can record it. With
    /// [`CheckRule::Standard`] this is [`parse`](Self::parse).
    pub fn parse_for_import(s: &str, rule: CheckRule) -> Result<(Self, CheckRule), IdError> {
        let id = Self::parse_with(s, rule)?;
        let passed = id.rule;
        Ok((id, passed))
    }

    fn parse_with(s: &str, allowed: CheckRule) -> Result<Self, IdError> {
        let rest = match s.strip_prefix(Self::ROOT) {
            Some("") => return Err(IdError::PartCount { found: 0 }),
            Some(rest) => rest.strip_prefix('.').ok_or(IdError::Root)?,
            None => return Err(IdError::Root),
        };
        let mut parts = rest.splitn(6, '.');
        let mut next = |found: usize| parts.next().ok_or(IdError::PartCount { found });
        let (type_code, issuer, serial, version, check) =
            (next(0)?, next(1)?, next(2)?, next(3)?, next(4)?);
        if parts.next().is_some() {
            return Err(IdError::PartCount {
                found: rest.split('.').count(),
            });
        }
        let type_code = TypeCode::from_bytes(type_code.as_bytes())?;
        let issuer = Uscc(uscc_from_bytes(issuer.as_bytes(), ISSUER)?);
        check_serial(serial)?;
        let version_bytes = version.as_bytes();
        if version_bytes.len() != 3 {
            return Err(IdError::Length {
                part: VERSION,
                expected: "3",
                found: version_bytes.len(),
            });
        }
        check_digits(version_bytes, VERSION)?;
        let check = match check.as_bytes() {
            [c] if ALNUM36.contains(c) => *c,
            [_] => {
                return Err(IdError::Charset {
                    part: CHECK,
                    position: 1,
                });
            }
            other => {
                return Err(IdError::Length {
                    part: CHECK,
                    expected: "1",
                    found: other.len(),
                });
            }
        };
        // Everything is now checked ASCII; the checked characters run from the dot after
        // the root to the dot before the check character.
        let body = &s.as_bytes()[Self::ROOT.len()..s.len() - 2];
        let rule = if mod37_36_check(checked_chars(body)) == check {
            CheckRule::Standard
        } else if allowed == CheckRule::LegacyShandong
            && legacy_epoint_check(checked_chars(body)) == check
        {
            CheckRule::LegacyShandong
        } else {
            return Err(IdError::Checksum { part: CERT });
        };
        Ok(Self {
            text: s.to_owned(),
            type_code,
            issuer,
            serial_len: serial.len(),
            version: digits_value(version_bytes) as u16,
            rule,
        })
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 证照类型代码.
    pub fn type_code(&self) -> TypeCode {
        self.type_code
    }

    /// The 证照颁发机构代码.
    pub fn issuer(&self) -> Uscc {
        self.issuer
    }

    /// The 流水号.
    pub fn serial(&self) -> &str {
        &self.text[Self::SERIAL_AT..Self::SERIAL_AT + self.serial_len]
    }

    /// The 版本号 (written with 3 digits).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The 校验位.
    pub fn check_char(&self) -> char {
        // INVARIANT: `text` ends with the one-byte ASCII check character.
        self.text
            .chars()
            .next_back()
            .expect("identifier is not empty")
    }

    /// The rule the check character satisfies: always [`CheckRule::Standard`] except for
    /// identifiers accepted by [`parse_for_import`](Self::parse_for_import) under the
    /// legacy rule.
    pub fn check_rule(&self) -> CheckRule {
        self.rule
    }
}

/// Checks a serial: 1 to 32 characters of `0-9A-Z`.
fn check_serial(serial: &str) -> Result<(), IdError> {
    let bytes = serial.as_bytes();
    if !(1..=32).contains(&bytes.len()) {
        return Err(IdError::Length {
            part: SERIAL,
            expected: "1 to 32",
            found: bytes.len(),
        });
    }
    match bytes.iter().position(|b| !ALNUM36.contains(b)) {
        Some(i) => Err(IdError::Charset {
            part: SERIAL,
            position: i + 1,
        }),
        None => Ok(()),
    }
}

/// The characters the check covers: the checked part of an identifier without its dots.
fn checked_chars(body: &[u8]) -> impl Iterator<Item = u8> + '_ {
    body.iter().copied().filter(|&b| b != b'.')
}

impl fmt::Debug for CertificateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateId({:?})", self.text)
    }
}

// ---------------------------------------------------------------------------------------
// Common traits
// ---------------------------------------------------------------------------------------

macro_rules! text_traits {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}

text_traits!(CitizenId, Uscc, HolderCode, TypeCode, CertificateId);

macro_rules! from_str {
    ($($ty:ty),*) => {$(
        impl FromStr for $ty {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    )*};
}

from_str!(CitizenId, Uscc, TypeCode, CertificateId);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The per-character trace of identifiers.md section (c): the final P is 7.
    #[test]
    fn mod37_36_worked_example_final_state() {
        let body = b"11100000000013338W01111430000006122244L20230000403001";
        assert_eq!(body.len(), 53);
        let p = body
            .iter()
            .fold(36, |p, &b| mod37_36_step(p, alnum36_value(b)));
        assert_eq!(p, 7);
        assert_eq!(mod37_36_check(body.iter().copied()), b'U');
    }

    /// The Hefei real-estate test identifier has an administrative code as issuer, which
    /// `CertificateId` refuses; its check character still follows the standard rule.
    #[test]
    fn hefei_check_character_is_standard() {
        let body = b"11100000MB03271699022340100000000016001";
        assert_eq!(mod37_36_check(body.iter().copied()), b'9');
        assert_eq!(legacy_epoint_check(body.iter().copied()), b'4');
    }

    /// Each MOD 37,36 step is a bijection on the state for a fixed character, and on the
    /// character for a fixed state; with the check compared at the end, that is why every
    /// single substitution is detected.
    #[test]
    fn mod37_36_steps_are_bijections() {
        for p in 1..=36 {
            let mut seen: Vec<u32> = (0..36).map(|v| mod37_36_step(p, v)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 36, "state {p}");
            assert!(seen.iter().all(|q| (1..=36).contains(q)));
        }
        for v in 0..36 {
            let mut seen: Vec<u32> = (1..=36).map(|p| mod37_36_step(p, v)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 36, "value {v}");
        }
        // The final mapping P -> check value is injective too.
        let mut checks: Vec<u32> = (1..=36).map(|p| (37 - p) % 36).collect();
        checks.sort_unstable();
        checks.dedup();
        assert_eq!(checks.len(), 36);
    }

    /// MOD 11-2 and GB 32100 detect every single substitution because each weight is a
    /// unit modulo the prime and no two character values differ by a multiple of it.
    #[test]
    fn weights_are_powers_and_units() {
        for (i, &w) in MOD11_WEIGHTS.iter().enumerate() {
            assert_eq!(w, 2u32.pow(17 - i as u32) % 11);
            assert_ne!(w % 11, 0);
        }
        for (i, &w) in USCC_WEIGHTS.iter().enumerate() {
            assert_eq!(w, 3u32.pow(i as u32) % 31);
            assert_ne!(w % 31, 0);
        }
        // Every check value maps to a distinct character.
        let mut chars = MOD11_CHECK.to_vec();
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), 11);
    }

    /// The "legacy" column of identifiers.md for all seven published identifiers.
    #[test]
    fn legacy_known_answers() {
        let cases: [(&[u8], u8); 7] = [
            (
                b"11100000000013338W01111430000006122244L20230000403001",
                b'T',
            ),
            (
                b"11100000000013338W01111430000006122244L20230000403002",
                b'R',
            ),
            (b"11100000000013338W03211220000013544541J2430599001", b'E'),
            (
                b"11100000000013338W00911330105002500287C2025052201002",
                b'Z',
            ),
            (b"11100000MB03271699022340100000000016001", b'4'),
            (
                b"11100000000013661B006113700000045046442209FA4E88F9E4C878F3E9BED2CE7EA49001",
                b'M',
            ),
            (
                b"11100000000013338W05091610800064834709T2023000001001",
                b'1',
            ),
        ];
        for (body, legacy) in cases {
            assert_eq!(
                legacy_epoint_check(body.iter().copied()),
                legacy,
                "{}",
                ascii_str(body)
            );
        }
    }

    #[test]
    fn legacy_handles_empty_input_without_panicking() {
        assert_eq!(legacy_epoint_check(std::iter::empty()), b'0');
    }

    #[test]
    fn calendar() {
        assert!(check_date(2000, 2, 29).is_ok());
        assert!(check_date(2004, 2, 29).is_ok());
        assert_eq!(check_date(1900, 2, 29), Err(IdError::Date));
        assert_eq!(check_date(2100, 1, 1), Err(IdError::Date));
        assert_eq!(check_date(1899, 12, 31), Err(IdError::Date));
        assert_eq!(check_date(1999, 4, 31), Err(IdError::Date));
        assert_eq!(check_date(1999, 13, 1), Err(IdError::Date));
        assert_eq!(check_date(1999, 1, 0), Err(IdError::Date));
        assert!(check_date(2099, 12, 31).is_ok());
    }

    #[test]
    fn debug_redacts_citizen_id() {
        let id = CitizenId::parse("370202199001011237").unwrap();
        let debug = format!("{id:?}");
        assert!(!debug.contains("199001011237"), "{debug}");
        assert!(debug.starts_with("CitizenId(\"37"));
    }
}

//! Holder codes: identity numbers and USCCs from keyed permutations of holder numbers.

use super::Generator;
use super::date::Date;
use super::people::Person;
use super::reference::{DISTRICTS, District};
use super::rng::{Rng, mix};
use proofless_core::ids::{CitizenId, Uscc};

/// First and last birth date of generated citizens.
const BORN: ((i32, u32, u32), (i32, u32, u32)) = ((1940, 1, 1), (2024, 12, 31));
/// Organisation codes are 8 characters of the USCC alphabet and a GB 11714 check digit.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

impl Generator {
    /// The citizen of holder number `n`: a keyed permutation maps `n` to a distinct
    /// (district, birth date, sequence) triple, so that identity numbers never repeat.
    pub(super) fn citizen_for(&self, n: u64) -> Person {
        let first = Date::ymd(BORN.0.0, BORN.0.1, BORN.0.2);
        let days = (Date::ymd(BORN.1.0, BORN.1.1, BORN.1.2).0 - first.0 + 1) as u64;
        let space = DISTRICTS.len() as u64 * days * 1000;
        let x = permute(n % space, space, self.seed ^ 0xC171_2E45);
        let seq = (x % 1000) as u16;
        let birth = first.plus_days(((x / 1000) % days) as i64);
        let district = &DISTRICTS[(x / 1000 / days) as usize];
        let male = seq % 2 == 1;
        let mut names = Rng::new(self.seed ^ 0x4E41_4D45, n);
        Person {
            surname: names.surname(),
            given: names.given(male),
            male,
            id: citizen_id(district, birth, seq),
            birth,
            district,
        }
    }

    /// The USCC of company number `n`: 91 (enterprise, company), the registration
    /// region, and an organisation code from a keyed permutation of `n`.
    pub(super) fn company_for(&self, n: u64, district: &District) -> Uscc {
        let space = 31u64.pow(8);
        let mut x = permute(n % space, space, self.seed ^ 0x000C_0DE5);
        let mut org = [0u8; 8];
        for c in org.iter_mut().rev() {
            *c = USCC_ALPHABET[(x % 31) as usize];
            x /= 31;
        }
        // GB 11714-1997: weights 3 7 9 10 5 8 4 2, check 11 − (S mod 11), 10 → X, 11 → 0.
        let s: u32 = org
            .iter()
            .zip([3, 7, 9, 10, 5, 8, 4, 2])
            .map(|(&c, w)| {
                w * if c.is_ascii_digit() {
                    u32::from(c - b'0')
                } else {
                    u32::from(c - b'A') + 10
                }
            })
            .sum();
        let check = match 11 - s % 11 {
            10 => 'X',
            11 => '0',
            v => char::from(b'0' + v as u8),
        };
        let region = if n.is_multiple_of(3) {
            "370200"
        } else {
            district.code
        };
        let first17 = format!("91{region}{}{check}", String::from_utf8_lossy(&org));
        // INVARIANT: 17 characters, all of the USCC alphabet (X is in it).
        Uscc::from_first17(&first17).expect("17 USCC characters")
    }
}

pub(super) fn citizen_id(district: &District, birth: Date, seq: u16) -> CitizenId {
    let (y, m, d) = birth.parts();
    // INVARIANT: Qingdao codes are in province 37, birth dates are 1900..=2099 calendar
    // dates (people named on certificates are born after 1900) and `seq` is below 1000.
    CitizenId::from_parts(district.code, (y as u16, m as u8, d as u8), seq)
        .expect("valid citizen id parts")
}

/// A keyed bijection on `0..space` (`x` must be below `space`): a 4-round Feistel network
/// on the smallest even number of bits that covers `space`, walking the cycle until the
/// result falls inside the range.
fn permute(mut x: u64, space: u64, key: u64) -> u64 {
    let bits = (64 - (space - 1).leading_zeros()).div_ceil(2).max(1);
    let mask = (1u64 << bits) - 1;
    loop {
        let (mut l, mut r) = (x >> bits, x & mask);
        for round in 0..4u64 {
            (l, r) = (r, l ^ (mix(key ^ (round << 56) ^ r) & mask));
        }
        x = (l << bits) | r;
        if x < space {
            return x;
        }
    }
}

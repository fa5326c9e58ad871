//! Randomness: SplitMix64 streams and the draws built on them.

use super::date::Date;
use super::reference::{GIVEN_FEMALE, GIVEN_MALE, SURNAMES};

/// The SplitMix64 finaliser: a bijection on `u64` that mixes every bit.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea and Flood 2014), one stream per (seed, holder).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64, stream: u64) -> Self {
        Self(mix(mix(seed) ^ stream))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 here).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of the space-separated words of `list`.
    pub(super) fn word(&mut self, list: &'static str) -> &'static str {
        let count = list.split(' ').count() as u64;
        // INVARIANT: the index is below the number of words.
        list.split(' ')
            .nth(self.below(count) as usize)
            .expect("index within the list")
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub(super) fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// Uniform in `lo..=hi`; `lo` when the range is empty.
    pub(super) fn date_between(&mut self, lo: Date, hi: Date) -> Date {
        lo.plus_days(self.range(0, (hi.0 - lo.0).max(0)))
    }

    pub(super) fn surname(&mut self) -> char {
        // The smaller of two draws favours the common surnames at the front.
        let count = SURNAMES.chars().count() as u64;
        let i = self.below(count).min(self.below(count));
        nth_char(SURNAMES, i)
    }

    /// One or two characters.
    pub(super) fn given(&mut self, male: bool) -> String {
        let pool = if male { GIVEN_MALE } else { GIVEN_FEMALE };
        let count = pool.chars().count() as u64;
        let len = if self.chance(0.75) { 2 } else { 1 };
        (0..len)
            .map(|_| nth_char(pool, self.below(count)))
            .collect()
    }

    /// A full name; a man's with probability `male`.
    pub(super) fn full_name(&mut self, male: f64) -> String {
        let male = self.chance(male);
        format!("{}{}", self.surname(), self.given(male))
    }
}

fn nth_char(s: &str, i: u64) -> char {
    // INVARIANT: callers pass an index below `s.chars().count()`.
    s.chars().nth(i as usize).expect("index within the string")
}

//! Dates: the generated world's today and proleptic Gregorian arithmetic.

use super::AS_OF;

pub(super) fn as_of() -> Date {
    Date::ymd(AS_OF.0, AS_OF.1, AS_OF.2)
}

/// A proleptic Gregorian date as days since 1970-01-01 (algorithms from Howard Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Date(pub(super) i64);

impl Date {
    pub(super) fn ymd(y: i32, m: u32, d: u32) -> Self {
        let y = i64::from(y) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Self(era * 146_097 + doe - 719_468)
    }

    pub(super) fn parts(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (
            (yoe + era * 400 + i64::from(m <= 2)) as i32,
            m as u32,
            d as u32,
        )
    }

    pub(super) fn year(self) -> i32 {
        self.parts().0
    }

    pub(super) fn plus_days(self, days: i64) -> Self {
        Self(self.0 + days)
    }

    /// The same day `years` later; 29 February becomes 28 February in common years.
    pub(super) fn plus_years(self, years: i32) -> Self {
        let (y, m, d) = self.parts();
        let y = y + years;
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        Self::ymd(y, m, if m == 2 && d == 29 && !leap { 28 } else { d })
    }

    /// Completed years of someone born on `self`, on `day`.
    pub(super) fn age_on(self, day: Date) -> i32 {
        let ((by, bm, bd), (y, m, d)) = (self.parts(), day.parts());
        y - by - i32::from((m, d) < (bm, bd))
    }

    pub(super) fn iso(self) -> String {
        let (y, m, d) = self.parts();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// 2015年03月08日.
    pub(super) fn chinese(self) -> String {
        let (y, m, d) = self.parts();
        format!("{y}年{m:02}月{d:02}日")
    }
}

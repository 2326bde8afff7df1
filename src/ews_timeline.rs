//! Exchange Online's EWS by date. Since April 2025 the organization's and the
//! mailbox's `EwsEnabled` decide together; since 1 October 2026 an
//! organization that had not turned EWS on (`$null`) has it off, and only
//! apps on `EwsAllowedAppIDs` may use it; on 1 April 2027 EWS in Exchange
//! Online is switched off for good (Exchange Server is not affected).
//! Sources: `../shared/docs/EXCHANGE-ONLINE-2026.md` (the techcommunity posts
//! 4383083, 4529471, 4492361 and 3924440).
//!
//! The date is the run's: [`CheckConfig::today`](crate::config::CheckConfig),
//! taken from the clock when the configuration is read (so `faketime` moves a
//! run between phases), or pinned by a test.

use time::macros::date;
use time::Date;

/// The day Exchange Online began blocking EWS for apps not allow-listed.
pub const ENFORCEMENT: Date = date!(2026 - 10 - 01);
/// The day EWS in Exchange Online is switched off.
pub const SHUTDOWN: Date = date!(2027 - 04 - 01);

/// Where Exchange Online's EWS stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Before 1 October 2026: an organization's `EwsEnabled` `$null` allows EWS.
    Permissive,
    /// From 1 October 2026: `$null` means off; only allow-listed apps pass.
    Enforcement,
    /// From 1 April 2027: no EWS in Exchange Online at all.
    ShutDown,
}

impl Phase {
    pub fn on(day: Date) -> Phase {
        if day >= SHUTDOWN {
            Phase::ShutDown
        } else if day >= ENFORCEMENT {
            Phase::Enforcement
        } else {
            Phase::Permissive
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Permissive => "before enforcement",
            Phase::Enforcement => "enforcement",
            Phase::ShutDown => "shut down",
        }
    }
}

/// Today, by the clock (UTC).
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// Whole days from `day` to `until` (negative once past).
pub fn days_until(day: Date, until: Date) -> i64 {
    (until - day).whole_days()
}

/// A date as Microsoft's posts write it: "1 April 2027".
pub fn written(day: Date) -> String {
    format!("{} {} {}", day.day(), day.month(), day.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_change_on_the_announced_days() {
        assert_eq!(Phase::on(date!(2026 - 09 - 30)), Phase::Permissive);
        assert_eq!(Phase::on(date!(2026 - 10 - 01)), Phase::Enforcement);
        assert_eq!(Phase::on(date!(2027 - 03 - 31)), Phase::Enforcement);
        assert_eq!(Phase::on(date!(2027 - 04 - 01)), Phase::ShutDown);
        assert_eq!(Phase::on(date!(2031 - 01 - 01)), Phase::ShutDown);
    }

    #[test]
    fn days_are_counted_to_the_day() {
        assert_eq!(days_until(date!(2026 - 12 - 03), SHUTDOWN), 119);
        assert_eq!(days_until(date!(2027 - 03 - 31), SHUTDOWN), 1);
        assert_eq!(days_until(date!(2027 - 04 - 02), SHUTDOWN), -1);
        assert_eq!(written(SHUTDOWN), "1 April 2027");
    }
}

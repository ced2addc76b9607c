//! Header values as text for people (dissector trees, logs): enumeration names, yes/no,
//! relative and absolute times, dates in UTC.

use super::address::Address;
use super::values::*;
use crate::wsp::EncodedString;

/// A header value rendered for reading; `field` is the header's number, for values whose
/// type alone does not say how to show them (a Long-integer may be a date or a size).
pub trait Describe {
    fn describe(&self, field: u8) -> String;
}

macro_rules! describe_by_display {
    ($($Ty:ty),*) => {
        $(impl Describe for $Ty {
            fn describe(&self, _field: u8) -> String {
                self.to_string()
            }
        })*
    };
}

describe_by_display!(
    String,
    Address,
    EncodedString,
    Sender,
    MessageClass,
    Version,
    Priority,
    ResponseStatus,
    SenderVisibility,
    Status,
    RetrieveStatus,
    ReadStatus,
    ReplyCharging,
    MmState,
    StoreStatus,
    RetrievalMode,
    ContentClass,
    CancelStatus
);

impl Describe for bool {
    fn describe(&self, _field: u8) -> String {
        if *self { "yes" } else { "no" }.to_owned()
    }
}

impl Describe for u64 {
    fn describe(&self, field: u8) -> String {
        if field == super::header::code::DATE { format_date(*self) } else { self.to_string() }
    }
}

impl Describe for u8 {
    fn describe(&self, _field: u8) -> String {
        super::header::field_name(*self)
    }
}

impl<T: Describe> Describe for Box<T> {
    fn describe(&self, field: u8) -> String {
        (**self).describe(field)
    }
}

impl Describe for TimeValue {
    fn describe(&self, _field: u8) -> String {
        match self {
            TimeValue::Relative(s) => format!("+{s} s"),
            TimeValue::Absolute(t) => format_date(*t),
        }
    }
}

impl Describe for PreviouslySentBy {
    fn describe(&self, _field: u8) -> String {
        format!("{} (forwarded {})", self.address, self.forwarded_count)
    }
}

impl Describe for PreviouslySentDate {
    fn describe(&self, _field: u8) -> String {
        format!("{} (forwarded {})", format_date(self.date), self.forwarded_count)
    }
}

impl Describe for MmFlags {
    fn describe(&self, _field: u8) -> String {
        format!("{} {}", self.op, self.flag)
    }
}

impl Describe for ElementDescriptor {
    fn describe(&self, _field: u8) -> String {
        let mut out = self.reference.clone();
        for (name, value) in &self.params.other {
            out.push_str(&format!("; {name}={value}"));
        }
        out
    }
}

impl Describe for Quota {
    fn describe(&self, _field: u8) -> String {
        format!("{} {}", self.value, self.kind)
    }
}

/// Seconds since 1970 as an RFC 3339 UTC date (proleptic Gregorian calendar).
pub fn format_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil, shifted so that eras start on 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_date(0x479F_D596), "2008-01-30T01:40:38Z");
        assert_eq!(format_date(951_782_400), "2000-02-29T00:00:00Z");
        assert!(format_date(u64::MAX).ends_with("15Z"), "no overflow at the far end");
    }
}

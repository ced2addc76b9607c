//! Content providers' accounts as the endpoint checks them: who a request is from (HTTP Basic
//! against the Argon2 hash), whether it may connect from where it does, and whether it is
//! within its throughput and its daily quota. The meters count per relay, in memory: a
//! restart starts the day's count again (a later step keeps them in the shared store, as the
//! flood counters of the protection stage).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::{Mm7Config, Vasp};
use crate::core::secret::PasswordHash;

/// One VASP's account, with its meters.
#[derive(Debug)]
pub struct Account {
    pub vasp: Vasp,
    hash: PasswordHash,
    /// The SHA-256 of the password last proved right: the next requests with it are checked
    /// against this rather than paying Argon2's cost each time.
    proved: Mutex<Option<[u8; 32]>>,
    meter: Mutex<Meter>,
}

/// Messages counted in the current second and the current day (UTC).
#[derive(Debug, Default)]
struct Meter {
    second: i64,
    in_second: u32,
    day: i64,
    in_day: u64,
}

/// Why a request is not taken from whoever sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, an unknown user or a wrong password.
    Unauthenticated,
    /// The VASP may not connect from this address.
    NotAdmitted,
}

/// Over one of the account's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// More than `throughput` messages in this second.
    Throughput(u32),
    /// The day's `daily_quota` is used up.
    Quota(u64),
}

#[derive(Debug)]
pub struct Accounts {
    accounts: Vec<Arc<Account>>,
}

impl Accounts {
    /// The accounts of `cfg`, whose hashes the configuration checked already.
    pub fn new(cfg: &Mm7Config) -> anyhow::Result<Accounts> {
        let accounts = cfg
            .vasps
            .iter()
            .map(|v| {
                let hash =
                    PasswordHash::parse(&v.password_hash).map_err(|e| anyhow::anyhow!("VASP {}: {e}", v.name))?;
                let account = Account { vasp: v.clone(), hash, proved: Mutex::new(None), meter: Mutex::default() };
                Ok(Arc::new(account))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Accounts { accounts })
    }

    /// The account an `Authorization` header proves, connecting from `ip`.
    /// Slow the first time a password is presented (Argon2): call it off the async threads.
    pub fn authenticate(&self, authorization: Option<&str>, ip: IpAddr) -> Result<Arc<Account>, Denied> {
        let (user, password) = authorization.and_then(basic).ok_or(Denied::Unauthenticated)?;
        let account = self.accounts.iter().find(|a| a.vasp.username == user).ok_or(Denied::Unauthenticated)?;
        if !account.proves(password.as_bytes()) {
            return Err(Denied::Unauthenticated);
        }
        if !account.vasp.admits(ip) {
            return Err(Denied::NotAdmitted);
        }
        Ok(account.clone())
    }
}

impl Account {
    fn proves(&self, password: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(password).into();
        let proved = *self.proved.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = proved {
            let difference = known.iter().zip(&digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(difference) == 0 {
                return true;
            }
        }
        let right = self.hash.matches(password);
        if right {
            *self.proved.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(digest);
        }
        right
    }

    /// Counts one message at `now` (Unix seconds) if it is within the limits; one over a limit
    /// is not counted, so a refused burst does not use up the quota.
    pub fn meter(&self, now: i64) -> Result<(), OverLimit> {
        let mut m = self.meter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.second != now {
            (m.second, m.in_second) = (now, 0);
        }
        let day = now.div_euclid(86_400);
        if m.day != day {
            (m.day, m.in_day) = (day, 0);
        }
        let v = &self.vasp;
        if v.throughput > 0 && m.in_second >= v.throughput {
            return Err(OverLimit::Throughput(v.throughput));
        }
        if v.daily_quota > 0 && m.in_day >= v.daily_quota {
            return Err(OverLimit::Quota(v.daily_quota));
        }
        m.in_second += 1;
        m.in_day += 1;
        Ok(())
    }
}

/// `tern hash-password`: the hash of the password on standard input's first line, for a
/// VASP's `password_hash`.
pub fn hash_password() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    let hash = PasswordHash::of(password.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("password_hash = \"{hash}\"");
    Ok(())
}

/// The user and password of an HTTP Basic `Authorization` value (RFC 7617).
fn basic(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn accounts(throughput: u32, daily_quota: u64) -> Accounts {
        let vasp = Vasp {
            name: "news".into(),
            vasp_id: "news-vasp".into(),
            username: "news".into(),
            password_hash: PasswordHash::of(b"s3cret").unwrap(),
            admit: vec!["10.0.0.0/8".parse().unwrap()],
            throughput,
            daily_quota,
            ..Vasp::default()
        };
        Accounts::new(&Mm7Config { vasps: vec![vasp], ..Mm7Config::default() }).unwrap()
    }

    fn auth(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn only_the_right_password_from_an_admitted_address_is_taken() {
        let a = accounts(0, 0);
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(a.authenticate(Some(&auth("news", "s3cret")), inside).unwrap().vasp.name, "news");
        assert_eq!(a.authenticate(Some(&auth("news", "wrong")), inside).unwrap_err(), Denied::Unauthenticated);
        assert_eq!(a.authenticate(Some(&auth("other", "s3cret")), inside).unwrap_err(), Denied::Unauthenticated);
        assert_eq!(a.authenticate(None, inside).unwrap_err(), Denied::Unauthenticated);
        assert_eq!(a.authenticate(Some("Bearer x"), inside).unwrap_err(), Denied::Unauthenticated);
        assert_eq!(a.authenticate(Some("Basic !!!"), inside).unwrap_err(), Denied::Unauthenticated);
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(a.authenticate(Some(&auth("news", "s3cret")), outside).unwrap_err(), Denied::NotAdmitted);
    }

    #[test]
    fn throughput_is_per_second_and_quota_per_day() {
        let a = accounts(2, 3);
        let account = &a.accounts[0];
        assert_eq!(account.meter(100), Ok(()));
        assert_eq!(account.meter(100), Ok(()));
        assert_eq!(account.meter(100), Err(OverLimit::Throughput(2)));
        assert_eq!(account.meter(101), Ok(()));
        assert_eq!(account.meter(102), Err(OverLimit::Quota(3)));
        // The next day (UTC) starts again.
        assert_eq!(account.meter(86_400), Ok(()));
    }
}

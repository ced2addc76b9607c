//! The scanners asked for one message: clamd for every part and spamd for the text, all at
//! once, each within its own limits; and the decisions each profile makes of their answers.

use futures_util::future::join_all;

use crate::core::protection::{self, Decision, Profile, ProtectionConfig, Scope};
use crate::scanners::{Clamd, ScanError, SpamScore, Spamd, VirusVerdict, spam_mail};

use super::ScannerDown;

/// The scanners the profiles in use need, set up once.
#[derive(Debug, Clone)]
pub struct Scanners {
    clamd: Option<Clamd>,
    spamd: Option<Spamd>,
}

/// What the scanners said of one message: clamd's verdict per part (empty when no profile
/// asked), spamd's score (`None` when no profile asked).
#[derive(Debug, Default)]
pub struct Scans {
    virus: Vec<Result<VirusVerdict, ScanError>>,
    spam: Option<Result<SpamScore, ScanError>>,
}

impl Scanners {
    pub fn new(cfg: &ProtectionConfig) -> Scanners {
        Scanners {
            clamd: cfg.uses_clamd().then(|| Clamd::new(&cfg.clamd)),
            spamd: cfg.uses_spamd().then(|| Spamd::new(&cfg.spamd)),
        }
    }

    pub async fn run(
        &self,
        virus: bool,
        spam: bool,
        sender: &str,
        title: Option<&str>,
        parts: &[protection::Part<'_>],
    ) -> Scans {
        let clamd = async {
            match &self.clamd {
                Some(clamd) if virus => join_all(parts.iter().map(|p| clamd.scan(p.data))).await,
                _ => Vec::new(),
            }
        };
        let spamd = async {
            match &self.spamd {
                Some(spamd) if spam => {
                    let text: Vec<String> = parts.iter().filter_map(protection::text_of).collect();
                    Some(spamd.check(&spam_mail(sender, title, &text.join("\n\n"))).await)
                }
                _ => None,
            }
        };
        let (virus, spam) = tokio::join!(clamd, spamd);
        Scans { virus, spam }
    }
}

/// What `profile` decides of the scanners' answers; a scanner that could not answer is added
/// to `down`, once per profile and scanner.
pub fn decisions(profile: &Profile, scans: &Scans, down: &mut Vec<ScannerDown>) -> Vec<Decision> {
    let mut out = Vec::new();
    let decide = |check, detail: String, scope, actions: &[protection::Action]| Decision {
        profile: profile.name.clone(),
        check,
        detail,
        scope,
        actions: actions.to_vec(),
    };
    if let Some(check) = &profile.virus {
        let mut failed = None;
        for (i, verdict) in scans.virus.iter().enumerate() {
            match verdict {
                Ok(VirusVerdict::Clean) => {}
                Ok(VirusVerdict::Infected(name)) => {
                    out.push(decide("virus", name.clone(), Scope::Part(i), &check.actions))
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            down.push(ScannerDown {
                profile: profile.name.clone(),
                scanner: "clamd",
                error: e.to_string(),
                on_error: check.on_error,
            });
        }
    }
    if let Some(check) = &profile.spam {
        match &scans.spam {
            Some(Ok(score)) if score.score >= check.threshold => out.push(decide(
                "spam",
                format!("spam score {:.1} (threshold {:.1})", score.score, check.threshold),
                Scope::Message,
                &check.actions,
            )),
            Some(Err(e)) => down.push(ScannerDown {
                profile: profile.name.clone(),
                scanner: "spamd",
                error: e.to_string(),
                on_error: check.on_error,
            }),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::protection::{Action, OnError, SpamCheck, VirusCheck};

    #[test]
    fn verdicts_become_decisions_and_failures_follow_each_profiles_choice() {
        let profile = Profile {
            name: "p".into(),
            virus: Some(VirusCheck { actions: vec![Action::Block], on_error: OnError::Closed }),
            spam: Some(SpamCheck { threshold: 5.0, actions: vec![Action::Quarantine], on_error: OnError::Open }),
            ..Profile::default()
        };
        let scans = Scans {
            virus: vec![Ok(VirusVerdict::Clean), Ok(VirusVerdict::Infected("Eicar-Signature".into()))],
            spam: Some(Ok(SpamScore { score: 5.0, threshold: 5.0, is_spam: true })),
        };
        let mut down = Vec::new();
        let d = decisions(&profile, &scans, &mut down);
        assert_eq!((d.len(), d[0].check, d[0].scope, d[1].check), (2, "virus", Scope::Part(1), "spam"));
        assert!(down.is_empty());
        let scans = Scans {
            virus: vec![Err(ScanError::Timeout), Err(ScanError::Timeout)],
            spam: Some(Ok(SpamScore { score: 4.9, threshold: 5.0, is_spam: false })),
        };
        assert!(decisions(&profile, &scans, &mut down).is_empty());
        assert_eq!(down.len(), 1, "one failure per profile and scanner");
        assert_eq!((down[0].scanner, down[0].on_error), ("clamd", OnError::Closed));
    }
}

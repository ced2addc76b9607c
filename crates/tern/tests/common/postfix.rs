//! A private Postfix instance between the relays of the MM4 and MM3 tests, so that their mail
//! crosses a real MTA: its own configuration, queue and data directories in a scratch
//! directory, one SMTP listener on a free loopback port, no local delivery, and each test domain
//! relayed to a fixed `127.0.0.1:PORT` (no DNS). Retries are seconds apart, so a deferred message
//! goes again within a test's patience.
//!
//! Postfix must run as root (its master process starts the daemons as the `postfix` user), so
//! without root or without Postfix [`Postfix::start`] reports the peer missing and a test returns
//! early.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{free_port, scratch};

const POSTFIX: &str = "/usr/sbin/postfix";

pub struct Postfix {
    /// The SMTP port it listens on, 127.0.0.1.
    pub port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    running: bool,
}

/// Whether Postfix can be run here; prints the `PEER MISSING` line when not.
pub fn present() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let present = root && Path::new(POSTFIX).exists();
    if !present {
        println!("PEER MISSING: postfix (apt-get install postfix; tests need root)");
    }
    present
}

impl Postfix {
    /// Starts an instance relaying mail for each `(domain, port)` of `routes` to
    /// `127.0.0.1:port`, with `extra` main.cf parameters on top (such as `always_bcc`); `None`
    /// when Postfix cannot run here.
    pub fn start(name: &str, routes: &[(&str, u16)], extra: &[(&str, &str)]) -> Option<Postfix> {
        if !present() {
            return None;
        }
        let dir = scratch(name);
        let config = dir.join("conf");
        let (queue, data) = (dir.join("queue"), dir.join("data"));
        for d in [&config, &queue, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The master process takes its lock in the data directory as the mail owner.
        let chown = Command::new("chown").arg("postfix").arg(&data).status().unwrap();
        assert!(chown.success(), "chown postfix {}", data.display());
        let transport: String = routes.iter().map(|(domain, to)| format!("{domain} smtp:[127.0.0.1]:{to}\n")).collect();
        std::fs::write(config.join("transport"), transport).unwrap();
        let domains: Vec<&str> = routes.iter().map(|(domain, _)| *domain).collect();
        let mut main = vec![
            ("compatibility_level", "3.6".to_owned()),
            ("queue_directory", queue.display().to_string()),
            ("data_directory", data.display().to_string()),
            ("command_directory", "/usr/sbin".to_owned()),
            ("daemon_directory", "/usr/lib/postfix/sbin".to_owned()),
            ("mail_owner", "postfix".to_owned()),
            ("setgid_group", "postdrop".to_owned()),
            ("myhostname", "mta.tern.test".to_owned()),
            ("inet_interfaces", "127.0.0.1".to_owned()),
            ("inet_protocols", "ipv4".to_owned()),
            ("mydestination", String::new()),
            // Nothing is delivered locally, so no alias database is needed.
            ("alias_maps", String::new()),
            ("alias_database", String::new()),
            ("relay_domains", domains.join(", ")),
            ("transport_maps", format!("texthash:{}", config.join("transport").display())),
            ("smtp_dns_support_level", "disabled".to_owned()),
            ("mynetworks", "127.0.0.0/8".to_owned()),
            ("smtputf8_enable", "no".to_owned()),
            ("queue_run_delay", "1s".to_owned()),
            ("minimal_backoff_time", "1s".to_owned()),
            ("maximal_backoff_time", "2s".to_owned()),
            ("maximal_queue_lifetime", "10m".to_owned()),
            ("bounce_queue_lifetime", "10m".to_owned()),
            // A relay that is not up yet is asked again soon, not after the default 30 s.
            ("smtp_connect_timeout", "5s".to_owned()),
            ("maillog_file", dir.join("maillog").display().to_string()),
            // Postfix writes its log only under these prefixes.
            ("maillog_file_prefixes", dir.display().to_string()),
        ];
        main.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let text: String = main.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        std::fs::write(config.join("main.cf"), text).unwrap();
        let mut postfix = Postfix { port: 0, dir, config, running: false };
        // The port is found free and then bound by Postfix's master a moment later; another
        // test's connection can take it in between, so a start that finds it taken tries another.
        for attempt in 1.. {
            postfix.port = free_port();
            std::fs::write(postfix.config.join("master.cf"), master_cf(postfix.port)).unwrap();
            // `check` also makes the queue's subdirectories with their owners and modes.
            postfix.run("check");
            match postfix.try_run("start") {
                Ok(()) => break,
                Err(e) if attempt < 5 && postfix.log().contains("Address already in use") => {
                    println!("postfix: port {} was taken, trying another ({e})", postfix.port);
                }
                Err(e) => panic!("{e}"),
            }
        }
        let port = postfix.port;
        postfix.running = true;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "postfix did not listen on {port}; its log:\n{}", postfix.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(postfix)
    }

    /// Runs `postfix -c DIR <command>`; Postfix prints its errors only on a terminal, so a
    /// failure shows its log instead.
    fn run(&self, command: &str) {
        if let Err(e) = self.try_run(command) {
            panic!("{e}");
        }
    }

    fn try_run(&self, command: &str) -> Result<(), String> {
        let out = Command::new(POSTFIX).arg("-c").arg(&self.config).arg(command).output().unwrap();
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "postfix {command} failed: {}{}\nits log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        ))
    }

    /// Everything Postfix logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// Waits up to `timeout` until the log has a line with each of `fragments`.
    pub fn wait_for_log(&self, fragments: &[&str], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.log().lines().any(|line| fragments.iter().all(|f| line.contains(f))) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Tries every deferred message now.
    pub fn flush(&self) {
        self.run("flush");
    }

    /// Stops the instance and waits until its master process is gone.
    pub fn stop(&mut self) {
        if !std::mem::take(&mut self.running) {
            return;
        }
        let pid = std::fs::read_to_string(self.dir.join("queue/pid/master.pid")).unwrap_or_default();
        let _ = Command::new(POSTFIX).arg("-c").arg(&self.config).arg("stop").output();
        let proc = Path::new("/proc").join(pid.trim());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid.trim().is_empty() && proc.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The distribution's master.cf with the SMTP listener on `127.0.0.1:port` and no service
/// chrooted (a chroot would need copies of system files in the queue directory).
fn master_cf(port: u16) -> String {
    let proto = ["/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf.proto"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .expect("postfix's master.cf.dist or master.cf.proto");
    let listen = format!("127.0.0.1:{port}");
    let mut out = String::new();
    for line in proto.lines() {
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        let service = !line.starts_with(|c: char| c == '#' || c.is_whitespace()) && fields.len() >= 8;
        if service {
            if fields[0] == "smtp" && fields[1] == "inet" {
                fields[0] = &listen;
            }
            fields[4] = "n";
            out.push_str(&fields.join(" "));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

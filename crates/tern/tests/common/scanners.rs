//! The real scanners for the scanner tests, each on its own free port on 127.0.0.1: a clamd
//! whose database is only the EICAR test file's MD5, made here with sigtool (no signature
//! download is possible or needed), listening on TCP and on a unix socket; and a spamd in
//! local-only mode (`-L`: no network tests), with no per-user configuration and no Bayes
//! learning, so a run leaves nothing behind on the machine.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, scratch};

/// The standard 68-octet EICAR anti-virus test file.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// SpamAssassin's GTUBE string: a mail containing it scores 1000 points.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Longest a scanner may take to load before the test gives up on it.
const STARTUP: Duration = Duration::from_secs(120);

const CLAMAV_INSTALL: &str = "`apt-get install -y clamav clamav-daemon` (or run `bash .ci/run`)";
const SPAMD_INSTALL: &str = "`apt-get install -y spamassassin spamd` (or run `bash .ci/run`)";

fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// Asks a scanner on `port` its PING and reads the answer to its end.
fn ping(port: u16, request: &[u8]) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    conn.write_all(request).ok()?;
    let mut answer = Vec::new();
    conn.take(1024).read_to_end(&mut answer).ok()?;
    Some(answer)
}

/// Waits until `child`, logging to `log`, answers `ready`.
fn wait_ready(child: &mut Child, what: &str, log: &[PathBuf], ready: impl Fn() -> bool) {
    let deadline = Instant::now() + STARTUP;
    while !ready() {
        let logs = || log.iter().map(|l| std::fs::read_to_string(l).unwrap_or_default()).collect::<Vec<_>>().join("\n");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} while starting; its log:\n{}", logs());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not answer PING within {STARTUP:?}; its log:\n{}", logs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops `child` with SIGTERM (spamd's children go with it; SIGKILL would orphan them,
/// listening still), then SIGKILL if it lingers.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub struct Clamd {
    child: Option<Child>,
    pub port: u16,
    pub socket: PathBuf,
    dir: PathBuf,
}

impl Clamd {
    /// Builds the database and the configuration in the scratch directory `name`, starts clamd
    /// and waits until it answers PING.
    pub fn start(name: &str) -> Clamd {
        let dir = scratch(name).canonicalize().unwrap();
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(dir.join("eicar.com"), EICAR).unwrap();
        let sigtool = Command::new("sigtool")
            .arg("--md5")
            .arg("eicar.com")
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("PEER MISSING: sigtool ({e}); install it with {CLAMAV_INSTALL}"));
        assert!(sigtool.status.success(), "sigtool --md5: {}", String::from_utf8_lossy(&sigtool.stderr));
        std::fs::write(db.join("local.hdb"), &sigtool.stdout).unwrap();
        // A unix socket's path must fit in 108 octets; a deep checkout gets one in /tmp.
        let port = free_port();
        let mut socket = dir.join("clamd.sock");
        if socket.as_os_str().len() > 100 {
            socket = std::env::temp_dir().join(format!("tern-clamd-{}-{port}.sock", std::process::id()));
        }
        // No `User` line: clamd then runs as whoever starts it, root or not, who can read the
        // scratch directory.
        let config = [
            "Foreground yes".to_owned(),
            format!("DatabaseDirectory {}", db.display()),
            format!("LocalSocket {}", socket.display()),
            format!("TCPSocket {port}"),
            "TCPAddr 127.0.0.1".to_owned(),
            format!("LogFile {}", dir.join("clamd.log").display()),
            format!("PidFile {}", dir.join("clamd.pid").display()),
            "StreamMaxLength 50M".to_owned(),
        ];
        std::fs::write(dir.join("clamd.conf"), config.join("\n") + "\n").unwrap();
        let mut clamd = Clamd { child: None, port, socket, dir };
        clamd.spawn();
        clamd
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let out = File::create(self.dir.join("clamd.out")).unwrap();
        let mut child = Command::new("clamd")
            .arg("-c")
            .arg(self.dir.join("clamd.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("PEER MISSING: clamd ({e}); install it with {CLAMAV_INSTALL}"));
        let logs = [self.dir.join("clamd.out"), self.dir.join("clamd.log")];
        let port = self.port;
        let socket = self.socket.clone();
        wait_ready(&mut child, "clamd", &logs, || {
            ping(port, b"zPING\0").as_deref() == Some(b"PONG\0") && socket.exists()
        });
        self.child = Some(child);
    }

    /// Kills clamd: its port and socket refuse connections until [`Clamd::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts clamd again on the same port, socket and database.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Spamd {
    child: Option<Child>,
    pub port: u16,
}

impl Spamd {
    /// Starts spamd on a free port, logging into the scratch directory `name`, and waits until
    /// it answers PING.
    pub fn start(name: &str) -> Spamd {
        let dir = scratch(name);
        let port = free_port();
        let log = dir.join("spamd.log");
        let out = File::create(dir.join("spamd.out")).unwrap();
        let mut cmd = Command::new("spamd");
        cmd.arg("-L")
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg("--nouser-config")
            .arg("--cf=use_bayes 0")
            .arg("--cf=bayes_auto_learn 0")
            // Two children are plenty for the tests, and spare a shared machine.
            .arg("--min-children=1")
            .arg("--max-children=2")
            .arg(format!("--syslog={}", log.display()))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // Started as root without `-u`, spamd would run its children as nobody.
        if is_root() {
            cmd.arg("-u").arg("debian-spamd");
        }
        let mut child =
            cmd.spawn().unwrap_or_else(|e| panic!("PEER MISSING: spamd ({e}); install it with {SPAMD_INSTALL}"));
        let logs = [dir.join("spamd.out"), log];
        wait_ready(&mut child, "spamd", &logs, || {
            ping(port, b"PING SPAMC/1.5\r\n\r\n").is_some_and(|a| a.starts_with(b"SPAMD/1.5 0 PONG"))
        });
        Spamd { child: Some(child), port }
    }
}

impl Drop for Spamd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

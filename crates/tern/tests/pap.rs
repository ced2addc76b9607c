//! The PAP bearer through a real Push Proxy Gateway: Kannel's bearerbox and wapbox (the PPG),
//! bound as an ESME to the SMSC peer. A notification Tern hands to the PPG by PAP, over http or
//! over https (Kannel's OpenSSL), reaches the SMSC as WAP push SMS, which reassembles to the same
//! m-notification.ind, whose Content-Location retrieves the message.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Relay, Smsc};
use tern_codec::mms::*;
use tern_codec::push::Push;
use tern_codec::sms::segment::Reassembler;
use tern_codec::sms::udh::UserData;
use tern_codec::wsp::{ContentType, EncodedString, Part};

const SENDER: &str = "+15550100001";
const RECIPIENT: &str = "+15550100002";

/// Kannel's bearerbox binds the WAP ports (UDP 9200 and up) on `wdp-interface-name` whatever else
/// it is told, so the tests run one Kannel at a time.
static ONE_KANNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Kannel's bearerbox and wapbox with a PPG, bound to the SMSC on `smsc_port`.
struct Kannel {
    children: Vec<Child>,
    /// The PPG's URL: https when it was started with a certificate.
    ppg_url: String,
}

impl Kannel {
    /// Starts Kannel; with `tls`, the PPG takes PAP over https only, with that certificate.
    fn start(smsc_port: u16, dir: &std::path::Path, tls: Option<&common::tls::ServerCert>) -> Kannel {
        Kannel::start_on(smsc_port, dir, tls, common::free_port())
    }

    /// Like [`Kannel::start`], its PPG taking plain http on `ppg`.
    fn start_on(smsc_port: u16, dir: &std::path::Path, tls: Option<&common::tls::ServerCert>, ppg: u16) -> Kannel {
        for program in ["bearerbox", "wapbox"] {
            let found = ["/usr/sbin", "/usr/bin"].iter().any(|d| std::path::Path::new(d).join(program).is_file());
            assert!(found, "PEER MISSING: Kannel's {program}; install it with `apt-get install -y kannel`");
        }
        // Kannel needs an smsbox group to start its SMSCs, though no smsbox runs here.
        let [admin, wapbox, smsbox, sendsms, ppg_ssl] = [(); 5].map(|_| common::free_port());
        let (ssl, ppg_url) = match tls {
            Some(cert) => (
                format!(
                    "ppg-ssl-port = {ppg_ssl}\nssl-server-cert-file = \"{}\"\nssl-server-key-file = \"{}\"\n",
                    cert.cert_file.display(),
                    cert.key_file.display()
                ),
                format!("https://127.0.0.1:{ppg_ssl}/wappush"),
            ),
            None => (String::new(), format!("http://127.0.0.1:{ppg}/wappush")),
        };
        let config = format!(
            "group = core\nadmin-port = {admin}\nadmin-password = bar\nadmin-interface = 127.0.0.1\n\
             admin-allow-ip = \"127.0.0.1\"\nwapbox-port = {wapbox}\nsmsbox-port = {smsbox}\n\
             box-allow-ip = \"127.0.0.1\"\nwdp-interface-name = \"127.0.0.1\"\nlog-file = \"{log}/bearerbox.log\"\n\
             log-level = 1\n\n\
             group = smsc\nsmsc = smpp\nsmsc-id = peer\nhost = 127.0.0.1\nport = {smsc_port}\n\
             transceiver-mode = true\nsmsc-username = mmsc\nsmsc-password = secret\nsystem-type = \"\"\n\n\
             group = wapbox\nbearerbox-host = 127.0.0.1\nlog-file = \"{log}/wapbox.log\"\nlog-level = 1\n\n\
             group = ppg\nppg-url = /wappush\nppg-port = {ppg}\nppg-allow-ip = \"127.0.0.1\"\ntrusted-pi = true\n\
             concurrent-pushes = 10\nusers = 10\ndefault-smsc = peer\nglobal-sender = 1234\nservice-name = ppg\n{ssl}\n\
             group = smsbox\nbearerbox-host = 127.0.0.1\nsendsms-port = {sendsms}\n",
            log = dir.display()
        );
        let file = dir.join("kannel.conf");
        std::fs::write(&file, config).unwrap();
        let spawn = |program: &str| {
            Command::new(program).arg(&file).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
        };
        let bearerbox = spawn("bearerbox");
        let mut kannel = Kannel { children: vec![bearerbox], ppg_url };
        wait_for_port(wapbox, "bearerbox");
        kannel.children.push(spawn("wapbox"));
        wait_for_port(if tls.is_some() { ppg_ssl } else { ppg }, "the PPG (wapbox)");
        kannel
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An empty directory for the Kannel of the test `name` (its configuration and logs).
fn peer_dir(name: &str) -> std::path::PathBuf {
    let dir = common::root().join("target/relay-tests").join(format!("{name}-peer"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not open port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn send_req() -> Vec<u8> {
    let req = SendReq {
        transaction_id: Some("pap-1".into()),
        mms_version: Some(Version::V1_2),
        from: Some(Sender::InsertAddress),
        to: vec![Address::phone(RECIPIENT)],
        subject: Some(EncodedString::auto("through the gateway")),
        ..SendReq::default()
    };
    let text = Part::new(ContentType::new("text/plain"), &b"via PAP"[..]);
    Message::with_body(req, Body::multipart(ContentType::new("application/vnd.wap.multipart.mixed"), vec![text]))
        .encode()
}

#[test]
fn a_pap_push_through_kannel_reaches_the_smsc_as_the_same_notification() {
    push_through_kannel("pap-kannel", false);
}

#[test]
fn a_pap_push_over_https_through_kannel_reaches_the_smsc() {
    push_through_kannel("pap-kannel-https", true);
}

/// Sends a message to a subscriber behind Kannel's PPG, over https with a certificate from a CA
/// of the test's own (trusted through `push.pap.ca_file`) if `https`, and follows its
/// notification from the SMSC back to the relay.
fn push_through_kannel(name: &str, https: bool) {
    // Held until this Kannel has stopped (dropped after it).
    let _one_kannel = ONE_KANNEL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let smsc = Smsc::start(common::free_port());
    let dir = peer_dir(name);
    let cert = https.then(|| common::tls::server_cert(&dir));
    let kannel = Kannel::start(smsc.port, &dir, cert.as_ref());
    let mut config =
        format!("[push]\nbearer = \"pap\"\n[push.pap]\nurl = \"{}\"\nppg_domain = \"ppg.test\"\n", kannel.ppg_url);
    if let Some(cert) = &cert {
        config.push_str(&format!("ca_file = \"{}\"\n", cert.ca_file.display()));
    }
    let relay = Relay::start_with_config(name, &config, &[]);

    let answer = relay.post(&send_req(), Some(SENDER));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));

    // Kannel submits the push as WAP push SMS (its own WSP framing); reassemble what it sent.
    let mut reassembler = Reassembler::new(4);
    let payload = loop {
        let submit = smsc.next_submit(Duration::from_secs(30)).expect("Kannel submits the push to the SMSC");
        assert_eq!(submit["dest"], RECIPIENT.trim_start_matches('+'));
        let user_data = common::logged_user_data(&submit);
        let decoded = UserData::decode(&user_data, true).unwrap();
        assert_eq!(decoded.header.as_ref().and_then(|h| h.ports()), Some((2948, 9200)));
        if let Some(done) = reassembler.push("kannel", &decoded) {
            break done.payload;
        }
    };
    let push = Push::decode(&payload).unwrap();
    assert!(push.is_mms());
    let Pdu::NotificationInd(n) = Message::decode(&push.body).unwrap().pdu else { panic!("an m-notification-ind") };
    assert_eq!(n.subject.map(|s| s.text).as_deref(), Some("through the gateway"));
    let answer = relay.get(n.content_location.as_deref().unwrap(), Some(RECIPIENT));
    let Pdu::RetrieveConf(rc) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-retrieve-conf") };
    assert_eq!(rc.message_id, conf.message_id);
    // Retrieved, so no more notifications (recorded just after the answer went out).
    relay.query_until("SELECT state FROM pushes", &[&["cancelled"]]);
}

#[test]
fn a_gateway_down_at_first_gets_the_notification_once_it_answers_without_using_up_attempts() {
    let _one_kannel = ONE_KANNEL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let smsc = Smsc::start(common::free_port());
    let dir = peer_dir("pap-late");
    let ppg = common::free_port();
    let config = format!(
        "[push]\nbearer = \"pap\"\n[push.pap]\nurl = \"http://127.0.0.1:{ppg}/wappush\"\nppg_domain = \"ppg.test\"\n"
    );
    // Two attempts, a second apart: a push that used them up on a gateway that is not there
    // would be given up within seconds.
    let env = [("TERN_DELIVERY__INITIAL_BACKOFF_SECS", "1"), ("TERN_DELIVERY__MAX_ATTEMPTS", "2")];
    let relay = Relay::start_with_config("pap-late", &config, &env);
    let answer = relay.post(&send_req(), Some(SENDER));
    let Pdu::SendConf(conf) = Message::decode(&answer.body).unwrap().pdu else { panic!("an m-send.conf") };
    assert_eq!(conf.response_status, Some(ResponseStatus::OK));
    let pushes = "SELECT state, attempts, substr(last_error, 1, 31) FROM pushes";
    relay.query_until(pushes, &[&["waiting", "0", "push proxy gateway unreachable:"]]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(relay.query(pushes), [["waiting", "0", "push proxy gateway unreachable:"]]);

    let _kannel = Kannel::start_on(smsc.port, &dir, None, ppg);
    let submit = smsc.next_submit(Duration::from_secs(30)).expect("the push reaches the SMSC once the PPG is up");
    assert_eq!(submit["dest"], RECIPIENT.trim_start_matches('+'));
    // Notified (again a second later, its second and last attempt), never given up.
    relay.query_until("SELECT state, attempts FROM pushes", &[&["done", "2"]]);
}

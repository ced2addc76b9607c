//! Shared by the peer tests: generated PDUs with the values an independent decoder must read
//! back, a pcap writer, and the lookup of the peers themselves.

#![allow(dead_code, clippy::unwrap_used)]

pub mod cases;
pub mod pcap;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared folder beside the repository (conformance corpus, peer scripts).
pub fn shared() -> PathBuf {
    let dir = root().join("../shared");
    assert!(dir.is_dir(), "the shared folder is missing: expected it at {} (beside this repository)", dir.display());
    dir
}

/// A path to a peer program, or a loud failure that says how to install it.
pub fn peer(program: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("PEER MISSING: `{program}` is not installed; install it with `{install}` (or run `bash .ci/run`)")
    })
}

/// The Python interpreter of the virtualenv that has python-messaging (`TERN_PEER_PYTHON`
/// overrides; `.ci/run` creates `.venv` at the workspace root).
pub fn python_messaging() -> PathBuf {
    let python = std::env::var_os("TERN_PEER_PYTHON").map_or_else(|| root().join(".venv/bin/python3"), PathBuf::from);
    let ok = Command::new(&python).args(["-c", "import messaging"]).output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "PEER MISSING: python-messaging is not importable with {}; run `python3 -m venv .venv && .venv/bin/pip install python-messaging` (or `bash .ci/run`)",
        python.display()
    );
    python
}

/// Runs a command and returns its standard output, failing the test with its stderr.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory for one test, under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/peer-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

# What the bench scripts share, sourced by them (`. scripts/relay.sh`): free ports, waiting for
# one to open, a process's CPU time, and a scratch `tern serve` on loopback. start_tern needs
# $work (a scratch directory) set by the caller; the relay's stderr goes to $work/tern.err.

# A free port on 127.0.0.1: TCP, or UDP with `free_port udp`.
free_port() {
  python3 -c 'import socket,sys; kind = socket.SOCK_DGRAM if sys.argv[1:] == ["udp"] else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$@"
}
# Waits up to 30 s for a TCP port on 127.0.0.1 to take connections.
wait_port() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# CPU time (utime + stime, clock ticks) a process has used so far; 0 once it has gone.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The tern to measure: $TERN when set (a build copied aside, to compare builds in turn), else a
# fresh release build; sets tern to its absolute path. Run from the checkout's root.
pick_tern() {
  [ -n "${TERN:-}" ] || cargo build --release --quiet -p tern
  tern=$(realpath "${TERN:-target/release/tern}")
}

# Starts BINARY serve on DATA_DIR with MM1 and admin on free loopback ports and embedded
# defaults for the rest; sets tern_pid and tern_port (MM1) once MM1 answers.
start_tern() {  # binary, data directory
  tern_port=$(free_port)
  TERN_LOG=warn TERN_MM1__LISTEN=127.0.0.1:$tern_port TERN_MM1__PUBLIC_BASE_URL=http://127.0.0.1:$tern_port \
    TERN_ADMIN__LISTEN=127.0.0.1:$(free_port) TERN_STORE__DATA_DIR="$2" "$1" serve 2>>"$work/tern.err" &
  tern_pid=$!
  wait_port "$tern_port" || { cat "$work/tern.err" >&2; exit 1; }
}
stop_tern() { kill -TERM "$tern_pid"; wait "$tern_pid" 2>/dev/null || true; }

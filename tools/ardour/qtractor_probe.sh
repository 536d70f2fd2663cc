#!/usr/bin/env bash
# Qtractor (Debian 12: 0.9.31) with Genrescope's CLAP, headless: what can be done here.
#
#   tools/ardour/qtractor_probe.sh --clap-dir DIR --out OUT
#     DIR holds Genrescope.clap with libonnxruntime.so and genrescope-model/ beside it
#     (the layout of target/bundled or /tmp/bundle-snapshot).
#
# Steps, each recorded in OUT/qtractor.json:
#   1. plugin scan: Qtractor's own scanner (qtractor_plugin_scan, offscreen Qt) on
#      $HOME/.clap/Genrescope/Genrescope.clap under a private $HOME;
#   2. JACK: jackd --no-realtime -d dummy -r 48000 -p 1024;
#   3. Qtractor's session engine: qtractor under Xvfb with that JACK; it registers JACK ports
#      only if its audio *and* MIDI engines start, and its MIDI engine is the ALSA sequencer
#      (/dev/snd/seq). Screenshot in OUT/qtractor.png.
# Qtractor has no scripting, no command-line export and no batch mode: export is the GUI's
# Track > Export Tracks > Audio dialog; transport control from outside needs MIDI (ALSA seq again).
# Debian packages: qtractor jackd2 xvfb imagemagick x11-utils.
set -euo pipefail
die() { echo "qtractor_probe.sh: $*" >&2; exit 1; }
clap_dir="" out=""
while [ $# -gt 0 ]; do
	case "$1" in
		--clap-dir) clap_dir="$2"; shift 2 ;;
		--out) out="$2"; shift 2 ;;
		*) die "usage: $0 --clap-dir DIR --out OUT" ;;
	esac
done
[ -f "$clap_dir/Genrescope.clap" ] && [ -n "$out" ] || die "usage: $0 --clap-dir DIR --out OUT"
for t in qtractor jackd jack_lsp Xvfb import; do command -v "$t" >/dev/null || die "$t not found"; done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export HOME="$out/home" XDG_CONFIG_HOME="$out/home/.config" XDG_RUNTIME_DIR="$out/run"
rm -rf "$HOME" "$XDG_RUNTIME_DIR"
mkdir -p "$HOME/.clap/Genrescope" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
cp -a "$clap_dir/Genrescope.clap" "$clap_dir/libonnxruntime.so" "$clap_dir/genrescope-model" "$HOME/.clap/Genrescope/"

scan=$(echo "CLAP:$HOME/.clap/Genrescope/Genrescope.clap" | QT_QPA_PLATFORM=offscreen timeout 60 \
	/usr/lib/x86_64-linux-gnu/qtractor/qtractor_plugin_scan 2>/dev/null | tr -cd '[:print:]\n' | grep '^CLAP|' || true)

pids=()
cleanup() { set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 1; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
jackd --no-realtime -d dummy -r 48000 -p 1024 >"$out/jackd.log" 2>&1 &
pids+=($!)
sleep 2
jack_ok=0
jack_lsp >/dev/null 2>&1 && jack_ok=1

for n in $(seq 90 130); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { dnum=$n; break; }; done
export DISPLAY=":$dnum"
Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
pids+=($!)
sleep 1
qtractor >"$out/qtractor.log" 2>&1 &
qpid=$!
pids+=($qpid)
sleep 10
qports=$(jack_lsp 2>/dev/null | grep -ci qtractor || true)
dialog=$(xwininfo -root -children 2>/dev/null | grep -c '"Error — Qtractor"' || true)
import -window root "$out/qtractor.png" 2>/dev/null || true
qt_mapped=$(grep -c "Genrescope.clap" "/proc/$qpid/maps" 2>/dev/null || true)
seq_dev=0; [ -e /dev/snd/seq ] && seq_dev=1

cat >"$out/qtractor.json" <<EOF
{
 "qtractor": "$(dpkg-query -W -f='${Version}' qtractor 2>/dev/null)",
 "clap_scan": "$scan",
 "clap_scan_ok": $([ -n "$scan" ] && echo true || echo false),
 "jackd_dummy_ok": $([ "$jack_ok" = 1 ] && echo true || echo false),
 "alsa_seq_device": $([ "$seq_dev" = 1 ] && echo true || echo false),
 "qtractor_jack_ports": $qports,
 "qtractor_engine_error_dialog": $([ "$dialog" -gt 0 ] && echo true || echo false),
 "plugin_loaded_in_qtractor": $([ "${qt_mapped:-0}" -gt 0 ] && echo true || echo false),
 "screenshot": "qtractor.png"
}
EOF
cat "$out/qtractor.json"

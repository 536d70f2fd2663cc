#!/usr/bin/env bash
# Genrescope in a real DAW, headless: Ardour 7.3's luasession (ardour7-lua) on the "None (Dummy)"
# backend builds a session holding one clip, exports it dry (no plugin) and wet (Genrescope VST3 on
# the track, followed by a Lua DSP that logs the plugin's MIDI), and writes
#   OUT/dry.wav OUT/wet.wav   32-bit float WAVs of the master bus, session rate
#   OUT/cc.tsv                the MIDI CCs the plugin sent during the (first) wet export
#   OUT/pc.tsv                its MIDI program changes (none unless --program-change)
#   OUT/cli.json              `Genrescope analyze --json` on the same converted clip (if the CLI is found)
#   OUT/report.json           what happened (versions, rate, block, freewheel/realtime, counts, timing, retries)
#   OUT/runs/                 every wet run (wet-N.wav, cc-N.tsv, pc-N.tsv, midi-N.tsv)
#   OUT/work/                 private $HOME, the session, the converted clip, per-try logs
# Then `tools/ardour/check.py OUT` compares them (see README.md), or pass --check here.
#
# Installs nothing. Debian 12 packages: ardour (7.3; provides ardour7-lua and
# /usr/lib/ardour7/ardour-vst3-scanner), sox, libsox-fmt-all (ogg/flac/mp3 input), python3;
# gdb for --probe. Never touches the caller's $HOME: Ardour runs with HOME=OUT/work/home.
#
# luasession crashes now and then (`free(): invalid size`, SIGSEGV); every luasession step is
# retried up to --tries times, each failure is logged with its reason (OUT/work/attempts.tsv,
# report.json), and the script exits non-zero if a step never succeeds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
	cat <<EOF
usage: $0 --vst3 PATH/Genrescope.vst3 --clip CLIP --out DIR [options]
  --rate HZ          session sample rate (default 48000)
  --block N          engine block size (default 1024)
  --runs N           wet exports, each in a fresh luasession (default 1; cc.tsv/wet.wav = run 1)
  --tries N          attempts per luasession step before giving up (default 3)
  --settle S         seconds the engine runs with the plugin before the export (default 1)
  --pad-start S      prepend S seconds of silence to the clip (default 0; makes the time-base check bite)
  --program-change HOLD_S
                     wet runs with Genrescope's "Program change" on and "Program hold" = HOLD_S
                     (0 to 30, a multiple of 0.5: the parameter's step); default: the plugin's
                     defaults (program change off)
  --realtime-export  set the session's realtime-export option before exporting; Ardour 7.3's
                     Lua SimpleExport ignores it (measured: the export still freewheels)
  --cli PATH         Genrescope CLI for OUT/cli.json (default: Genrescope beside the .vst3, or \$GENRESCOPE_CLI)
  --probe            also run one wet export under gdb, recording the VST3 process modes Ardour sets
  --check            run check.py at the end; its status becomes ours (2 = check failed)
  --timeout S        limit per luasession run (default 300)
exit: 0 ok, 1 a step failed (after retries) or bad usage, 2 check failed (with --check)
EOF
	exit 1
}

die() { echo "export.sh: $*" >&2; exit 1; }

vst3="" clip="" out="" rate=48000 block=1024 runs=1 tries=3 settle=1 rt_export=0 pad=0
cli="${GENRESCOPE_CLI:-}" probe=0 do_check=0 step_timeout=300 pc_hold=""
while [ $# -gt 0 ]; do
	case "$1" in
		--vst3) vst3="$2"; shift 2 ;;
		--clip) clip="$2"; shift 2 ;;
		--out) out="$2"; shift 2 ;;
		--rate) rate="$2"; shift 2 ;;
		--block) block="$2"; shift 2 ;;
		--runs) runs="$2"; shift 2 ;;
		--tries) tries="$2"; shift 2 ;;
		--settle) settle="$2"; shift 2 ;;
		--pad-start) pad="$2"; shift 2 ;;
		--program-change) pc_hold="$2"; shift 2 ;;
		--realtime-export) rt_export=1; shift ;;
		--cli) cli="$2"; shift 2 ;;
		--probe) probe=1; shift ;;
		--check) do_check=1; shift ;;
		--timeout) step_timeout="$2"; shift 2 ;;
		-h|--help) usage ;;
		*) echo "unknown argument: $1" >&2; usage ;;
	esac
done
[ -n "$vst3" ] && [ -n "$clip" ] && [ -n "$out" ] || usage
params=""
if [ -n "$pc_hold" ]; then
	# The plugin snaps the hold to its 0.5 s step; check.py assumes the value given here.
	awk -v h="$pc_hold" 'BEGIN { exit !(h ~ /^[0-9]+(\.[0-9]+)?$/ && h <= 30 && h * 2 == int(h * 2)) }' ||
		die "--program-change $pc_hold: want seconds from 0 to 30 in steps of 0.5"
	params="Program change=1;Program hold=$pc_hold"
fi

command -v ardour7-lua >/dev/null ||
	die "ardour7-lua not found: install Ardour 7 (Debian 12: apt-get install ardour)"
scanner=/usr/lib/ardour7/ardour-vst3-scanner
[ -x "$scanner" ] || die "$scanner not found (part of Debian's ardour package)"
command -v sox >/dev/null || die "sox not found (apt-get install sox libsox-fmt-all)"
command -v python3 >/dev/null || die "python3 not found"
[ "$probe" = 0 ] || command -v gdb >/dev/null || die "--probe needs gdb (apt-get install gdb)"
[ -f "$vst3/Contents/x86_64-linux/Genrescope.so" ] || die "$vst3 is not a Genrescope.vst3 bundle"
[ -f "$clip" ] || die "clip not found: $clip"
if [ -z "$cli" ] && [ -x "$(dirname "$vst3")/Genrescope" ]; then cli="$(dirname "$vst3")/Genrescope"; fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
vst3="$(cd "$vst3" && pwd)"
clip="$(cd "$(dirname "$clip")" && pwd)/$(basename "$clip")"
work="$out/work"
rm -rf "$work" "$out/runs" "$out"/{dry.wav,wet.wav,cc.tsv,pc.tsv,cli.json,report.json,check.json}
mkdir -p "$work"/{home,clip,logs,results} "$out/runs"
attempts="$work/attempts.tsv"
printf 'step\ttry\trc\treason\tseconds\tlog\n' >"$attempts"
t_begin=$(date +%s.%N)

# --- private $HOME: the plugin in ~/.vst3, the logger DSP and export preset in ~/.config/ardour7
export HOME="$work/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache" XDG_DATA_HOME="$HOME/.local/share"
unset ARDOUR_CONFIG_PATH ARDOUR_DATA_PATH LUA_PATH LUA_CPATH
mkdir -p "$HOME/.vst3" "$HOME/.config/ardour7/scripts" "$HOME/.config/ardour7/export"
cp -rL "$vst3" "$HOME/.vst3/Genrescope.vst3"
# Ardour treats a plugin cache that is not strictly newer than the module as stale ("Updated",
# plugin not loadable): date the copy two minutes back so the scan below is clearly newer.
find "$HOME/.vst3/Genrescope.vst3" -exec touch -h -d "@$(($(date +%s) - 120))" {} +
cp "$here/genrescope_midi_logger.lua" "$HOME/.config/ardour7/scripts/"
cp "$here"/export/genrescope-f32.format "$here"/export/genrescope-f32.preset "$HOME/.config/ardour7/export/"

# luasession only reads the plugin cache; Ardour's own scanner writes it
if ! LD_LIBRARY_PATH=/usr/lib/ardour7 "$scanner" -f -v "$HOME/.vst3/Genrescope.vst3" >"$work/logs/vst3-scan.log" 2>&1 ||
	! grep -q 'name="Genrescope"' "$work/logs/vst3-scan.log"; then
	tail -20 "$work/logs/vst3-scan.log" >&2
	die "Ardour's VST3 scanner did not index Genrescope (log: $work/logs/vst3-scan.log)"
fi

# --- the clip at the session rate, 32-bit float, one mono file per track channel (L, R)
channels_in=$(soxi -c "$clip")
rate_in=$(soxi -r "$clip")
effects=()
[ "$rate_in" = "$rate" ] || effects=(rate -v "$rate")
[ "$pad" = 0 ] || effects+=(pad "$pad")
sox "$clip" -b 32 -e floating-point "$work/clip/clip-L.wav" remix 1 "${effects[@]}"
if [ "$channels_in" -ge 2 ]; then
	sox "$clip" -b 32 -e floating-point "$work/clip/clip-R.wav" remix 2 "${effects[@]}"
else
	cp "$work/clip/clip-L.wav" "$work/clip/clip-R.wav"
fi
frames=$(soxi -s "$work/clip/clip-L.wav")
[ "$(soxi -s "$work/clip/clip-R.wav")" = "$frames" ] || die "converted channels differ in length"
[ "$(soxi -r "$work/clip/clip-L.wav")" = "$rate" ] || die "sox did not convert to $rate Hz"

# --- one luasession step with bounded retries. usage: lua_step NAME RESULT_FILE SCRIPT ARGS...
lua_step() {
	local name="$1" result="$2"; shift 2
	local try rc reason log t0 t1
	for try in $(seq 1 "$tries"); do
		log="$work/logs/$name.try$try.log"
		rm -f "$result"
		t0=$(date +%s.%N)
		set +e
		timeout -k 10 "$step_timeout" "${LUA_PREFIX[@]}" "$@" >"$log" 2>&1
		rc=$?
		set -e
		t1=$(date +%s.%N)
		if [ "$rc" = 0 ] && grep -qx 'ok=1' "$result" 2>/dev/null; then
			reason=ok
		elif grep -q '^error=' "$result" 2>/dev/null; then
			reason="script error: $(sed -n 's/^error=//p' "$result" | head -1)"
		elif grep -q 'free(): invalid' "$log"; then
			reason="crash: free(): invalid size (rc $rc)"
		elif [ "$rc" = 139 ] || [ "$rc" = 11 ] || grep -q 'Segmentation fault' "$log"; then
			reason="crash: SIGSEGV (rc $rc)"
		elif [ "$rc" = 134 ]; then
			reason="crash: SIGABRT (rc $rc): $(grep -v '^\[' "$log" | tail -1)"
		elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			reason="timeout after ${step_timeout}s (rc $rc)"
		else
			reason="failed (rc $rc): $(tail -1 "$log")"
		fi
		printf '%s\t%s\t%s\t%s\t%.2f\t%s\n' "$name" "$try" "$rc" "$reason" \
			"$(awk "BEGIN {print $t1 - $t0}")" "${log#"$out/"}" >>"$attempts"
		if [ "$reason" = ok ]; then
			return 0
		fi
		echo "export.sh: $name try $try/$tries: $reason (log: $log)" >&2
		case "$reason" in "script error:"*) return 1 ;; esac # deterministic: retrying won't help
	done
	return 1
}
# Ardour 7.3 (Debian 12) aborts with a double free at the end of a session export when ffmpeg is
# on PATH (2026-12-05: the dry export failed 3 tries of 3, and passed with ffmpeg hidden). These
# sessions need no ffmpeg, so Ardour gets a PATH of links to everything else.
LUA_DEFAULT=(ardour7-lua)
if command -v ffmpeg >/dev/null || command -v ffprobe >/dev/null; then
	nofm="$work/path-without-ffmpeg"
	mkdir -p "$nofm"
	IFS=: read -ra path_dirs <<<"$PATH"
	for d in "${path_dirs[@]}"; do
		for f in "$d"/*; do
			n=${f##*/}
			case "$n" in ffmpeg* | ffprobe*) continue ;; esac
			[ -e "$nofm/$n" ] || ln -s "$f" "$nofm/$n"
		done
	done
	LUA_DEFAULT=(env PATH="$nofm" ardour7-lua)
fi
LUA_PREFIX=("${LUA_DEFAULT[@]}")

session_dir="$work/session"
sname=genrescope
echo "export.sh: building the session ($rate Hz, block $block, $frames frames)" >&2
lua_step create "$work/results/create.txt" "$here/create_session.lua" \
	"$session_dir" "$sname" "$rate" "$block" "$frames" 2 "$work/results/create.txt" ||
	die "creating the session failed (see $attempts)"
# interchange/<session folder name>/audiofiles/<region>%L.wav, %R.wav
for ch in L R; do
	f=$(find "$session_dir/interchange" -path "*/audiofiles/clip%$ch.wav")
	[ -n "$f" ] && [ -f "$f" ] || die "bounce file clip%$ch.wav not found under $session_dir/interchange"
	[ "$(soxi -s "$f")" = "$frames" ] || die "bounce file $f has the wrong length"
	cp "$work/clip/clip-$ch.wav" "$f" # same length and format: the region now holds the clip
done
rm -rf "$session_dir/peaks"/*

export_step() { # NAME MODE LABEL DEST_DIR
	lua_step "$1" "$work/results/$1.txt" "$here/export_session.lua" "$session_dir" "$sname" "$2" \
		"$rate" "$block" "$frames" "$4" "$3" "$work/results/$1.txt" "$settle" "$rt_export" "$params"
}

echo "export.sh: dry export" >&2
export_step dry dry dry "$out" || die "dry export failed (see $attempts)"
for n in $(seq 1 "$runs"); do
	echo "export.sh: wet export $n/$runs" >&2
	export_step "wet-$n" wet "wet-$n" "$out/runs" || die "wet export $n failed (see $attempts)"
	python3 "$here/harness.py" midi2cc "$out/runs/wet-$n.midi.tsv" "$out/runs/cc-$n.tsv" --pc "$out/runs/pc-$n.tsv" \
		--frames "$frames"
	mv "$out/runs/wet-$n.midi.tsv" "$out/runs/midi-$n.tsv"
done
cp "$out/runs/wet-1.wav" "$out/wet.wav"
cp "$out/runs/cc-1.tsv" "$out/cc.tsv"
cp "$out/runs/pc-1.tsv" "$out/pc.tsv"

if [ "$probe" = 1 ]; then
	echo "export.sh: wet export under gdb (--probe)" >&2
	LUA_PREFIX=(env LD_LIBRARY_PATH=/usr/lib/ardour7 ARDOUR_DATA_PATH=/usr/share/ardour7
		ARDOUR_CONFIG_PATH=/etc/ardour7 ARDOUR_DLL_PATH=/usr/lib/ardour7 VAMP_PATH=/usr/lib/ardour7/vamp
		gdb -q -batch -x "$here/probe_processmode.gdb.py" --args /usr/lib/ardour7/luasession)
	mkdir -p "$work/probe"
	export_step probe wet probe "$work/probe" || die "probe run failed (see $attempts)"
	LUA_PREFIX=("${LUA_DEFAULT[@]}")
	log=$(awk -F'\t' '$1=="probe" && $4=="ok" {print $6}' "$attempts" | tail -1)
	grep '^\[probe\]' "$out/$log" | sed 's/^\[probe\] //' | uniq >"$work/results/probe-events.txt"
fi

if [ -n "$cli" ]; then
	# The plugin's default settings (update interval 0.5 s), so the CC streams are comparable.
	"$cli" analyze "$work/clip/clip-L.wav" --json --block "$block" --hop 0.5 >"$out/cli.json" 2>"$work/logs/cli.log" ||
		die "$cli analyze failed (log: $work/logs/cli.log)"
fi

t_end=$(date +%s.%N)
pc_args=()
[ -z "$pc_hold" ] || pc_args=(--program-hold "$pc_hold")
python3 "$here/harness.py" report "$out" --rate "$rate" --block "$block" --frames "$frames" "${pc_args[@]}" \
	--runs "$runs" --tries "$tries" --settle "$settle" --realtime-export "$rt_export" \
	--pad-start "$pad" --clip "$clip" --vst3 "$vst3" --cli "$cli" --seconds "$(awk "BEGIN {print $t_end - $t_begin}")"
echo "export.sh: done: $out/report.json" >&2

if [ "$do_check" = 1 ]; then
	python3 "$here/check.py" "$out" || exit 2
fi

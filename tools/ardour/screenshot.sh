#!/usr/bin/env bash
# Genrescope's editor inside Ardour 7.3's GUI, headless (Xvfb), as a PNG.
#
#   tools/ardour/screenshot.sh --vst3 PATH/Genrescope.vst3 --clip CLIP --out DIR [--png FILE]
#
# Builds the harness session with export.sh (unless DIR already holds one), saves a copy with
# Genrescope on the track (save_wet_session.lua), opens it in Ardour's GUI on a private Xvfb
# display with a private $HOME whose Ardour config selects the "None (Dummy)" backend and starts
# it (no first-run wizard: ~/.config/ardour7/.a7; no Audio/MIDI setup dialog: a seeded engine
# state), switches to the Mixer, rolls the transport, double-clicks the plugin in the strip's
# processor box, waits, and captures the root window (import -window root), cropped to the
# plugin window's geometry. Writes:
#   FILE (default DIR/ardour-editor.png)   the plugin window as Ardour shows it
#   DIR/work/gui/root.png                  the whole screen
#   DIR/work/gui/editor.json               window sizes (Ardour's window, the plugin's view)
# Debian packages: ardour xvfb xdotool imagemagick x11-utils (+ export.sh's).
# The clicks are screen coordinates of Ardour 7.3's default layout at 1920x1080 (no window
# manager: every window opens at 0,0); the script checks each step and fails with the
# screenshot it got.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "screenshot.sh: $*" >&2; exit 1; }

vst3="" clip="" out="" png="" rate=48000 block=1024 play_s=8 display_num=""
while [ $# -gt 0 ]; do
	case "$1" in
		--vst3) vst3="$2"; shift 2 ;;
		--clip) clip="$2"; shift 2 ;;
		--out) out="$2"; shift 2 ;;
		--png) png="$2"; shift 2 ;;
		--play) play_s="$2"; shift 2 ;;
		--display) display_num="$2"; shift 2 ;;
		*) die "usage: $0 --vst3 Genrescope.vst3 --clip CLIP --out DIR [--png FILE] [--play S] [--display N]" ;;
	esac
done
[ -n "$vst3" ] && [ -n "$clip" ] && [ -n "$out" ] || die "need --vst3, --clip and --out"
for t in ardour Xvfb xdotool import convert xwininfo; do
	command -v "$t" >/dev/null || die "$t not found (Debian: apt-get install ardour xvfb xdotool imagemagick x11-utils)"
done

if [ ! -f "$out/work/session/genrescope.ardour" ]; then
	"$here/export.sh" --vst3 "$vst3" --clip "$clip" --out "$out" || die "export.sh failed"
fi
out="$(cd "$out" && pwd)"
[ -n "$png" ] || png="$out/ardour-editor.png"
gui="$out/work/gui"
rm -rf "$gui"
mkdir -p "$gui"
cp -a "$out/work/session" "$gui/session"
cp -a "$out/work/home" "$gui/home"
export HOME="$gui/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache" XDG_DATA_HOME="$HOME/.local/share"
mkdir -p "$XDG_DATA_HOME"

# the plugin cache is keyed by the bundle's absolute path: rescan at the new place
rm -rf "$HOME/.cache/ardour7/vst" "$HOME/.config/ardour7/plugin_metadata/scan_log"
find "$HOME/.vst3/Genrescope.vst3" -exec touch -h -d "@$(($(date +%s) - 120))" {} +
LD_LIBRARY_PATH=/usr/lib/ardour7 /usr/lib/ardour7/ardour-vst3-scanner -f -q "$HOME/.vst3/Genrescope.vst3" \
	>"$gui/vst3-scan.log" 2>&1 || die "VST3 scan failed ($gui/vst3-scan.log)"

ok=0
for try in 1 2 3; do # luasession crashes now and then (see export.sh)
	if ardour7-lua "$here/save_wet_session.lua" "$gui/session" genrescope "$rate" "$block" "$gui/save.txt" \
		>"$gui/save.try$try.log" 2>&1 && grep -qx ok=1 "$gui/save.txt"; then ok=1; break; fi
	echo "screenshot.sh: save_wet_session try $try failed ($gui/save.try$try.log)" >&2
done
[ "$ok" = 1 ] || die "could not save the session with the plugin"

# Ardour config: no wizard, Dummy backend visible and auto-started, GUI opens on the Mixer
touch "$HOME/.config/ardour7/.a7"
cat >"$HOME/.config/ardour7/config" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Ardour>
  <Config>
    <Option name="hide-dummy-backend" value="0"/>
    <Option name="try-autostart-engine" value="1"/>
  </Config>
  <Extra>
    <AudioMIDISetup>
      <EngineStates>
        <State backend="None (Dummy)" driver="Normal Speed" device="Silence" input-device="" output-device="" sample-rate="$rate" buffer-size="$block" n-periods="0" input-latency="0" output-latency="0" lm-input="" lm-output="" active="1" use-buffered-io="0" midi-option="1 in, 1 out, Silence" lru="1">
          <MIDIDevices/>
        </State>
      </EngineStates>
    </AudioMIDISetup>
  </Extra>
</Ardour>
EOF

if [ -z "$display_num" ]; then
	for n in $(seq 90 130); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { display_num=$n; break; }; done
fi
export DISPLAY=":$display_num"
Xvfb "$DISPLAY" -screen 0 1920x1080x24 -nolisten tcp >"$gui/xvfb.log" 2>&1 &
xvfb_pid=$!
ardour_pid=""
cleanup() {
	set +e # an EXIT trap under set -e would stop at the first kill of a process already gone
	[ -z "$ardour_pid" ] || { kill "$ardour_pid" 2>/dev/null && sleep 2; kill -9 "$ardour_pid" 2>/dev/null; }
	kill "$xvfb_pid" 2>/dev/null || true
	for _ in 1 2 3 4 5; do kill -0 "$xvfb_pid" 2>/dev/null || return 0; sleep 0.5; done
	kill -9 "$xvfb_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do xwininfo -root >/dev/null 2>&1 && break; sleep 0.2; done

wait_window() { # NAME-REGEX SECONDS -> prints the window id
	local i
	for i in $(seq $(($2 * 5))); do
		xwininfo -root -children | awk -v re="$1" '$0 ~ re {print $1; exit}' | grep . && return 0
		sleep 0.2
	done
	return 1
}
fail_shot() { import -window root "$gui/root.png"; die "$1 (screen: $gui/root.png, log: $gui/ardour.log)"; }

ardour -n -a "$gui/session/genrescope.ardour" >"$gui/ardour.log" 2>&1 &
ardour_pid=$!
main=$(wait_window '"genrescope - Ardour"' 60) || fail_shot "Ardour's main window did not appear"
sleep 3
xwininfo -root -children | grep -q '"Audio/MIDI Setup"' && fail_shot "Ardour asks for the audio engine (seeded state ignored)"
xwininfo -id "$main" >"$gui/main-window.txt"

click() { xdotool mousemove "$1" "$2" click --repeat "${3:-1}" --delay 80 1; }
click 1325 72 # "Mix" button (top right of the 1348x713 main window): show the Mixer
sleep 2
click 157 43 # transport "Play"
sleep 1
click 331 207 2 # double-click "Genrescope" in the clip strip's processor box
plugwin=$(wait_window 'Genrescope.*\[VST3\]' 20) || fail_shot "the plugin window did not open"
sleep "$play_s"
import -window root "$gui/root.png"
xwininfo -id "$plugwin" >"$gui/plugin-window.txt"
xwininfo -id "$plugwin" -tree >"$gui/plugin-window-tree.txt"
geom() { awk -F: -v k="$2" '$1 ~ k {gsub(/ /, "", $2); print $2}' "$1"; }
w=$(geom "$gui/plugin-window.txt" Width) h=$(geom "$gui/plugin-window.txt" Height)
x=$(geom "$gui/plugin-window.txt" "Absolute upper-left X") y=$(geom "$gui/plugin-window.txt" "Absolute upper-left Y")
convert "$gui/root.png" -crop "${w}x${h}+${x}+${y}" +repage "$png"
# the plugin's own (embedded) X window: the deepest child named "Genrescope"
view=$(awk '/"Genrescope": \(\)/ {print $3, $4; exit}' "$gui/plugin-window-tree.txt")
cat >"$gui/editor.json" <<EOF
{"ardour_window": {"title": "$(xdotool getwindowname "$plugwin")", "width": $w, "height": $h},
 "plugin_view": "$view", "png": "$png", "display": "$DISPLAY", "played_s": $play_s}
EOF
echo "screenshot.sh: $png (Ardour window ${w}x${h}; plugin view $view)" >&2

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-clips.sh DIR: verify the clips make-clips.sh recorded (codec profile, size, frame count,
# a keyframe exactly every 50 frames, B-frames only where wanted, the audio codec), by parsing
# them with gst-launch-1.0. Prints one line per clip; exits non-zero on the first mismatch.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1

fail() {
	echo "check-clips: $*" >&2
	exit 1
}

# check NAME PARSER PROFILE WIDTH HEIGHT BFRAMES(yes|no) AUDIO-CAPS-NAME(or -)
check() {
	file="$dir/$1"
	[ -f "$file" ] || fail "$1: missing"
	log=$(timeout 60 gst-launch-1.0 -v filesrc location="$file" ! matroskademux name=d \
		d.video_0 ! "$2" ! identity silent=false ! fakesink 2>&1) || fail "$1: cannot parse"
	caps=$(printf '%s\n' "$log" | grep -o 'caps = video/x-h26[45][^"]*' | tail -n 1)
	for want in "profile=(string)$3," "width=(int)$4," "height=(int)$5," \
		"framerate=(fraction)25/1"; do
		case "$caps" in *"$want"*) ;; *) fail "$1: caps lack $want: $caps" ;; esac
	done
	# One line per frame: "<index> <pts in ns> <K|d>", decode order.
	frames=$(printf '%s\n' "$log" | grep 'identity0:sink' | grep 'chain' | awk '{
		match($0, /pts: [0-9:.]+/); split(substr($0, RSTART + 5, RLENGTH - 5), t, "[:.]");
		ns = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000000000 + t[4];
		print NR - 1, ns, ($0 ~ /delta-unit/) ? "d" : "K" }')
	count=$(printf '%s\n' "$frames" | wc -l)
	[ "$count" -eq 250 ] || fail "$1: $count frames, expected 250"
	keys=$(printf '%s\n' "$frames" | awk '$3 == "K" { printf "%s ", $1 }')
	[ "$keys" = "0 50 100 150 200 " ] || fail "$1: keyframes at $keys, expected every 50"
	reordered=$(printf '%s\n' "$frames" | awk 'NR > 1 && $2 < last { n++ } { last = $2 }
		END { print n + 0 }')
	if [ "$6" = yes ]; then
		[ "$reordered" -gt 0 ] || fail "$1: no B-frames"
	else
		[ "$reordered" -eq 0 ] || fail "$1: $reordered frames out of order (B-frames)"
	fi
	if [ "$7" != - ]; then
		alog=$(timeout 60 gst-launch-1.0 -v filesrc location="$file" ! matroskademux name=d \
			d.audio_0 ! fakesink 2>&1) || fail "$1: cannot read its audio"
		printf '%s\n' "$alog" | grep -q "caps = $7" || fail "$1: audio is not $7"
	fi
	echo "check-clips: $1 ok ($3 $4x$5, $count frames, keyframes at $keys, b-frames=$6, audio=$7)"
}

check h264-cbp-360p.mkv h264parse constrained-baseline 640 360 no -
check h264-main-720p.mkv h264parse main 1280 720 no -
check h264-high-bframes-720p.mkv h264parse high 1280 720 yes -
check h265-main-720p.mkv h265parse main 1280 720 no -
check h264-pcma-360p.mkv h264parse constrained-baseline 640 360 no audio/x-alaw
check h264-aac-360p.mkv h264parse constrained-baseline 640 360 no "audio/mpeg, mpegversion=(int)4"

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make-clips.sh OUTDIR: record the test camera clips that the camera simulator serves.
#
# Each clip is 10 s at 25 fps with a GOP of exactly 2 s (an IDR every 50 frames, no scene-cut
# keyframes), moving test video with a big running clock and a label naming the clip, so a person
# watching a stream can tell it is live and which camera it is. The encoded streams are the same on
# every run (non-live sources, fixed options, x264 on one thread: its frame threads are not
# deterministic here); only Matroska's random segment/track UIDs differ. The six clips are
# recorded in parallel. Fails loudly on a missing element or a failed pipeline.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
outdir=$1
mkdir -p "$outdir"

FRAMES=250           # 10 s at 25 fps
GOP=50               # 2 s
AUDIO_BUFFERS=250    # 40 ms each: also 10 s, so audio and video loop together
CREATED=2024-01-01T00:00:00Z

for tool in gst-launch-1.0 gst-inspect-1.0; do
	if ! command -v "$tool" >/dev/null; then
		echo "make-clips: $tool is missing (Debian: gstreamer1.0-tools)" >&2
		exit 1
	fi
done
for element in videotestsrc audiotestsrc timeoverlay textoverlay x264enc x265enc h264parse \
	h265parse alawenc voaacenc aacparse matroskamux filesink; do
	if ! gst-inspect-1.0 --exists "$element"; then
		echo "make-clips: GStreamer element '$element' is missing" \
			"(Debian: gstreamer1.0-plugins-base/-good/-bad/-ugly)" >&2
		exit 1
	fi
done

# video_src PATTERN WIDTH HEIGHT LABEL: raw I420 video with the clock and the label burnt in.
# I420 matters for x265: from other formats it picks the Rext profile instead of Main.
video_src() {
	echo "videotestsrc is-live=false num-buffers=$FRAMES pattern=$1 horizontal-speed=2" \
		"! video/x-raw,format=I420,width=$2,height=$3,framerate=25/1" \
		"! timeoverlay font-desc=\"Sans Bold 36\" halignment=center valignment=center" \
		"shaded-background=true" \
		"! textoverlay text=\"$4\" font-desc=\"Sans 20\" halignment=left valignment=top" \
		"shaded-background=true"
}

# x264 PROFILE KBITS BFRAMES: H.264 with a fixed GOP; b-adapt off so B-frames really appear.
x264() {
	echo "x264enc speed-preset=veryfast threads=1 bitrate=$2 key-int-max=$GOP bframes=$3" \
		"b-adapt=false" \
		"option-string=\"scenecut=0:min-keyint=$GOP\"" \
		"! video/x-h264,profile=$1 ! h264parse"
}

# x265 KBITS: H.265 Main, closed GOP (IDR, not CRA) and no B-frames, like most cameras.
x265() {
	echo "x265enc speed-preset=veryfast bitrate=$1 key-int-max=$GOP" \
		"option-string=\"scenecut=0:min-keyint=$GOP:open-gop=0:bframes=0\"" \
		"! video/x-h265,profile=main ! h265parse"
}

mux() {
	echo "matroskamux name=mux creation-time=$CREATED ! filesink location=\"$outdir/$1.tmp\""
}

# record NAME PIPELINE: run it in the background; the file is moved in place only if it succeeded.
pids=""
record() {
	echo "make-clips: $1" >&2
	(
		# shellcheck disable=SC2086 # the pipeline description is meant to be split into words
		eval gst-launch-1.0 -q $2
		mv "$outdir/$1.tmp" "$outdir/$1"
	) &
	pids="$pids $!"
}

pcma="audiotestsrc is-live=false num-buffers=$AUDIO_BUFFERS samplesperbuffer=320 freq=440 wave=sine \
	! audio/x-raw,format=S16LE,rate=8000,channels=1 ! alawenc ! mux."
aac="audiotestsrc is-live=false num-buffers=$AUDIO_BUFFERS samplesperbuffer=640 freq=660 wave=sine \
	! audio/x-raw,format=S16LE,rate=16000,channels=1 ! voaacenc bitrate=32000 ! aacparse ! mux."

record h264-cbp-360p.mkv "$(video_src smpte 640 360 h264-cbp-360p) ! $(x264 constrained-baseline 600 0) ! $(mux h264-cbp-360p.mkv)"
record h264-main-720p.mkv "$(video_src smpte 1280 720 h264-main-720p) ! $(x264 main 2000 0) ! $(mux h264-main-720p.mkv)"
record h264-high-bframes-720p.mkv "$(video_src smpte 1280 720 h264-high-bframes-720p) ! $(x264 high 2000 2) ! $(mux h264-high-bframes-720p.mkv)"
record h265-main-720p.mkv "$(video_src smpte 1280 720 h265-main-720p) ! $(x265 1500) ! $(mux h265-main-720p.mkv)"
record h264-pcma-360p.mkv "$(video_src pinwheel 640 360 h264-pcma-360p) ! $(x264 constrained-baseline 600 0) ! $(mux h264-pcma-360p.mkv) $pcma"
record h264-aac-360p.mkv "$(video_src smpte 640 360 h264-aac-360p) ! $(x264 constrained-baseline 600 0) ! $(mux h264-aac-360p.mkv) $aac"

failed=0
for pid in $pids; do
	wait "$pid" || failed=1
done
if [ "$failed" -ne 0 ]; then
	echo "make-clips: recording failed (see the messages above)" >&2
	exit 1
fi

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RTP face of one camera's audio, shared by every WebRTC viewer of it (one per camera), as
 * rtp-source.h is for video. G.711 at 8 kHz mono passes through: it is cut into 20 ms packets
 * (PT 8 PCMA, PT 0 PCMU). Anything else the ingest delivers (AAC, G.711 at other rates) is
 * transcoded once to Opus (PT 111, 48 kHz, 20 ms frames) by a small pipeline of its own, built on
 * the first caps and rebuilt on a caps change or a camera reset. Packets carry one timeline per
 * source: timestamps follow the buffers' PTS, run on sample by sample, continue across a camera
 * reconnect, and the first packet after a gap or a reset has the marker bit.
 *
 * Each packet is a 12-byte header memory followed by the payload memory, like the video packets,
 * so a forwarder can give each viewer its own header. The packets are published on the hub's
 * VIDEO track, each without GST_BUFFER_FLAG_DELTA_UNIT: the hub delivers nothing to a consumer
 * before a "keyframe" of the video track, and every audio packet stands on its own.
 *
 * Threads: new/free/queries on the main loop (queries from any thread). Packets flow on the
 * camera's streaming thread (G.711) or on the transcode's streaming thread (Opus); the transcode
 * pipeline is stopped on a teardown worker (teardown.h), never on the caller's thread.
 * Ownership: holds the camera (keeps it pulled) while it lives; owns its RTP hub and transcode.
 */
#pragma once

#include "pipelines/camera.h"

G_BEGIN_DECLS

#define VLG_AUDIO_SOURCE_PT_PCMU 0
#define VLG_AUDIO_SOURCE_PT_PCMA 8
#define VLG_AUDIO_SOURCE_PT_OPUS 111
#define VLG_AUDIO_SOURCE_OPUS_BITRATE 32000

typedef enum {
	VLG_AUDIO_CODEC_NONE, /* no audio caps seen (yet): the camera may have no audio */
	VLG_AUDIO_CODEC_PCMA,
	VLG_AUDIO_CODEC_PCMU,
	VLG_AUDIO_CODEC_OPUS,
} VlgAudioCodec;

typedef struct _VlgAudioSource VlgAudioSource;

VlgAudioSource *vlg_audio_source_new(VlgCamera *camera);
/* Detaches from the camera, hands the transcode to a teardown worker. Accepts NULL. */
VlgAudioSource *vlg_audio_source_free(VlgAudioSource *source);

/* The packets: track VIDEO (see above), caps application/x-rtp, media=audio, encoding-name
 * PCMA/PCMU/OPUS, clock-rate, payload (and encoding-params "2" for Opus). Borrowed. */
VlgHub *vlg_audio_source_get_hub(VlgAudioSource *source);
/* The codec of the packets; it stays what it was across a camera reconnect. */
VlgAudioCodec vlg_audio_source_get_codec(VlgAudioSource *source);
VlgCamera *vlg_audio_source_get_camera(VlgAudioSource *source);

const char *vlg_audio_codec_to_string(VlgAudioCodec codec);

G_END_DECLS

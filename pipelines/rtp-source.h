/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RTP face of one camera's video, shared by every WebRTC viewer of it: consumes the camera
 * hub's access units, packetizes each once (rtp-packetizer.c) and publishes the packets through a
 * hub of its own, whose keyframe cache lets a joining viewer start at once. It also says what the
 * stream really is (profile-level-id, B-frames) so the offer can advertise it, or why it cannot
 * be passed through.
 *
 * Threads: new/free/queries on the main loop; packets flow on the camera's streaming thread.
 * Ownership: holds the camera (keeps it pulled) while it lives; owns its RTP hub.
 */
#pragma once

#include "pipelines/camera.h"
#include "pipelines/rtp-packetizer.h"

G_BEGIN_DECLS

#define VLG_RTP_SOURCE_PAYLOAD_TYPE 96
#define VLG_RTP_SOURCE_MTU 1200

typedef struct _VlgRtpSource VlgRtpSource;

typedef enum {
	VLG_PASSTHROUGH_UNKNOWN,      /* no keyframe seen yet */
	VLG_PASSTHROUGH_OK,           /* browsers decode it as sent */
	VLG_PASSTHROUGH_NEEDS_TRANSCODE, /* H.265 or B-frames: browsers cannot take it as is */
} VlgPassthrough;

VlgRtpSource *vlg_rtp_source_new(VlgCamera *camera);
/* The same over another hub of access units (a transcode of @camera, named @name in logs): it
 * does not hold the camera, whoever feeds @input does. Takes a reference on @input. */
VlgRtpSource *vlg_rtp_source_new_for_hub(VlgCamera *camera, VlgHub *input, const char *name);
VlgRtpSource *vlg_rtp_source_free(VlgRtpSource *source);

/* The packets: track VIDEO, caps application/x-rtp with the stream's profile-level-id. */
VlgHub *vlg_rtp_source_get_hub(VlgRtpSource *source);
VlgCamera *vlg_rtp_source_get_camera(VlgRtpSource *source);

/* What passthrough can do with the stream seen so far, and a reason when it cannot. */
VlgPassthrough vlg_rtp_source_get_passthrough(VlgRtpSource *source, const char **reason);

/* profile-level-id to advertise for an SPS's first three bytes after the NAL header; a High
 * profile stream without B-frames is offered as constrained baseline (see notes: software
 * decoders in browsers refuse High in WebRTC yet decode such a stream). Writes 7 bytes. */
void vlg_rtp_source_profile_level_id(const guint8 sps[3], gboolean has_b_frames, char out[7]);

G_END_DECLS

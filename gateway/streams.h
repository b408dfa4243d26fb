/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The streams WebRTC viewers share: one RTP source per (camera, profile). `main` on a camera
 * browsers can decode is the camera's own stream passed through; every other profile, and `main`
 * on an H.265 or B-frame camera, comes from the camera's transcoder (one decoder per camera, one
 * encoder per profile, see pipelines/transcoder.h). A transcode starts with its first viewer and
 * stops with its last; a new one is refused past the box's budget ([budget] transcodes), and the
 * caller picks the nearest profile that fits. `sub` of a camera with a catalogue sub-url is that
 * native sub-stream, passed through.
 *
 * Threads: main loop only. Ownership: the registry owns the sources and transcoders; callers hold
 * a source between acquire and release.
 */
#pragma once

#include "config/gateway-config.h"
#include "pipelines/camera.h"
#include "pipelines/rtp-source.h"

G_BEGIN_DECLS

typedef struct _VlgStreams VlgStreams;

/* @sub_cameras: camera id -> SubCamera* (app.h), the cameras' native sub-streams, used for the
 * `sub` profile before a transcode; borrowed. */
VlgStreams *vlg_streams_new(const VlgGatewayConfig *config, GHashTable *sub_cameras);
VlgStreams *vlg_streams_free(VlgStreams *streams);

/* The shared source of @camera in @profile; with @transcode_main, `main` is the transcoder's
 * camera-size H.264 rather than the camera's own stream. NULL with @error when the budget is used
 * up or the profile cannot be made. Release once per acquire. */
VlgRtpSource *vlg_streams_acquire(VlgStreams *streams, VlgCamera *camera,
				  const VlgProfile *profile, gboolean transcode_main,
				  GError **error);
void vlg_streams_release(VlgStreams *streams, VlgRtpSource *source);
/* @wanted (a profile name), else the nearest rung of the ladder main > sub > low > key that can
 * be had (cheaper first on a tie); *@chosen (may be NULL) names the profile had, a string of the
 * config. On a fallback *@fallback says why (free it), else it stays NULL. NULL with @error when
 * no rung can be had. Passthrough profiles of one camera share one source. */
VlgRtpSource *vlg_streams_acquire_nearest(VlgStreams *streams, VlgCamera *camera,
					  const char *wanted, gboolean transcode_main,
					  const char **chosen, char **fallback, GError **error);

/* The hub of access units of @camera in @profile, for consumers other than WebRTC (the fMP4
 * muxer): the camera's own (held while acquired) or a transcode's, on the same budget and shared
 * with the RTP streams of that profile. Release with the same arguments. */
VlgHub *vlg_streams_acquire_hub(VlgStreams *streams, VlgCamera *camera,
				const VlgProfile *profile, gboolean transcode_main,
				GError **error);
void vlg_streams_release_hub(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile,
			     gboolean transcode_main);

/* One try at @profile: the thing wanted (a stream, a muxer...), or NULL with @error. */
typedef gpointer (*VlgStreamsAttempt)(const VlgProfile *profile, gpointer data, GError **error);
/* @attempt at @wanted, then at the nearest rungs of the ladder until one succeeds; *@chosen and
 * *@fallback as for vlg_streams_acquire_nearest(), which is this with RTP sources. */
gpointer vlg_streams_try_nearest(VlgStreams *streams, const char *wanted,
				 VlgStreamsAttempt attempt, gpointer data, const char **chosen,
				 char **fallback, GError **error);

/* The profile names to try for @wanted, nearest first (@wanted itself, then the ladder's rungs by
 * distance, the cheaper first on a tie). The array borrows static strings and @wanted. */
GPtrArray *vlg_streams_candidates(const char *wanted);

/* The profile @source was acquired for, and whether it is a transcode. */
const char *vlg_streams_profile_of(VlgStreams *streams, VlgRtpSource *source,
				   gboolean *transcoded);
/* Sources alive, and streams with an encoder of their own (what the budget counts). */
guint vlg_streams_count(VlgStreams *streams);
guint vlg_streams_transcodes_running(VlgStreams *streams);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "linkage-gateway"

#include "gateway/streams.h"

#include "config/vlg-error.h"
#include "gateway/app.h"
#include "pipelines/transcoder.h"

/* One (camera, profile) stream and who uses it. */
typedef struct {
	char *key;             /* "camera/profile" or "camera/main+transcode" */
	VlgRtpSource *source;
	guint users;
	VlgCamera *camera;
	const VlgProfile *profile;
	gboolean transcoded;   /* fed by the camera's transcoder */
} Stream;

/* One (camera, profile) output of a transcoder and its users (RTP streams, fMP4 muxers). */
typedef struct {
	guint users;
	gboolean encodes; /* has an encoder of its own: counts against the budget */
} TranscodeUse;

/* The transcoder of one camera and how many streams draw on it. */
typedef struct {
	VlgTranscoder *transcoder;
	guint streams;
} CameraTranscoder;

struct _VlgStreams {
	const VlgGatewayConfig *config;
	GHashTable *sub_cameras;  /* camera id -> SubCamera*, borrowed from the app */
	GHashTable *by_key;       /* key -> Stream*, owned */
	GHashTable *by_source;    /* VlgRtpSource* -> Stream*, borrowed */
	GHashTable *transcoders;  /* camera id -> CameraTranscoder*, owned */
	GHashTable *uses;         /* "camera/profile" -> TranscodeUse*, owned */
	guint encoding;           /* uses with an encoder: what the budget counts. Counted here,
				   * not from the transcoder, whose encoders start only when the
				   * camera's first frames arrive. */
};

static void
camera_transcoder_free(gpointer data)
{
	CameraTranscoder *entry = data;

	vlg_transcoder_free(entry->transcoder);
	g_free(entry);
}

VlgStreams *
vlg_streams_new(const VlgGatewayConfig *config, GHashTable *sub_cameras)
{
	VlgStreams *streams = g_new0(VlgStreams, 1);

	streams->config = config;
	streams->sub_cameras = sub_cameras;
	streams->by_key = g_hash_table_new(g_str_hash, g_str_equal);
	streams->by_source = g_hash_table_new(NULL, NULL);
	streams->transcoders =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, camera_transcoder_free);
	streams->uses = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return streams;
}

static CameraTranscoder *
transcoder_for(VlgStreams *streams, VlgCamera *camera)
{
	const char *id = vlg_camera_get_info(camera)->id;
	CameraTranscoder *entry = g_hash_table_lookup(streams->transcoders, id);
	VlgTranscoderSettings settings = { 0 }; /* the transcoder's defaults */

	if (!entry) {
		entry = g_new0(CameraTranscoder, 1);
		entry->transcoder = vlg_transcoder_new(camera, &settings);
		g_hash_table_insert(streams->transcoders, g_strdup(id), entry);
	}
	return entry;
}

static void
drop_transcoder_use(VlgStreams *streams, VlgCamera *camera)
{
	const char *id = vlg_camera_get_info(camera)->id;
	CameraTranscoder *entry = g_hash_table_lookup(streams->transcoders, id);

	if (entry && --entry->streams == 0)
		g_hash_table_remove(streams->transcoders, id);
}

/* Whether @profile of @camera costs an encoder: the keyframes of an H.264 camera are forwarded
 * as they are. */
static gboolean
needs_encoder(VlgCamera *camera, const VlgProfile *profile)
{
	return !profile->keyframes_only || !vlg_camera_video_is(camera, "video/x-h264");
}

/* The camera run on its catalogue sub-url, when @profile is `sub` and it has one. */
static VlgCamera *
native_sub(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile)
{
	SubCamera *sub;

	if (!streams->sub_cameras || g_strcmp0(profile->name, "sub") != 0)
		return NULL;
	sub = g_hash_table_lookup(streams->sub_cameras, vlg_camera_get_info(camera)->id);
	return sub ? sub->camera : NULL;
}

/* Takes one use of @profile from @camera's transcoder: its hub, or NULL past the budget. */
static VlgHub *
transcode_take(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile,
	       GError **error)
{
	g_autofree char *key =
		g_strdup_printf("%s/%s", vlg_camera_get_info(camera)->id, profile->name);
	TranscodeUse *use = g_hash_table_lookup(streams->uses, key);
	gboolean encodes = !use && needs_encoder(camera, profile);
	guint budget = streams->config->max_transcodes;
	CameraTranscoder *entry;
	VlgHub *hub;

	if (encodes && streams->encoding >= budget) {
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA,
			    "the transcode budget is used up (%u running, [budget] transcodes=%u)",
			    streams->encoding, budget);
		return NULL;
	}
	entry = transcoder_for(streams, camera);
	entry->streams++;
	hub = vlg_transcoder_acquire(entry->transcoder, profile, error);
	if (!hub) {
		drop_transcoder_use(streams, camera);
		return NULL;
	}
	if (!use) {
		use = g_new0(TranscodeUse, 1);
		use->encodes = encodes;
		streams->encoding += encodes;
		g_hash_table_insert(streams->uses, g_strdup(key), use);
		g_message("transcode %s started (%u of %u encoders in use)", key,
			  streams->encoding, budget);
	}
	use->users++;
	return hub;
}

static void
transcode_drop(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile)
{
	g_autofree char *key =
		g_strdup_printf("%s/%s", vlg_camera_get_info(camera)->id, profile->name);
	TranscodeUse *use = g_hash_table_lookup(streams->uses, key);
	CameraTranscoder *entry =
		g_hash_table_lookup(streams->transcoders, vlg_camera_get_info(camera)->id);

	g_return_if_fail(use && entry);
	vlg_transcoder_release(entry->transcoder, profile);
	drop_transcoder_use(streams, camera);
	if (--use->users > 0)
		return;
	streams->encoding -= use->encodes;
	g_hash_table_remove(streams->uses, key);
	g_message("transcode %s stopped (%u of %u encoders in use)", key, streams->encoding,
		  streams->config->max_transcodes);
}

/* A transcoded RTP stream from the camera's transcoder, or NULL past the budget. */
static VlgRtpSource *
open_transcode(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile,
	       const char *name, GError **error)
{
	VlgHub *hub = transcode_take(streams, camera, profile, error);

	return hub ? vlg_rtp_source_new_for_hub(camera, hub, name) : NULL;
}

VlgHub *
vlg_streams_acquire_hub(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile,
			gboolean transcode_main, GError **error)
{
	VlgCamera *native = native_sub(streams, camera, profile);

	if (native || (profile->passthrough && !transcode_main)) {
		vlg_camera_hold(native ? native : camera);
		return vlg_camera_get_hub(native ? native : camera);
	}
	return transcode_take(streams, camera, profile, error);
}

void
vlg_streams_release_hub(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile,
			gboolean transcode_main)
{
	VlgCamera *native = native_sub(streams, camera, profile);

	if (native || (profile->passthrough && !transcode_main))
		vlg_camera_release(native ? native : camera);
	else
		transcode_drop(streams, camera, profile);
}

VlgRtpSource *
vlg_streams_acquire(VlgStreams *streams, VlgCamera *camera, const VlgProfile *profile,
		    gboolean transcode_main, GError **error)
{
	gboolean transcoded = !profile->passthrough || transcode_main;
	/* Every passthrough profile of a camera is the same stream: one source for all of them. */
	g_autofree char *key =
		transcoded ? g_strdup_printf("%s/%s%s", vlg_camera_get_info(camera)->id,
					     profile->name, profile->passthrough ? "+transcode" : "") :
			     g_strdup_printf("%s/passthrough", vlg_camera_get_info(camera)->id);
	VlgCamera *native = native_sub(streams, camera, profile);
	Stream *stream;
	VlgRtpSource *source;

	if (native) {
		/* The camera's own sub-stream, passed through: no transcode. */
		transcoded = FALSE;
		g_free(key);
		key = g_strdup_printf("%s/native-sub", vlg_camera_get_info(camera)->id);
	}
	stream = g_hash_table_lookup(streams->by_key, key);
	if (stream) {
		stream->users++;
		return stream->source;
	}
	source = native	     ? vlg_rtp_source_new(native) :
		 transcoded ? open_transcode(streams, camera, profile, key, error) :
			      vlg_rtp_source_new(camera);
	if (!source)
		return NULL;
	stream = g_new0(Stream, 1);
	stream->key = g_steal_pointer(&key);
	stream->source = source;
	stream->users = 1;
	stream->camera = camera;
	stream->profile = profile;
	stream->transcoded = transcoded;
	g_hash_table_insert(streams->by_key, stream->key, stream);
	g_hash_table_insert(streams->by_source, source, stream);
	return source;
}

/* The ladder, best first; a profile that cannot be had gives way to its nearest rung. */
static const char *const ladder[] = { "main", "sub", "low", "key" };

static gint
ladder_rung(const char *profile)
{
	for (guint i = 0; i < G_N_ELEMENTS(ladder); i++)
		if (g_strcmp0(ladder[i], profile) == 0)
			return (gint)i;
	return -1;
}

/* The names to try for @wanted, nearest first: @wanted, then rungs at distance 1 (the cheaper,
 * lower one first), 2, ... A profile off the ladder has no neighbours. */
GPtrArray *
vlg_streams_candidates(const char *wanted)
{
	GPtrArray *names = g_ptr_array_new();
	gint rung = ladder_rung(wanted);

	g_ptr_array_add(names, (gpointer)wanted);
	for (gint distance = 1; rung >= 0 && distance < (gint)G_N_ELEMENTS(ladder); distance++) {
		if (rung + distance < (gint)G_N_ELEMENTS(ladder))
			g_ptr_array_add(names, (gpointer)ladder[rung + distance]);
		if (rung - distance >= 0)
			g_ptr_array_add(names, (gpointer)ladder[rung - distance]);
	}
	return names;
}

gpointer
vlg_streams_try_nearest(VlgStreams *streams, const char *wanted, VlgStreamsAttempt attempt,
			gpointer data, const char **chosen, char **fallback, GError **error)
{
	g_autoptr(GPtrArray) names = vlg_streams_candidates(wanted);
	g_autoptr(GError) first_error = NULL;

	*fallback = NULL;
	for (guint i = 0; i < names->len; i++) {
		const VlgProfile *profile =
			vlg_gateway_config_find_profile(streams->config, names->pdata[i]);
		g_autoptr(GError) local = NULL;
		gpointer got;

		if (!profile)
			continue;
		got = attempt(profile, data, &local);
		if (got) {
			if (chosen)
				*chosen = profile->name;
			if (first_error)
				*fallback = g_strdup_printf("%s not available (%s): using %s", wanted,
							    first_error->message, profile->name);
			return got;
		}
		if (!first_error)
			first_error = g_steal_pointer(&local);
	}
	if (first_error)
		g_propagate_error(error, g_steal_pointer(&first_error));
	else
		g_set_error(error, VLG_ERROR, VLG_ERROR_MEDIA, "no profile named %s", wanted);
	return NULL;
}

typedef struct {
	VlgStreams *streams;
	VlgCamera *camera;
	gboolean transcode_main;
} SourceAttempt;

static gpointer
attempt_source(const VlgProfile *profile, gpointer data, GError **error)
{
	SourceAttempt *attempt = data;

	return vlg_streams_acquire(attempt->streams, attempt->camera, profile,
				   attempt->transcode_main && profile->passthrough, error);
}

VlgRtpSource *
vlg_streams_acquire_nearest(VlgStreams *streams, VlgCamera *camera, const char *wanted,
			    gboolean transcode_main, const char **chosen, char **fallback,
			    GError **error)
{
	SourceAttempt attempt = { streams, camera, transcode_main };

	return vlg_streams_try_nearest(streams, wanted, attempt_source, &attempt, chosen, fallback,
				       error);
}

static void
stream_close(VlgStreams *streams, Stream *stream)
{
	g_hash_table_remove(streams->by_key, stream->key);
	g_hash_table_remove(streams->by_source, stream->source);
	/* The RTP source detaches from the transcode's hub before the transcode lets it go. */
	vlg_rtp_source_free(stream->source);
	if (stream->transcoded)
		transcode_drop(streams, stream->camera, stream->profile);
	g_free(stream->key);
	g_free(stream);
}

void
vlg_streams_release(VlgStreams *streams, VlgRtpSource *source)
{
	Stream *stream = g_hash_table_lookup(streams->by_source, source);

	g_return_if_fail(stream != NULL);
	if (--stream->users == 0)
		stream_close(streams, stream);
}

const char *
vlg_streams_profile_of(VlgStreams *streams, VlgRtpSource *source, gboolean *transcoded)
{
	Stream *stream = g_hash_table_lookup(streams->by_source, source);

	if (!stream)
		return NULL;
	if (transcoded)
		*transcoded = stream->transcoded;
	return stream->profile->name;
}

guint
vlg_streams_count(VlgStreams *streams)
{
	return g_hash_table_size(streams->by_key);
}

guint
vlg_streams_transcodes_running(VlgStreams *streams)
{
	return streams->encoding;
}

VlgStreams *
vlg_streams_free(VlgStreams *streams)
{
	GHashTableIter iter;
	gpointer value;

	if (!streams)
		return NULL;
	/* Streams still held at shutdown (their holders are going too). */
	while (g_hash_table_size(streams->by_key) > 0) {
		g_hash_table_iter_init(&iter, streams->by_key);
		g_hash_table_iter_next(&iter, NULL, &value);
		stream_close(streams, value);
	}
	g_hash_table_unref(streams->by_key);
	g_hash_table_unref(streams->by_source);
	g_hash_table_unref(streams->transcoders);
	g_hash_table_unref(streams->uses);
	g_free(streams);
	return NULL;
}

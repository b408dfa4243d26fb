/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/rtp-packetizer.h"

#include <string.h>

#define H264_FU_A 28
#define H265_FU 49

struct _VlgRtpPacketizer {
	VlgRtpCodec codec;
	guint8 payload_type;
	guint32 ssrc;
	gsize mtu; /* whole RTP packet, header included */
	guint16 sequence;
};

typedef struct {
	gsize offset; /* of the NAL unit's first byte, after the start code */
	gsize size;
} NalUnit;

VlgRtpPacketizer *
vlg_rtp_packetizer_new(VlgRtpCodec codec, guint8 payload_type, guint32 ssrc, gsize mtu)
{
	VlgRtpPacketizer *packetizer = g_new0(VlgRtpPacketizer, 1);

	packetizer->codec = codec;
	packetizer->payload_type = payload_type & 0x7f;
	packetizer->ssrc = ssrc;
	packetizer->mtu = MAX(mtu, 64);
	/* A random start makes known-plaintext attacks on SRTP harder (RFC 3550 5.1). */
	packetizer->sequence = (guint16)g_random_int();
	return packetizer;
}

VlgRtpPacketizer *
vlg_rtp_packetizer_free(VlgRtpPacketizer *packetizer)
{
	g_free(packetizer);
	return NULL;
}

guint32
vlg_rtp_timestamp_from_pts(GstClockTime pts)
{
	if (!GST_CLOCK_TIME_IS_VALID(pts))
		return 0;
	return (guint32)gst_util_uint64_scale(pts, VLG_RTP_CLOCK_RATE, GST_SECOND);
}

/* Finds the NAL units of an Annex-B buffer: each starts after 00 00 01 (or 00 00 00 01). */
static GArray *
split_annex_b(const guint8 *data, gsize size)
{
	GArray *units = g_array_new(FALSE, FALSE, sizeof(NalUnit));
	gsize i = 0, start = 0;
	gboolean in_unit = FALSE;

	while (i + 3 <= size) {
		if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
			if (in_unit) {
				NalUnit unit = { start, i - start };

				/* A 4-byte start code leaves a zero at the end of the previous unit. */
				while (unit.size > 0 && data[unit.offset + unit.size - 1] == 0)
					unit.size--;
				if (unit.size > 0)
					g_array_append_val(units, unit);
			}
			i += 3;
			start = i;
			in_unit = TRUE;
			continue;
		}
		i++;
	}
	if (in_unit && start < size) {
		NalUnit unit = { start, size - start };

		g_array_append_val(units, unit);
	}
	return units;
}

static GstMemory *
make_header(VlgRtpPacketizer *packetizer, guint32 timestamp, gboolean marker,
	    const guint8 *extra, gsize extra_size)
{
	gsize size = VLG_RTP_HEADER_SIZE + extra_size;
	guint8 *header = g_malloc(size);

	header[0] = 0x80; /* version 2, no padding, no extension, no CSRC */
	header[1] = (marker ? 0x80 : 0) | packetizer->payload_type;
	GST_WRITE_UINT16_BE(header + 2, packetizer->sequence);
	GST_WRITE_UINT32_BE(header + 4, timestamp);
	GST_WRITE_UINT32_BE(header + 8, packetizer->ssrc);
	if (extra_size)
		memcpy(header + VLG_RTP_HEADER_SIZE, extra, extra_size);
	packetizer->sequence++;
	return gst_memory_new_wrapped(0, header, size, 0, size, header, g_free);
}

static void
emit_packet(VlgRtpPacketizer *packetizer, GstBuffer *access_unit, GstMemory *header,
	    gsize offset, gsize size, gboolean first_of_keyframe, VlgRtpEmit emit,
	    gpointer user_data)
{
	GstBuffer *packet = gst_buffer_copy_region(access_unit, GST_BUFFER_COPY_MEMORY, offset, size);

	gst_buffer_prepend_memory(packet, header);
	GST_BUFFER_PTS(packet) = GST_BUFFER_PTS(access_unit);
	GST_BUFFER_DTS(packet) = GST_BUFFER_DTS(access_unit);
	if (!first_of_keyframe)
		GST_BUFFER_FLAG_SET(packet, GST_BUFFER_FLAG_DELTA_UNIT);
	emit(packet, user_data);
}

/* The FU indicator/header bytes for a fragment of the NAL unit whose header is @nal. */
static gsize
fu_prefix(VlgRtpCodec codec, const guint8 *nal, gboolean start, gboolean end, guint8 prefix[3])
{
	guint8 flags = (start ? 0x80 : 0) | (end ? 0x40 : 0);

	if (codec == VLG_RTP_CODEC_H264) {
		prefix[0] = (nal[0] & 0xe0) | H264_FU_A;
		prefix[1] = flags | (nal[0] & 0x1f);
		return 2;
	}
	/* H.265: PayloadHdr keeps F, LayerId and TID of the NAL unit, with type 49. */
	prefix[0] = (nal[0] & 0x81) | (H265_FU << 1);
	prefix[1] = nal[1];
	prefix[2] = flags | ((nal[0] >> 1) & 0x3f);
	return 3;
}

static guint
packetize_unit(VlgRtpPacketizer *packetizer, GstBuffer *access_unit, const guint8 *data,
	       const NalUnit *unit, guint32 timestamp, gboolean last_unit, gboolean *first_pending,
	       VlgRtpEmit emit, gpointer user_data)
{
	gsize header_size = packetizer->codec == VLG_RTP_CODEC_H264 ? 1 : 2;
	gsize room = packetizer->mtu - VLG_RTP_HEADER_SIZE;
	const guint8 *nal = data + unit->offset;
	gsize offset, chunk_room;
	guint count = 0;

	if (unit->size <= room) {
		GstMemory *header = make_header(packetizer, timestamp, last_unit, NULL, 0);

		emit_packet(packetizer, access_unit, header, unit->offset, unit->size, *first_pending,
			    emit, user_data);
		*first_pending = FALSE;
		return 1;
	}
	/* Fragments carry the NAL payload without its header, which the FU header stands for. */
	chunk_room = room - (header_size + 1);
	for (offset = header_size; offset < unit->size; offset += chunk_room) {
		gsize chunk = MIN(chunk_room, unit->size - offset);
		gboolean end = offset + chunk == unit->size;
		guint8 prefix[3];
		gsize prefix_size = fu_prefix(packetizer->codec, nal, offset == header_size, end, prefix);
		GstMemory *header = make_header(packetizer, timestamp, end && last_unit, prefix,
						prefix_size);

		emit_packet(packetizer, access_unit, header, unit->offset + offset, chunk,
			    *first_pending, emit, user_data);
		*first_pending = FALSE;
		count++;
	}
	return count;
}

guint
vlg_rtp_packetizer_push(VlgRtpPacketizer *packetizer, GstBuffer *access_unit, VlgRtpEmit emit,
			gpointer user_data)
{
	GstMapInfo map;
	g_autoptr(GArray) units = NULL;
	guint32 timestamp = vlg_rtp_timestamp_from_pts(GST_BUFFER_PTS(access_unit));
	gboolean first_pending = !GST_BUFFER_FLAG_IS_SET(access_unit, GST_BUFFER_FLAG_DELTA_UNIT);
	guint count = 0;

	if (!gst_buffer_map(access_unit, &map, GST_MAP_READ))
		return 0;
	units = split_annex_b(map.data, map.size);
	for (guint i = 0; i < units->len; i++)
		count += packetize_unit(packetizer, access_unit, map.data,
					&g_array_index(units, NalUnit, i), timestamp,
					i + 1 == units->len, &first_pending, emit, user_data);
	gst_buffer_unmap(access_unit, &map);
	return count;
}

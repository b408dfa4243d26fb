/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RTP packetization of H.264 (RFC 6184, packetization-mode 1) and H.265 (RFC 7798) access units,
 * done once per camera for every viewer: single NAL unit packets, and fragmentation units for NAL
 * units larger than the MTU. Payload bytes are never copied: each packet is a 12-byte header memory
 * (plus the 2- or 3-byte FU header) followed by memory shared with the access unit, so that a
 * forwarder can give each viewer its own header cheaply.
 *
 * Threads: one packetizer is used by one thread at a time (the hub's producer). Ownership: the
 * packetizer takes nothing; the callback receives packets it owns.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
	VLG_RTP_CODEC_H264,
	VLG_RTP_CODEC_H265,
} VlgRtpCodec;

#define VLG_RTP_HEADER_SIZE 12
#define VLG_RTP_CLOCK_RATE 90000

typedef struct _VlgRtpPacketizer VlgRtpPacketizer;

/* Called for each packet of an access unit, in order; takes @packet. The first packet of a
 * keyframe access unit lacks GST_BUFFER_FLAG_DELTA_UNIT; every other packet has it. */
typedef void (*VlgRtpEmit)(GstBuffer *packet, gpointer user_data);

VlgRtpPacketizer *vlg_rtp_packetizer_new(VlgRtpCodec codec, guint8 payload_type, guint32 ssrc,
					 gsize mtu);
VlgRtpPacketizer *vlg_rtp_packetizer_free(VlgRtpPacketizer *packetizer);

/* Packetizes one Annex-B access unit (start codes, as h264parse/h265parse output with
 * alignment=au). Returns the number of packets emitted; 0 when the buffer holds no NAL unit. */
guint vlg_rtp_packetizer_push(VlgRtpPacketizer *packetizer, GstBuffer *access_unit,
			      VlgRtpEmit emit, gpointer user_data);

/* RTP timestamp (90 kHz) for a PTS in nanoseconds. */
guint32 vlg_rtp_timestamp_from_pts(GstClockTime pts);

G_END_DECLS

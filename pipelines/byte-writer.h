/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Big-endian writers appending to a GByteArray, shared by the MP4 box writer and the H.264/H.265
 * decoder configuration records. Header-only (static inline): they are a line each.
 *
 * Threads: any. Ownership: the caller's array; @bytes is borrowed.
 */
#pragma once

#include <glib.h>

static inline void
vlg_put8(GByteArray *out, guint value)
{
	guint8 byte = (guint8)value;

	g_byte_array_append(out, &byte, 1);
}

static inline void
vlg_put16(GByteArray *out, guint value)
{
	guint8 bytes[2] = { (guint8)(value >> 8), (guint8)value };

	g_byte_array_append(out, bytes, 2);
}

static inline void
vlg_put32(GByteArray *out, guint32 value)
{
	guint8 bytes[4] = { (guint8)(value >> 24), (guint8)(value >> 16), (guint8)(value >> 8),
			    (guint8)value };

	g_byte_array_append(out, bytes, 4);
}

static inline void
vlg_put64(GByteArray *out, guint64 value)
{
	vlg_put32(out, (guint32)(value >> 32));
	vlg_put32(out, (guint32)value);
}

static inline void
vlg_put_bytes(GByteArray *out, GBytes *bytes)
{
	gsize size;
	const guint8 *data = g_bytes_get_data(bytes, &size);

	g_byte_array_append(out, data, (guint)size);
}

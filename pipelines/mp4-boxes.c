/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines/mp4-boxes.h"

#include <string.h>

#include "pipelines/byte-writer.h"

#define MAX_AAC_CONFIG 64

/* ---- Byte writing ---------------------------------------------------------------------------- */

static void
put_zeros(GByteArray *out, guint count)
{
	static const guint8 zeros[64];

	g_byte_array_append(out, zeros, MIN(count, sizeof(zeros)));
}

static void
patch32(GByteArray *out, gsize at, guint32 value)
{
	out->data[at] = (guint8)(value >> 24);
	out->data[at + 1] = (guint8)(value >> 16);
	out->data[at + 2] = (guint8)(value >> 8);
	out->data[at + 3] = (guint8)value;
}

static guint32
read32(const guint8 *data)
{
	return ((guint32)data[0] << 24) | ((guint32)data[1] << 16) | ((guint32)data[2] << 8) |
	       data[3];
}

/* Opens a box: returns where its size goes, to be passed to box_end(). */
static gsize
box_begin(GByteArray *out, const char *type)
{
	gsize start = out->len;

	vlg_put32(out, 0);
	g_byte_array_append(out, (const guint8 *)type, 4);
	return start;
}

static gsize
full_box_begin(GByteArray *out, const char *type, guint version, guint32 flags)
{
	gsize start = box_begin(out, type);

	vlg_put32(out, (version << 24) | (flags & 0xffffff));
	return start;
}

static void
box_end(GByteArray *out, gsize start)
{
	patch32(out, start, (guint32)(out->len - start));
}

/* ---- AAC codec string ------------------------------------------------------------------------ */

char *
vlg_aac_codec_string(const guint8 *config, gsize size)
{
	guint object_type;

	if (size < 2)
		return NULL;
	object_type = config[0] >> 3;
	if (object_type == 31)
		object_type = 32 + (((config[0] & 7) << 3) | (config[1] >> 5));
	return g_strdup_printf("mp4a.40.%u", object_type);
}

/* ---- Init segment ---------------------------------------------------------------------------- */

static void
put_matrix(GByteArray *out)
{
	static const guint32 unity[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };

	for (guint i = 0; i < 9; i++)
		vlg_put32(out, unity[i]);
}

static void
put_ftyp(GByteArray *out)
{
	gsize box = box_begin(out, "ftyp");

	g_byte_array_append(out, (const guint8 *)"isom", 4);
	vlg_put32(out, 0x200);
	g_byte_array_append(out, (const guint8 *)"isomiso5iso6mp41", 16);
	box_end(out, box);
}

static void
put_mvhd(GByteArray *out, guint32 next_track_id)
{
	gsize box = full_box_begin(out, "mvhd", 0, 0);

	vlg_put32(out, 0);    /* creation_time */
	vlg_put32(out, 0);    /* modification_time */
	vlg_put32(out, 1000); /* timescale */
	vlg_put32(out, 0);    /* duration: unknown (fragmented) */
	vlg_put32(out, 0x10000);
	vlg_put16(out, 0x100);
	put_zeros(out, 10);
	put_matrix(out);
	put_zeros(out, 24);
	vlg_put32(out, next_track_id);
	box_end(out, box);
}

static void
put_tkhd(GByteArray *out, const VlgMp4Track *track)
{
	gboolean audio = track->codec == VLG_MP4_CODEC_AAC;
	gsize box = full_box_begin(out, "tkhd", 0, 3); /* enabled, in movie */

	vlg_put32(out, 0);
	vlg_put32(out, 0);
	vlg_put32(out, track->track_id);
	vlg_put32(out, 0);
	vlg_put32(out, 0); /* duration */
	put_zeros(out, 8);
	vlg_put16(out, 0); /* layer */
	vlg_put16(out, 0); /* alternate_group */
	vlg_put16(out, audio ? 0x100 : 0);
	vlg_put16(out, 0);
	put_matrix(out);
	vlg_put32(out, audio ? 0 : track->width << 16);
	vlg_put32(out, audio ? 0 : track->height << 16);
	box_end(out, box);
}

static void
put_descriptor_header(GByteArray *out, guint tag, gsize size)
{
	/* Every descriptor here is far below 128 bytes: one size byte. */
	vlg_put8(out, tag);
	vlg_put8(out, (guint)size);
}

static void
put_esds(GByteArray *out, const VlgMp4Track *track)
{
	gsize config_size = MIN(g_bytes_get_size(track->config), MAX_AAC_CONFIG);
	gsize decoder_config = 13 + 2 + config_size;
	gsize box = full_box_begin(out, "esds", 0, 0);

	put_descriptor_header(out, 0x03, 3 + 2 + decoder_config + 3); /* ES_Descriptor */
	vlg_put16(out, track->track_id);
	vlg_put8(out, 0);
	put_descriptor_header(out, 0x04, decoder_config); /* DecoderConfigDescriptor */
	vlg_put8(out, 0x40);                                  /* Audio ISO/IEC 14496-3 */
	vlg_put8(out, (0x05 << 2) | 1);                       /* audio stream */
	put_zeros(out, 3);                                /* bufferSizeDB */
	vlg_put32(out, 0);                                    /* maxBitrate */
	vlg_put32(out, 0);                                    /* avgBitrate */
	put_descriptor_header(out, 0x05, config_size);    /* DecoderSpecificInfo */
	g_byte_array_append(out, g_bytes_get_data(track->config, NULL), (guint)config_size);
	put_descriptor_header(out, 0x06, 1); /* SLConfigDescriptor */
	vlg_put8(out, 2);
	box_end(out, box);
}

static void
put_sample_entry(GByteArray *out, const VlgMp4Track *track)
{
	static const char *const entries[] = { "avc1", "hvc1", "mp4a" };
	static const char *const records[] = { "avcC", "hvcC", NULL };
	gsize entry = box_begin(out, entries[track->codec]), record;

	put_zeros(out, 6);
	vlg_put16(out, 1); /* data_reference_index */
	if (track->codec == VLG_MP4_CODEC_AAC) {
		put_zeros(out, 8);
		vlg_put16(out, track->channels);
		vlg_put16(out, 16); /* samplesize */
		vlg_put32(out, 0);
		vlg_put32(out, track->rate <= G_MAXUINT16 ? track->rate << 16 : 0);
		put_esds(out, track);
	} else {
		put_zeros(out, 16);
		vlg_put16(out, track->width);
		vlg_put16(out, track->height);
		vlg_put32(out, 0x480000); /* 72 dpi */
		vlg_put32(out, 0x480000);
		vlg_put32(out, 0);
		vlg_put16(out, 1); /* frame_count */
		put_zeros(out, 32);
		vlg_put16(out, 0x18);
		vlg_put16(out, 0xffff);
		record = box_begin(out, records[track->codec]);
		vlg_put_bytes(out, track->config);
		box_end(out, record);
	}
	box_end(out, entry);
}

static void
put_empty_tables(GByteArray *out)
{
	static const char *const tables[] = { "stts", "stsc", "stco" };
	gsize box;

	for (guint i = 0; i < G_N_ELEMENTS(tables); i++) {
		box = full_box_begin(out, tables[i], 0, 0);
		vlg_put32(out, 0);
		box_end(out, box);
	}
	box = full_box_begin(out, "stsz", 0, 0);
	vlg_put32(out, 0);
	vlg_put32(out, 0);
	box_end(out, box);
}

static void
put_minf(GByteArray *out, const VlgMp4Track *track)
{
	gsize minf = box_begin(out, "minf"), box, dref, url, stbl, stsd;

	if (track->codec == VLG_MP4_CODEC_AAC) {
		box = full_box_begin(out, "smhd", 0, 0);
		vlg_put32(out, 0);
	} else {
		box = full_box_begin(out, "vmhd", 0, 1);
		put_zeros(out, 8);
	}
	box_end(out, box);
	box = box_begin(out, "dinf");
	dref = full_box_begin(out, "dref", 0, 0);
	vlg_put32(out, 1);
	url = full_box_begin(out, "url ", 0, 1); /* media in this file */
	box_end(out, url);
	box_end(out, dref);
	box_end(out, box);
	stbl = box_begin(out, "stbl");
	stsd = full_box_begin(out, "stsd", 0, 0);
	vlg_put32(out, 1);
	put_sample_entry(out, track);
	box_end(out, stsd);
	put_empty_tables(out);
	box_end(out, stbl);
	box_end(out, minf);
}

static void
put_trak(GByteArray *out, const VlgMp4Track *track)
{
	gboolean audio = track->codec == VLG_MP4_CODEC_AAC;
	gsize trak = box_begin(out, "trak"), mdia, box;

	put_tkhd(out, track);
	mdia = box_begin(out, "mdia");
	box = full_box_begin(out, "mdhd", 0, 0);
	vlg_put32(out, 0);
	vlg_put32(out, 0);
	vlg_put32(out, track->timescale);
	vlg_put32(out, 0);
	vlg_put16(out, 0x55c4); /* "und" */
	vlg_put16(out, 0);
	box_end(out, box);
	box = full_box_begin(out, "hdlr", 0, 0);
	vlg_put32(out, 0);
	g_byte_array_append(out, (const guint8 *)(audio ? "soun" : "vide"), 4);
	put_zeros(out, 12);
	g_byte_array_append(out, (const guint8 *)(audio ? "SoundHandler" : "VideoHandler"), 13);
	box_end(out, box);
	put_minf(out, track);
	box_end(out, mdia);
	box_end(out, trak);
}

GBytes *
vlg_mp4_make_init_segment(const VlgMp4Track *tracks, guint n_tracks)
{
	GByteArray *out = g_byte_array_sized_new(1024);
	guint32 next_track_id = 1;
	gsize moov, mvex, trex;

	put_ftyp(out);
	moov = box_begin(out, "moov");
	for (guint i = 0; i < n_tracks; i++)
		next_track_id = MAX(next_track_id, tracks[i].track_id + 1);
	put_mvhd(out, next_track_id);
	for (guint i = 0; i < n_tracks; i++)
		put_trak(out, &tracks[i]);
	mvex = box_begin(out, "mvex");
	for (guint i = 0; i < n_tracks; i++) {
		trex = full_box_begin(out, "trex", 0, 0);
		vlg_put32(out, tracks[i].track_id);
		vlg_put32(out, 1); /* default_sample_description_index */
		vlg_put32(out, 0);
		vlg_put32(out, 0);
		vlg_put32(out, 0);
		box_end(out, trex);
	}
	box_end(out, mvex);
	box_end(out, moov);
	return g_byte_array_free_to_bytes(out);
}

/* ---- Media segments -------------------------------------------------------------------------- */

#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000
#define TRUN_DATA_OFFSET 0x000001
#define TRUN_DURATION 0x000100
#define TRUN_SIZE 0x000200
#define TRUN_FLAGS 0x000400
#define TRUN_COMPOSITION_OFFSET 0x000800

/* Writes one traf; returns where its trun's data_offset goes. */
static gsize
put_traf(GByteArray *out, const VlgMp4Run *run)
{
	guint32 flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
	gsize traf = box_begin(out, "traf"), box, data_offset;

	if (run->composition_offsets)
		flags |= TRUN_COMPOSITION_OFFSET;
	box = full_box_begin(out, "tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
	vlg_put32(out, run->track_id);
	box_end(out, box);
	box = full_box_begin(out, "tfdt", 1, 0);
	vlg_put64(out, run->base_decode_time);
	box_end(out, box);
	box = full_box_begin(out, "trun", 0, flags);
	vlg_put32(out, run->n_samples);
	data_offset = out->len;
	vlg_put32(out, 0);
	for (guint i = 0; i < run->n_samples; i++) {
		const VlgMp4Sample *sample = &run->samples[i];

		vlg_put32(out, sample->duration);
		vlg_put32(out, sample->size);
		vlg_put32(out, sample->flags);
		if (run->composition_offsets)
			vlg_put32(out, (guint32)MAX(sample->composition_offset, 0));
	}
	box_end(out, box);
	box_end(out, traf);
	return data_offset;
}

void
vlg_mp4_write_fragment_header(GByteArray *out, guint32 sequence, const VlgMp4Run *runs,
			      guint n_runs)
{
	gsize moof, box, offsets[VLG_MP4_MAX_RUNS];
	guint64 data_size = 0;

	g_return_if_fail(n_runs <= VLG_MP4_MAX_RUNS);
	moof = box_begin(out, "moof");

	box = full_box_begin(out, "mfhd", 0, 0);
	vlg_put32(out, sequence);
	box_end(out, box);
	for (guint i = 0; i < n_runs; i++)
		offsets[i] = runs[i].n_samples > 0 ? put_traf(out, &runs[i]) : 0;
	box_end(out, moof);
	/* data_offset counts from the start of the moof (default-base-is-moof). */
	for (guint i = 0; i < n_runs; i++) {
		if (runs[i].n_samples == 0)
			continue;
		patch32(out, offsets[i], (guint32)(out->len - moof + 8 + data_size));
		for (guint j = 0; j < runs[i].n_samples; j++)
			data_size += runs[i].samples[j].size;
	}
	vlg_put32(out, (guint32)(8 + data_size));
	g_byte_array_append(out, (const guint8 *)"mdat", 4);
}

gboolean
vlg_mp4_next_box(const guint8 *data, gsize size, gsize *offset, guint32 *type,
		 const guint8 **payload, gsize *payload_size)
{
	gsize at = *offset, header = 8;
	guint64 box_size;

	if (at >= size || size - at < 8)
		return FALSE;
	box_size = read32(data + at);
	if (box_size == 1) {
		if (size - at < 16)
			return FALSE;
		box_size = ((guint64)read32(data + at + 8) << 32) | read32(data + at + 12);
		header = 16;
	} else if (box_size == 0) {
		box_size = size - at;
	}
	if (box_size < header || box_size > size - at)
		return FALSE;
	*type = read32(data + at + 4);
	*payload = data + at + header;
	*payload_size = (gsize)box_size - header;
	*offset = at + (gsize)box_size;
	return TRUE;
}

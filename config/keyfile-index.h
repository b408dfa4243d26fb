/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A scanner over key-file text that keeps what GKeyFile forgets: where each group and key sits.
 * It reports syntax errors by line (a line that is not blank, a `#` or `;` comment, a `[group]`
 * header or `key=value`; duplicate groups and keys), loads the well-formed lines into a GKeyFile
 * for the values, and maps group -> line and (group, key) -> line so that semantic errors found
 * later can name their line too. It also collects those errors, every one of them, and hands them
 * back as one GError, one error per line, sorted by line. The typed getters below are the value
 * rules both config parsers share (escapes, booleans, numbers in a range, one of some names), each
 * recording its own error so that every parser words them alike.
 *
 * Pure data, no threads: one thread builds, uses and frees an index. The index owns everything it
 * returns (names, arrays, the GKeyFile); the caller owns the index.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _VlgKeyfileIndex VlgKeyfileIndex;

/* Scans @data (@length bytes, or NUL-terminated when @length is (gsize)-1), named @source_name in
 * messages. Never fails: syntax errors are recorded as errors of the index, and lines in error are
 * left out of the key file. */
VlgKeyfileIndex *vlg_keyfile_index_new(const char *data, gsize length, const char *source_name);
/* The same for the file at @path, named by its path. NULL with @error set in the VLG_ERROR domain
 * with @code ("PATH: cannot read: why") when the file cannot be read. */
VlgKeyfileIndex *vlg_keyfile_index_new_from_file(const char *path, int code, GError **error);
/* The same for @resource_path in the config library's own GResource, named "resource://PATH".
 * NULL with @error set ("built-in NAME: why", NAME its base name) when it is not there. */
VlgKeyfileIndex *vlg_keyfile_index_new_from_resource(const char *resource_path, int code,
						     GError **error);
VlgKeyfileIndex *vlg_keyfile_index_free(VlgKeyfileIndex *index);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VlgKeyfileIndex, vlg_keyfile_index_free)

const char *vlg_keyfile_index_source(const VlgKeyfileIndex *index);
/* The groups and keys that scanned cleanly, values still escaped as in the file: read them with
 * g_key_file_get_string() and friends. Of a repeated group or key only the first is kept. */
GKeyFile *vlg_keyfile_index_keyfile(const VlgKeyfileIndex *index);

/* Group names in file order, each once; NULL-terminated. */
const char *const *vlg_keyfile_index_groups(const VlgKeyfileIndex *index);
/* Key names of @group in file order, each once; NULL-terminated; NULL when there is no such
 * group. */
const char *const *vlg_keyfile_index_keys(const VlgKeyfileIndex *index, const char *group);
/* 1-based line of the group's header or of the key; 0 when absent. */
guint vlg_keyfile_index_group_line(const VlgKeyfileIndex *index, const char *group);
guint vlg_keyfile_index_key_line(const VlgKeyfileIndex *index, const char *group, const char *key);

/* Records "SOURCE:LINE: [group] key: message (got 'value')". LINE is the key's line, or the group's
 * when @key is NULL or absent; it is left out when neither is known. @group, @key and @value may be
 * NULL. @value is shown with control characters escaped and long values cut short: never pass a
 * secret as @value. */
void vlg_keyfile_index_error(VlgKeyfileIndex *index, const char *group, const char *key,
			     const char *value, const char *format, ...) G_GNUC_PRINTF(5, 6);
/* As above for a line the caller has found itself. */
void vlg_keyfile_index_error_at(VlgKeyfileIndex *index, guint line, const char *format, ...)
	G_GNUC_PRINTF(3, 4);
guint vlg_keyfile_index_n_errors(const VlgKeyfileIndex *index);

/* Typed reads of a key that the index lists (@key must be present). Each returns TRUE and writes
 * its out-param, or returns FALSE with the error recorded through vlg_keyfile_index_error(). */

/* The value unescaped, newly allocated; "invalid escape sequence (write \\ for a backslash)"
 * otherwise. The value is not shown in that error: it may be a secret. */
gboolean vlg_keyfile_index_get_string(VlgKeyfileIndex *index, const char *group, const char *key,
				      char **value);
/* A ;-separated list, each item unescaped but not trimmed; newly allocated, NULL-terminated. */
gboolean vlg_keyfile_index_get_string_list(VlgKeyfileIndex *index, const char *group,
					   const char *key, char ***items);
/* true or false (GKeyFile's spellings); "must be true or false" otherwise. */
gboolean vlg_keyfile_index_get_boolean(VlgKeyfileIndex *index, const char *group, const char *key,
				       gboolean *flag);
/* A decimal whole number from @min to @max; "must be a whole number from MIN to MAX" otherwise. */
gboolean vlg_keyfile_index_get_uint(VlgKeyfileIndex *index, const char *group, const char *key,
				    guint min, guint max, guint *number);
/* One of the NULL-terminated @names, its position in @choice; "must be A, B or C" otherwise. */
gboolean vlg_keyfile_index_get_choice(VlgKeyfileIndex *index, const char *group, const char *key,
				      const char *const *names, guint *choice);

/* TRUE when @name, the NAME of a "[kind NAME]" @group, is 1 to @max of A-Z a-z 0-9 _ -; otherwise
 * FALSE with "WHAT is 1-MAX of A-Z a-z 0-9 _ -" recorded against the group, the name shown. */
gboolean vlg_keyfile_index_check_name(VlgKeyfileIndex *index, const char *group, const char *what,
				      const char *name, guint max);

/* TRUE when no error was recorded; otherwise FALSE with @error set in the VLG_ERROR domain with
 * @code, its message every recorded error sorted by line, one per line. */
gboolean vlg_keyfile_index_check(const VlgKeyfileIndex *index, int code, GError **error);

G_END_DECLS

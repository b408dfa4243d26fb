/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Key-file scanner with line numbers. The text is split into lines here and each well-formed
 * key=value goes into the GKeyFile with g_key_file_set_value(), so the GKeyFile and the index can
 * never disagree about which groups and keys exist (parsing twice, once here and once in
 * g_key_file_load_from_data(), could). The rules are GKeyFile's, with two deliberate differences:
 * `;` also starts a comment, and trailing whitespace of a value is dropped (a stray space after
 * "tcp" should not make it invalid; write \s for a real trailing space).
 */
#include "config/keyfile-index.h"

#include <gio/gio.h>
#include <stdarg.h>
#include <string.h>

#include "config/config-resources.h"
#include "config/vlg-error.h"

/* Past this many, the message would only bury the first errors; the count is still given. */
#define VLG_KEYFILE_MAX_REPORTED 100
/* Values shown in messages are cut to this many characters. */
#define VLG_KEYFILE_MAX_SHOWN 60

typedef struct {
	char *name;
	guint line;
	GPtrArray *keys; /* of char*, owned, NULL-terminated, file order */
} VlgIndexGroup;

typedef struct {
	guint line; /* 0: no line */
	guint seq;  /* keeps errors on one line in the order found */
	char *text;
} VlgIndexError;

struct _VlgKeyfileIndex {
	char *source;
	GKeyFile *keyfile;
	GPtrArray *groups;      /* of VlgIndexGroup*, owned, file order */
	GPtrArray *group_names; /* of char* borrowed from groups, NULL-terminated */
	GHashTable *group_table; /* name -> VlgIndexGroup*, borrowed */
	GHashTable *key_lines;   /* "group\nkey" (owned) -> line; '\n' is in neither name */
	GPtrArray *errors;       /* of VlgIndexError*, owned, in the order found */
};

/* State while scanning: which group the next key=value lines belong to. */
typedef struct {
	VlgKeyfileIndex *index;
	VlgIndexGroup *group; /* NULL before the first header */
	gboolean skipping;    /* after a repeated or broken header: its keys are not filed */
	guint line;
} VlgScan;

static void
index_group_free(gpointer data)
{
	VlgIndexGroup *group = data;

	g_free(group->name);
	g_ptr_array_unref(group->keys);
	g_free(group);
}

static void
index_error_free(gpointer data)
{
	VlgIndexError *error = data;

	g_free(error->text);
	g_free(error);
}

static char *
key_path(const char *group, const char *key)
{
	return g_strconcat(group, "\n", key, NULL);
}

/* A value as shown in a message: control characters escaped, cut short when long. */
static void
append_shown_value(GString *out, const char *value)
{
	const char *p = value;
	guint shown = 0;

	for (; *p != '\0' && shown < VLG_KEYFILE_MAX_SHOWN; shown++) {
		const char *next = g_utf8_find_next_char(p, NULL);
		gsize len = next ? (gsize)(next - p) : strlen(p);

		if ((guchar)*p < 0x20 || *p == 0x7f)
			g_string_append_printf(out, "\\x%02x", (guchar)*p);
		else if (g_utf8_validate_len(p, len, NULL))
			g_string_append_len(out, p, len);
		else
			g_string_append_printf(out, "\\x%02x", (guchar)*p);
		p += len;
	}
	if (*p != '\0')
		g_string_append(out, "...");
}

static void
index_add_error(VlgKeyfileIndex *index, guint line, const char *group, const char *key,
		const char *value, const char *message)
{
	GString *text = g_string_new(index->source);
	VlgIndexError *error = g_new0(VlgIndexError, 1);

	if (line > 0)
		g_string_append_printf(text, ":%u", line);
	g_string_append(text, ": ");
	if (group != NULL)
		g_string_append_printf(text, "[%s]%s", group, key != NULL ? " " : "");
	if (key != NULL)
		g_string_append(text, key);
	if (group != NULL || key != NULL)
		g_string_append(text, ": ");
	g_string_append(text, message);
	if (value != NULL) {
		g_string_append(text, " (got '");
		append_shown_value(text, value);
		g_string_append(text, "')");
	}
	error->line = line;
	error->seq = index->errors->len;
	error->text = g_string_free(text, FALSE);
	g_ptr_array_add(index->errors, error);
}

static void
scan_error(VlgScan *scan, const char *message)
{
	index_add_error(scan->index, scan->line, NULL, NULL, NULL, message);
}

static gboolean
group_name_is_valid(const char *name)
{
	if (*name == '\0')
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '[' || *p == ']' || g_ascii_iscntrl(*p))
			return FALSE;
	}
	return TRUE;
}

/* GKeyFile's rule (no '=', '[' or ']'; '[' would start a locale suffix, which we do not take), and
 * no control characters, which would break the one-error-per-line messages. */
static gboolean
key_name_is_valid(const char *name)
{
	if (*name == '\0')
		return FALSE;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '[' || *p == ']' || *p == '=' || g_ascii_iscntrl(*p))
			return FALSE;
	}
	return TRUE;
}

static void
scan_group(VlgScan *scan, const char *text)
{
	VlgKeyfileIndex *index = scan->index;
	const char *close = strchr(text, ']');
	g_autofree char *name = NULL;
	VlgIndexGroup *group;

	/* Until the next good header, keys belong to no group: filing them under the previous one
	 * would add a misleading "unknown key" error to the real one. */
	scan->group = NULL;
	scan->skipping = TRUE;
	if (close == NULL) {
		scan_error(scan, "group header has no closing ']'");
		return;
	}
	for (const char *p = close + 1; *p != '\0'; p++) {
		if (*p != ' ' && *p != '\t') {
			scan_error(scan, "text after the ']' of a group header");
			return;
		}
	}
	name = g_strndup(text + 1, close - text - 1);
	if (!group_name_is_valid(name)) {
		scan_error(scan, "group name is empty or holds '[' or a control character");
		return;
	}
	group = g_hash_table_lookup(index->group_table, name);
	if (group != NULL) {
		g_autofree char *message =
			g_strdup_printf("repeated group (first at line %u)", group->line);

		index_add_error(index, scan->line, name, NULL, NULL, message);
		return;
	}
	group = g_new0(VlgIndexGroup, 1);
	group->name = g_steal_pointer(&name);
	group->line = scan->line;
	group->keys = g_ptr_array_new_null_terminated(4, g_free, TRUE);
	g_ptr_array_add(index->groups, group);
	g_ptr_array_add(index->group_names, group->name);
	g_hash_table_insert(index->group_table, group->name, group);
	scan->group = group;
	scan->skipping = FALSE;
}

static void
scan_key_value(VlgScan *scan, const char *text, const char *equals)
{
	VlgKeyfileIndex *index = scan->index;
	g_autofree char *key = g_strstrip(g_strndup(text, equals - text));
	g_autofree char *value = g_strstrip(g_strdup(equals + 1));
	g_autofree char *path = NULL;
	gpointer first;

	if (!key_name_is_valid(key)) {
		scan_error(scan, "key name is empty or holds '[', ']' or a control character");
		return;
	}
	if (scan->skipping)
		return;
	if (scan->group == NULL) {
		scan_error(scan, "key=value line before the first [group] header");
		return;
	}
	path = key_path(scan->group->name, key);
	first = g_hash_table_lookup(index->key_lines, path);
	if (first != NULL) {
		g_autofree char *message = g_strdup_printf("repeated key (first at line %u)",
							   GPOINTER_TO_UINT(first));

		index_add_error(index, scan->line, scan->group->name, key, NULL, message);
		return;
	}
	g_key_file_set_value(index->keyfile, scan->group->name, key, value);
	g_hash_table_insert(index->key_lines, g_steal_pointer(&path), GUINT_TO_POINTER(scan->line));
	g_ptr_array_add(scan->group->keys, g_steal_pointer(&key));
}

static void
scan_line(VlgScan *scan, const char *line, gsize length)
{
	g_autofree char *text = NULL;
	const char *start;
	const char *equals;

	if (length > 0 && line[length - 1] == '\r')
		length--;
	/* A NUL byte also fails here: g_utf8_validate_len() rejects it. */
	if (!g_utf8_validate_len(line, length, NULL)) {
		scan_error(scan, "line is not valid UTF-8 text");
		return;
	}
	text = g_strndup(line, length);
	start = text;
	while (g_ascii_isspace(*start))
		start++;
	if (*start == '\0' || *start == '#' || *start == ';')
		return;
	if (*start == '[') {
		scan_group(scan, start);
		return;
	}
	equals = strchr(start, '=');
	if (equals == NULL) {
		scan_error(scan, "line is not blank, a comment, a [group] header or key=value");
		return;
	}
	scan_key_value(scan, start, equals);
}

VlgKeyfileIndex *
vlg_keyfile_index_new(const char *data, gsize length, const char *source_name)
{
	VlgKeyfileIndex *index = g_new0(VlgKeyfileIndex, 1);
	VlgScan scan = { .index = index };
	const char *end;

	g_return_val_if_fail(data != NULL || length == 0, NULL);

	index->source = g_strdup(source_name != NULL ? source_name : "(config)");
	index->keyfile = g_key_file_new();
	index->groups = g_ptr_array_new_with_free_func(index_group_free);
	index->group_names = g_ptr_array_new_null_terminated(8, NULL, TRUE);
	index->group_table = g_hash_table_new(g_str_hash, g_str_equal);
	index->key_lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	index->errors = g_ptr_array_new_with_free_func(index_error_free);

	if (data == NULL)
		return index;
	if (length == (gsize)-1)
		length = strlen(data);
	end = data + length;
	/* A byte-order mark is not part of the first line's text. */
	if (length >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		data += 3;
	while (data < end) {
		const char *newline = memchr(data, '\n', end - data);
		const char *line_end = newline != NULL ? newline : end;

		scan.line++;
		scan_line(&scan, data, line_end - data);
		data = line_end + 1;
	}
	return index;
}

VlgKeyfileIndex *
vlg_keyfile_index_new_from_file(const char *path, int code, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *data = NULL;
	gsize length = 0;

	if (!g_file_get_contents(path, &data, &length, &local)) {
		g_set_error(error, VLG_ERROR, code, "%s: cannot read: %s", path, local->message);
		return NULL;
	}
	return vlg_keyfile_index_new(data, length, path);
}

VlgKeyfileIndex *
vlg_keyfile_index_new_from_resource(const char *resource_path, int code, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) bytes = NULL;
	g_autofree char *name = NULL;
	g_autofree char *base = NULL;
	gsize length = 0;
	const char *data;

	/* Through our own GResource: naming it links its object file out of the static library,
	 * which a lookup by path alone would not. */
	bytes = g_resource_lookup_data(vlg_config_get_resource(), resource_path,
				       G_RESOURCE_LOOKUP_FLAGS_NONE, &local);
	if (bytes == NULL) {
		base = g_path_get_basename(resource_path);
		g_set_error(error, VLG_ERROR, code, "built-in %s: %s", base, local->message);
		return NULL;
	}
	data = g_bytes_get_data(bytes, &length);
	name = g_strconcat("resource://", resource_path, NULL);
	return vlg_keyfile_index_new(data, length, name);
}

VlgKeyfileIndex *
vlg_keyfile_index_free(VlgKeyfileIndex *index)
{
	if (index == NULL)
		return NULL;
	g_free(index->source);
	g_key_file_unref(index->keyfile);
	g_hash_table_unref(index->group_table);
	g_hash_table_unref(index->key_lines);
	g_ptr_array_unref(index->group_names);
	g_ptr_array_unref(index->groups);
	g_ptr_array_unref(index->errors);
	g_free(index);
	return NULL;
}

const char *
vlg_keyfile_index_source(const VlgKeyfileIndex *index)
{
	return index->source;
}

GKeyFile *
vlg_keyfile_index_keyfile(const VlgKeyfileIndex *index)
{
	return index->keyfile;
}

/* A null-terminated GPtrArray may still have no pdata at all while empty. */
static const char *const *
as_strv(const GPtrArray *array)
{
	static const char *const empty[] = { NULL };

	return array->pdata != NULL ? (const char *const *)array->pdata : empty;
}

const char *const *
vlg_keyfile_index_groups(const VlgKeyfileIndex *index)
{
	return as_strv(index->group_names);
}

const char *const *
vlg_keyfile_index_keys(const VlgKeyfileIndex *index, const char *group)
{
	const VlgIndexGroup *found = g_hash_table_lookup(index->group_table, group);

	return found != NULL ? as_strv(found->keys) : NULL;
}

guint
vlg_keyfile_index_group_line(const VlgKeyfileIndex *index, const char *group)
{
	const VlgIndexGroup *found;

	if (group == NULL)
		return 0;
	found = g_hash_table_lookup(index->group_table, group);
	return found != NULL ? found->line : 0;
}

guint
vlg_keyfile_index_key_line(const VlgKeyfileIndex *index, const char *group, const char *key)
{
	g_autofree char *path = NULL;

	if (group == NULL || key == NULL)
		return 0;
	path = key_path(group, key);
	return GPOINTER_TO_UINT(g_hash_table_lookup(index->key_lines, path));
}

void
vlg_keyfile_index_error(VlgKeyfileIndex *index, const char *group, const char *key,
			const char *value, const char *format, ...)
{
	g_autofree char *message = NULL;
	guint line = vlg_keyfile_index_key_line(index, group, key);
	va_list args;

	if (line == 0)
		line = vlg_keyfile_index_group_line(index, group);
	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	index_add_error(index, line, group, key, value, message);
}

void
vlg_keyfile_index_error_at(VlgKeyfileIndex *index, guint line, const char *format, ...)
{
	g_autofree char *message = NULL;
	va_list args;

	va_start(args, format);
	message = g_strdup_vprintf(format, args);
	va_end(args);
	index_add_error(index, line, NULL, NULL, NULL, message);
}

guint
vlg_keyfile_index_n_errors(const VlgKeyfileIndex *index)
{
	return index->errors->len;
}

static void
report_bad_escape(VlgKeyfileIndex *index, const char *group, const char *key)
{
	vlg_keyfile_index_error(index, group, key, NULL,
				"invalid escape sequence (write \\\\ for a backslash)");
}

gboolean
vlg_keyfile_index_get_string(VlgKeyfileIndex *index, const char *group, const char *key,
			     char **value)
{
	g_autoptr(GError) error = NULL;
	/* On a bad escape GKeyFile returns a string and an error both. */
	g_autofree char *text = g_key_file_get_string(index->keyfile, group, key, &error);

	if (error != NULL) {
		report_bad_escape(index, group, key);
		return FALSE;
	}
	*value = g_steal_pointer(&text);
	return TRUE;
}

gboolean
vlg_keyfile_index_check_name(VlgKeyfileIndex *index, const char *group, const char *what,
			     const char *name, guint max)
{
	gsize len = strlen(name);
	gboolean valid = len > 0 && len <= max;

	for (const char *p = name; valid && *p != '\0'; p++)
		valid = g_ascii_isalnum(*p) || *p == '-' || *p == '_';
	if (!valid)
		vlg_keyfile_index_error(index, group, NULL, name,
					"%s is 1-%u of A-Z a-z 0-9 _ -", what, max);
	return valid;
}

gboolean
vlg_keyfile_index_get_string_list(VlgKeyfileIndex *index, const char *group, const char *key,
				  char ***items)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) list = g_key_file_get_string_list(index->keyfile, group, key, NULL, &error);

	if (error != NULL) {
		report_bad_escape(index, group, key);
		return FALSE;
	}
	*items = g_steal_pointer(&list);
	return TRUE;
}

gboolean
vlg_keyfile_index_get_boolean(VlgKeyfileIndex *index, const char *group, const char *key,
			      gboolean *flag)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *value = NULL;
	gboolean parsed = g_key_file_get_boolean(index->keyfile, group, key, &error);

	if (error == NULL) {
		*flag = parsed;
		return TRUE;
	}
	if (vlg_keyfile_index_get_string(index, group, key, &value))
		vlg_keyfile_index_error(index, group, key, value, "must be true or false");
	return FALSE;
}

gboolean
vlg_keyfile_index_get_uint(VlgKeyfileIndex *index, const char *group, const char *key, guint min,
			   guint max, guint *number)
{
	g_autofree char *value = NULL;
	guint64 parsed;

	if (!vlg_keyfile_index_get_string(index, group, key, &value))
		return FALSE;
	if (!g_ascii_string_to_unsigned(value, 10, min, max, &parsed, NULL)) {
		vlg_keyfile_index_error(index, group, key, value,
					"must be a whole number from %u to %u", min, max);
		return FALSE;
	}
	*number = (guint)parsed;
	return TRUE;
}

gboolean
vlg_keyfile_index_get_choice(VlgKeyfileIndex *index, const char *group, const char *key,
			     const char *const *names, guint *choice)
{
	g_autofree char *value = NULL;
	g_autoptr(GString) expected = NULL;
	guint n = 0;

	if (!vlg_keyfile_index_get_string(index, group, key, &value))
		return FALSE;
	for (; names[n] != NULL; n++) {
		if (g_str_equal(value, names[n])) {
			*choice = n;
			return TRUE;
		}
	}
	/* "must be a, b or c" */
	expected = g_string_new(NULL);
	for (guint i = 0; i < n; i++)
		g_string_append_printf(expected, "%s%s", i == 0 ? "" : (i + 1 < n ? ", " : " or "),
				       names[i]);
	vlg_keyfile_index_error(index, group, key, value, "must be %s", expected->str);
	return FALSE;
}

/* By line, errors without a line last, then in the order found. */
static int
compare_errors(gconstpointer a, gconstpointer b)
{
	const VlgIndexError *ea = *(const VlgIndexError *const *)a;
	const VlgIndexError *eb = *(const VlgIndexError *const *)b;
	guint la = ea->line > 0 ? ea->line : G_MAXUINT;
	guint lb = eb->line > 0 ? eb->line : G_MAXUINT;

	if (la != lb)
		return la < lb ? -1 : 1;
	return ea->seq < eb->seq ? -1 : (ea->seq > eb->seq ? 1 : 0);
}

gboolean
vlg_keyfile_index_check(const VlgKeyfileIndex *index, int code, GError **error)
{
	g_autoptr(GPtrArray) sorted = NULL;
	g_autoptr(GString) text = NULL;
	guint shown;

	if (index->errors->len == 0)
		return TRUE;
	/* A shallow copy by hand: g_ptr_array_copy() would take over the free function too. */
	sorted = g_ptr_array_sized_new(index->errors->len);
	for (guint i = 0; i < index->errors->len; i++)
		g_ptr_array_add(sorted, g_ptr_array_index(index->errors, i));
	g_ptr_array_sort(sorted, compare_errors);
	shown = MIN(sorted->len, VLG_KEYFILE_MAX_REPORTED);
	text = g_string_new(NULL);
	for (guint i = 0; i < shown; i++) {
		const VlgIndexError *e = g_ptr_array_index(sorted, i);

		g_string_append_printf(text, "%s%s", i > 0 ? "\n" : "", e->text);
	}
	if (sorted->len > shown)
		g_string_append_printf(text, "\n%s: %u more errors not shown", index->source,
				       sorted->len - shown);
	g_set_error_literal(error, VLG_ERROR, code, text->str);
	return FALSE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gateway/token-command.h"

#include <stdio.h>
#include <string.h>

#define EXIT_USAGE 2
#define MAX_TTL_SECONDS (366u * 24 * 3600)
#define DEMO_TTL_SECONDS (8u * 3600)

gboolean
vlg_parse_duration(const char *text, guint *seconds)
{
	static const struct {
		char unit;
		guint factor;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	g_autofree char *digits = NULL;
	guint factor = 1;
	guint64 value;
	gsize length;

	if (!text || !*text)
		return FALSE;
	length = strlen(text);
	for (guint i = 0; i < G_N_ELEMENTS(units); i++)
		if (text[length - 1] == units[i].unit) {
			factor = units[i].factor;
			length--;
			break;
		}
	digits = g_strndup(text, length);
	if (!g_ascii_string_to_unsigned(digits, 10, 1, MAX_TTL_SECONDS, &value, NULL) ||
	    value * factor > MAX_TTL_SECONDS)
		return FALSE;
	*seconds = (guint)(value * factor);
	return TRUE;
}

typedef struct {
	char *config_path;
	char *org;
	char *role;
	char *ttl;
	char *name;
} TokenOptions;

static void
token_options_clear(TokenOptions *options)
{
	g_free(options->config_path);
	g_free(options->org);
	g_free(options->role);
	g_free(options->ttl);
	g_free(options->name);
}

static gboolean
parse_token_options(int *argc, char ***argv, TokenOptions *options, GError **error)
{
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &options->config_path,
		  "gateway.conf whose [auth] secret signs (default: the built-in one)", "FILE" },
		{ "org", 0, 0, G_OPTION_ARG_STRING, &options->org,
		  "12-digit division code of the screen's node (required)", "CODE" },
		{ "role", 0, 0, G_OPTION_ARG_STRING, &options->role,
		  "viewer, operator or admin (default viewer)", "ROLE" },
		{ "ttl", 0, 0, G_OPTION_ARG_STRING, &options->ttl,
		  "lifetime: 90s, 30m, 8h, 2d (default 8h, at most 366d)", "DURATION" },
		{ "name", 0, 0, G_OPTION_ARG_STRING, &options->name,
		  "display name shown in logs and the audit trail (default: installer)", "NAME" },
		{ NULL },
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- mint a token");

	g_option_context_set_summary(context,
				     "Prints an HS256 token for one screen, signed with the secret "
				     "of gateway.conf's [auth] section.");
	g_option_context_add_main_entries(context, entries, NULL);
	return g_option_context_parse(context, argc, argv, error);
}

static int
usage_error(const char *message)
{
	g_printerr("linkage-gateway token: %s (see token --help)\n", message);
	return EXIT_USAGE;
}

int
vlg_token_command(int argc, char **argv)
{
	TokenOptions options = { NULL };
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgGatewayConfig) config = NULL;
	g_autoptr(VlgAuth) auth = NULL;
	g_autofree char *token = NULL;
	VlgRole role = VLG_ROLE_VIEWER;
	guint ttl = DEMO_TTL_SECONDS;
	int status = 0;

	if (!parse_token_options(&argc, &argv, &options, &error))
		status = usage_error(error->message);
	else if (argc > 1)
		status = usage_error("unexpected argument");
	else if (!options.org)
		status = usage_error("--org CODE is required");
	else if (options.role && !vlg_role_from_string(options.role, &role))
		status = usage_error("--role must be viewer, operator or admin");
	else if (options.ttl && !vlg_parse_duration(options.ttl, &ttl))
		status = usage_error("--ttl must be a duration like 90s, 30m, 8h or 2d, at most 366d");
	if (status != 0) {
		token_options_clear(&options);
		return status;
	}
	config = options.config_path ? vlg_gateway_config_load_file(options.config_path, &error) :
				       vlg_gateway_config_load_default(&error);
	if (config)
		auth = vlg_auth_new(config, TRUE, &error);
	if (auth)
		token = vlg_auth_mint(auth, options.org, role,
				      options.name ? options.name : "installer", ttl,
				      g_get_real_time() / G_USEC_PER_SEC, &error);
	if (!token) {
		g_printerr("linkage-gateway token: %s\n", error->message);
		status = EXIT_USAGE;
	} else {
		printf("%s\n", token);
	}
	token_options_clear(&options);
	return status;
}

/* The first node of @level with a camera in its subtree, else the first of that level. */
static const VlgOrgNode *
demo_node(VlgApp *app, VlgOrgLevel level)
{
	GPtrArray *nodes = vlg_catalogue_nodes(app->catalogue);
	GPtrArray *cameras = vlg_catalogue_cameras(app->catalogue);
	const VlgOrgNode *first = NULL;

	for (guint i = 0; i < nodes->len; i++) {
		const VlgOrgNode *node = nodes->pdata[i];

		if (node->level != level)
			continue;
		if (!first)
			first = node;
		for (guint c = 0; c < cameras->len; c++)
			if (vlg_org_node_is_within(((VlgCameraInfo *)cameras->pdata[c])->org, node))
				return node;
	}
	return first;
}

void
vlg_print_demo_links(VlgApp *app)
{
	const char *host = app->config->listen_address;
	gboolean v6 = strchr(host, ':') != NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	printf("  demo screens, one per level (operator tokens valid 8 h; the token is in the "
	       "#fragment, which browsers do not send):\n");
	for (VlgOrgLevel level = VLG_ORG_LEVEL_CITY; level <= VLG_ORG_LEVEL_COMMUNITY; level++) {
		const VlgOrgNode *node = demo_node(app, level);
		g_autoptr(GError) error = NULL;
		g_autofree char *token = NULL;
		g_autofree char *name = NULL;

		if (!node)
			continue;
		name = g_strdup_printf("demo %s screen", vlg_org_level_to_string(level));
		token = vlg_auth_mint(app->auth, node->code, VLG_ROLE_OPERATOR, name,
				      DEMO_TTL_SECONDS, now, &error);
		if (!token) {
			printf("    (no demo links: %s)\n", error->message);
			break;
		}
		printf("    %-9s %s (%s):\n      %s://%s%s%s:%u/#token=%s\n",
		       vlg_org_level_to_string(level), node->name, node->code,
		       app->config->tls_certificate ? "https" : "http", v6 ? "[" : "", host,
		       v6 ? "]" : "", vlg_http_server_get_port(app->server), token);
	}
	fflush(stdout);
}

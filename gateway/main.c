/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linkage-gateway: options, config loading, signals, systemd notification, the main loop.
 */
#define G_LOG_DOMAIN "linkage-gateway"

#include <glib-unix.h>
#include <gst/gst.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "gateway/app.h"
#include "gateway/tls-context.h"
#include "gateway/token-command.h"
#include "vlg-build.h"

#define EXIT_CONFIG 2

typedef struct {
	char *config_path;
	char *catalogue_path;
	gboolean check_config;
	gboolean version;
	int port; /* -1: as configured */
} Options;

static gboolean
parse_options(int *argc, char ***argv, Options *options, GError **error)
{
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &options->config_path,
		  "gateway.conf to use (default: the built-in demo config)", "FILE" },
		{ "catalogue", 0, 0, G_OPTION_ARG_FILENAME, &options->catalogue_path,
		  "camera catalogue (default: gateway.conf's, else the built-in demo)", "FILE" },
		{ "check-config", 0, 0, G_OPTION_ARG_NONE, &options->check_config,
		  "validate the config and the catalogue, print every error, exit 0 or 2", NULL },
		{ "port", 0, 0, G_OPTION_ARG_INT, &options->port,
		  "listen on this port instead of the configured one (0: any free port)", "PORT" },
		{ "version", 0, 0, G_OPTION_ARG_NONE, &options->version, "print the version", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- edge video gateway");

	g_option_context_set_summary(context,
				     "Pulls RTSP cameras on demand and serves them to command-centre "
				     "screens.\nWith no options it runs the demo on built-in config.");
	g_option_context_add_main_entries(context, entries, NULL);
	return g_option_context_parse(context, argc, argv, error);
}

/* A relative catalogue path in gateway.conf is relative to gateway.conf's folder. */
static char *
resolve_catalogue_path(const Options *options, const VlgGatewayConfig *config)
{
	g_autofree char *dir = NULL;

	if (options->catalogue_path)
		return g_strdup(options->catalogue_path);
	if (!config->catalogue_path)
		return NULL;
	if (g_path_is_absolute(config->catalogue_path) || !options->config_path)
		return g_strdup(config->catalogue_path);
	dir = g_path_get_dirname(options->config_path);
	return g_build_filename(dir, config->catalogue_path, NULL);
}

/* What --check-config proves beyond the two files' syntax: the token keys and the TLS pair
 * load. Nothing is written (a missing default secret is made on the first start). */
static gboolean
check_secrets(const VlgGatewayConfig *config, GError **error)
{
	g_autoptr(VlgAuth) auth = vlg_auth_new(config, FALSE, error);

	if (!auth)
		return FALSE;
	if (config->tls_certificate &&
	    !vlg_tls_check_pair(config->tls_certificate, config->tls_private_key, error))
		return FALSE;
	return TRUE;
}

static gboolean
load_configuration(const Options *options, VlgGatewayConfig **config_out,
		   VlgCatalogue **catalogue_out, char **catalogue_name, GError **error)
{
	g_autoptr(VlgGatewayConfig) config = NULL;
	g_autofree char *catalogue_path = NULL;
	VlgCatalogue *catalogue;

	config = options->config_path ? vlg_gateway_config_load_file(options->config_path, error) :
					vlg_gateway_config_load_default(error);
	if (!config)
		return FALSE;
	catalogue_path = resolve_catalogue_path(options, config);
	catalogue = catalogue_path ?
			    vlg_catalogue_load_file(catalogue_path, config->default_transport, error) :
			    vlg_catalogue_load_default(config->default_transport, error);
	if (!catalogue)
		return FALSE;
	*catalogue_name = catalogue_path ? g_steal_pointer(&catalogue_path) :
					   g_strdup("built-in demo catalogue");
	*config_out = g_steal_pointer(&config);
	*catalogue_out = catalogue;
	return TRUE;
}

typedef struct {
	VlgApp *app;
} ReloadContext;

/* SIGHUP: a renewed TLS certificate is installed for new connections; open sessions carry on.
 * A pair that does not load leaves the old one in place. (Config reload comes with the service
 * work.) */
static gboolean
on_reload_signal(gpointer data)
{
	ReloadContext *reload = data;
	VlgGatewayConfig *config = reload->app->config;
	g_autoptr(GError) error = NULL;
	g_autofree char *described = NULL;

	if (!config->tls_certificate) {
		g_message("SIGHUP: nothing to reload (no TLS certificate configured)");
		return G_SOURCE_CONTINUE;
	}
	if (!vlg_http_server_reload_tls(reload->app->server, config->tls_certificate,
					config->tls_private_key, &error)) {
		g_warning("SIGHUP: kept the current TLS certificate: %s", error->message);
		return G_SOURCE_CONTINUE;
	}
	described = vlg_tls_describe(config->tls_certificate);
	g_message("SIGHUP: TLS certificate reloaded (%s)", described ? described : "?");
	return G_SOURCE_CONTINUE;
}

static gboolean
on_quit_signal(gpointer data)
{
	GMainLoop *loop = data;

	g_message("stopping");
	sd_notify(0, "STOPPING=1");
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

static void
print_banner(VlgApp *app, const char *catalogue_name)
{
	guint16 port = vlg_http_server_get_port(app->server);
	const char *host = app->config->listen_address;
	gboolean v6 = strchr(host, ':') != NULL;
	g_autofree char *base = g_strdup_printf("%s://%s%s%s:%u/",
						app->config->tls_certificate ? "https" : "http",
						v6 ? "[" : "", host, v6 ? "]" : "", port);

	/* One line a test or the demo script can parse, then what a person should open. */
	printf("linkage-gateway %s listening on %s (%u cameras from %s)\n", VLG_VERSION, base,
	       app->camera_list->len, catalogue_name);
	printf("  operator wall:           %s (asks for a token)\n", base);
	printf("  cameras and their state: %sapi/v1/cameras (Authorization: Bearer TOKEN)\n", base);
	printf("  metrics:                 %smetrics\n", base);
	fflush(stdout);
}

static int
run(const Options *options, VlgGatewayConfig *config, VlgCatalogue *catalogue,
    const char *catalogue_name)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GError) error = NULL;
	g_autoptr(VlgApp) app = NULL;
	ReloadContext reload = { NULL };
	guint sigint, sigterm, sighup;
	VlgAuth *auth;

	if (options->port >= 0)
		config->listen_port = (guint16)options->port;
	auth = vlg_auth_new(config, TRUE, &error);
	if (!auth) {
		g_printerr("linkage-gateway: %s\n", error->message);
		vlg_catalogue_free(catalogue);
		vlg_gateway_config_free(config);
		return EXIT_CONFIG;
	}
	app = vlg_app_new(config, catalogue, auth, loop, &error);
	if (!app) {
		g_printerr("linkage-gateway: %s\n", error->message);
		return 1;
	}
	print_banner(app, catalogue_name);
	if (!options->config_path)
		vlg_print_demo_links(app);
	sd_notifyf(0, "READY=1\nSTATUS=serving %u cameras", app->camera_list->len);
	reload.app = app;
	sigint = g_unix_signal_add(SIGINT, on_quit_signal, loop);
	sigterm = g_unix_signal_add(SIGTERM, on_quit_signal, loop);
	sighup = g_unix_signal_add(SIGHUP, on_reload_signal, &reload);
	g_main_loop_run(loop);
	g_source_remove(sigint);
	g_source_remove(sigterm);
	g_source_remove(sighup);
	return 0;
}

int
main(int argc, char **argv)
{
	Options options = { .port = -1 };
	g_autoptr(GError) error = NULL;
	g_autofree char *catalogue_name = NULL;
	VlgGatewayConfig *config = NULL;
	VlgCatalogue *catalogue = NULL;
	int status;

	setlocale(LC_ALL, "");
	/* rtspsrc's proxy lookup would otherwise load libproxy (WPAD lookups, syscalls outside
	 * systemd's @system-service). */
	g_setenv("GIO_USE_PROXY_RESOLVER", "dummy", FALSE);
	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return vlg_token_command(argc - 1, argv + 1);
	gst_init(&argc, &argv);
	if (!parse_options(&argc, &argv, &options, &error)) {
		g_printerr("linkage-gateway: %s (see --help)\n", error->message);
		return EXIT_CONFIG;
	}
	if (options.version) {
		printf("linkage-gateway %s\n", VLG_VERSION);
		return 0;
	}
	if (options.port > 65535) {
		g_printerr("linkage-gateway: --port must be 0..65535\n");
		return EXIT_CONFIG;
	}
	if (!load_configuration(&options, &config, &catalogue, &catalogue_name, &error)) {
		g_printerr("%s\n", error->message);
		if (options.check_config)
			g_printerr("linkage-gateway: configuration has errors\n");
		return EXIT_CONFIG;
	}
	if (options.check_config && !check_secrets(config, &error)) {
		g_printerr("%s\nlinkage-gateway: configuration has errors\n", error->message);
		vlg_catalogue_free(catalogue);
		vlg_gateway_config_free(config);
		return EXIT_CONFIG;
	}
	if (options.check_config) {
		printf("configuration OK: %s, %s: %u cameras on %u org nodes\n",
		       options.config_path ? options.config_path : "built-in gateway.conf",
		       catalogue_name, vlg_catalogue_cameras(catalogue)->len,
		       vlg_catalogue_node_count(catalogue));
		vlg_catalogue_free(catalogue);
		vlg_gateway_config_free(config);
		return 0;
	}
	status = run(&options, config, catalogue, catalogue_name);
	g_free(options.config_path);
	g_free(options.catalogue_path);
	return status;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/http-router.h"

static VlgHttpRouter *router;

static VlgHttpResponse *
echo_params(const VlgHttpRequest *request, const char *const *params, gpointer data)
{
	g_autofree char *joined = g_strjoinv("|", (char **)params);
	g_autofree char *text = g_strdup_printf("%s:%s%s%s", (const char *)data, joined,
						request->principal ? "@" : "",
						request->principal ? request->principal->name : "");

	return vlg_http_response_new_text(200, "text/plain", text);
}

/* Accepts exactly "Bearer good" (and "bearer  good": the scheme is case-insensitive). */
static VlgPrincipal *
authenticate(const char *authorization, const char *peer, gpointer data)
{
	const char *token = vlg_auth_bearer_token(authorization);

	if (g_strcmp0(token, "good") != 0)
		return NULL;
	return vlg_principal_new("330203001000", VLG_ROLE_VIEWER, "ann", G_MAXINT64);
}

static void
setup(void)
{
	router = vlg_http_router_new();
	vlg_http_router_set_authenticator(router, authenticate, NULL);
	vlg_http_router_add_public(router, VLG_HTTP_GET, "/healthz", echo_params, "health");
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/cameras", echo_params, "list");
	vlg_http_router_add(router, VLG_HTTP_GET, "/api/v1/cameras/{id}", echo_params, "get");
	vlg_http_router_add(router, VLG_HTTP_DELETE, "/api/v1/cameras/{id}", echo_params, "del");
	vlg_http_router_add(router, VLG_HTTP_GET, "/a/{x}/b/{y}", echo_params, "two");
}

static void
teardown(void)
{
	router = vlg_http_router_free(router);
}

static const struct {
	VlgHttpMethod method;
	const char *path;
	guint status;
	const char *body; /* for 200; for errors, a fragment of the message */
	const char *authorization; /* NULL: "Bearer good" */
} dispatch_table[] = {
	{ VLG_HTTP_GET, "/healthz", 200, "health:", "" },
	{ VLG_HTTP_GET, "/api/v1/cameras", 200, "list:@ann" },
	{ VLG_HTTP_GET, "/api/v1/cameras", 200, "list:@ann", "bearer   good" },
	{ VLG_HTTP_GET, "/api/v1/cameras/cam-1", 200, "get:cam-1@ann" },
	{ VLG_HTTP_DELETE, "/api/v1/cameras/cam-1", 200, "del:cam-1@ann" },
	{ VLG_HTTP_GET, "/api/v1/cameras/cam%201", 200, "get:cam 1@ann" },
	{ VLG_HTTP_GET, "/a/1/b/2", 200, "two:1|2@ann" },
	{ VLG_HTTP_GET, "/api/v1/cameras", 401, "a valid token is required", "" },
	{ VLG_HTTP_GET, "/api/v1/cameras", 401, "a valid token is required", "Bearer bad" },
	{ VLG_HTTP_GET, "/api/v1/cameras", 401, "a valid token is required", "Basic good" },
	{ VLG_HTTP_GET, "/api/v1/cameras", 401, "a valid token is required", "Bearer " },
	{ VLG_HTTP_GET, "/api/v1/cameras", 401, "a valid token is required", "good" },
	{ VLG_HTTP_DELETE, "/api/v1/cameras/x", 401, "a valid token is required", "Bearer goodx" },
	{ VLG_HTTP_GET, "/api/v1/cameras/", 404, "nothing is served" },
	{ VLG_HTTP_GET, "/api/v1/cameras/a/b", 404, "nothing is served" },
	{ VLG_HTTP_GET, "/nope", 404, "nothing is served" },
	{ VLG_HTTP_GET, "/", 404, "nothing is served" },
	{ VLG_HTTP_POST, "/healthz", 405, "GET" },
	{ VLG_HTTP_PUT, "/api/v1/cameras/x", 405, "GET, DELETE" },
	{ VLG_HTTP_GET, "/api/v1/cameras/a%2Fb", 400, "not valid" },
	{ VLG_HTTP_GET, "/api/v1/cameras/a%00b", 400, "not valid" },
	{ VLG_HTTP_GET, "/api/v1/cameras/%ff%fe", 400, "not valid" },
	{ VLG_HTTP_GET, "/api/v1/cameras/%zz", 400, "not valid" },
	{ VLG_HTTP_GET, "relative", 400, "must start" },
};

START_TEST(test_dispatch)
{
	const char *authorization = dispatch_table[_i].authorization;
	VlgHttpRequest request = { .method = dispatch_table[_i].method,
				   .path = dispatch_table[_i].path,
				   .authorization = !authorization ? "Bearer good" :
						    *authorization ? authorization :
								     NULL };
	g_autoptr(VlgHttpResponse) response = vlg_http_router_dispatch(router, &request);
	gsize size;
	const char *data = g_bytes_get_data(response->body, &size);
	g_autofree char *body = g_strndup(data, size);

	ck_assert_uint_eq(response->status, dispatch_table[_i].status);
	if (response->status == 200)
		ck_assert_str_eq(body, dispatch_table[_i].body);
	else
		ck_assert_msg(strstr(body, dispatch_table[_i].body), "%s lacks %s", body,
			      dispatch_table[_i].body);
}
END_TEST

/* Every refusal is the same 401, byte for byte, with a Bearer challenge. */
START_TEST(test_unauthorized_is_uniform)
{
	const char *attempts[] = { NULL, "Bearer bad", "Basic x", "Bearer", "Bearer good " };
	g_autoptr(VlgHttpResponse) first = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(attempts); i++) {
		VlgHttpRequest request = { .method = VLG_HTTP_GET, .path = "/api/v1/cameras",
					   .authorization = attempts[i] };
		g_autoptr(VlgHttpResponse) response = vlg_http_router_dispatch(router, &request);

		ck_assert_uint_eq(response->status, 401);
		ck_assert_str_eq(response->headers->pdata[0],
				 "WWW-Authenticate: Bearer realm=\"linkage-gateway\"");
		if (!first) {
			first = g_steal_pointer(&response);
			continue;
		}
		ck_assert(g_bytes_equal(response->body, first->body));
	}
}
END_TEST

/* A router nobody gave an authenticator fails closed. */
START_TEST(test_no_authenticator_fails_closed)
{
	g_autoptr(VlgHttpRouter) bare = vlg_http_router_new();
	VlgHttpRequest request = { .method = VLG_HTTP_GET, .path = "/x",
				   .authorization = "Bearer good" };
	g_autoptr(VlgHttpResponse) response = NULL;

	vlg_http_router_add(bare, VLG_HTTP_GET, "/x", echo_params, "x");
	response = vlg_http_router_dispatch(bare, &request);
	ck_assert_uint_eq(response->status, 401);
}
END_TEST

START_TEST(test_error_shape)
{
	g_autoptr(VlgHttpResponse) response = vlg_http_response_new_error(404, "no camera %s", "x");
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *error;

	ck_assert(json_parser_load_from_data(parser, g_bytes_get_data(response->body, NULL),
					     g_bytes_get_size(response->body), NULL));
	error = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					      "error");
	ck_assert_int_eq(json_object_get_int_member(error, "status"), 404);
	ck_assert_str_eq(json_object_get_string_member(error, "reason"), "Not Found");
	ck_assert_str_eq(json_object_get_string_member(error, "message"), "no camera x");
	ck_assert_str_eq(response->content_type, "application/json");
}
END_TEST

START_TEST(test_405_has_allow_header)
{
	VlgHttpRequest request = { .method = VLG_HTTP_POST, .path = "/api/v1/cameras/x",
				   .authorization = "Bearer good" };
	g_autoptr(VlgHttpResponse) response = vlg_http_router_dispatch(router, &request);

	ck_assert_uint_eq(response->headers->len, 1);
	ck_assert_str_eq(response->headers->pdata[0], "Allow: GET, DELETE");
}
END_TEST

static const struct {
	const char *query;
	const char *name;
	const char *value;
} query_table[] = {
	{ "org=330200000000", "org", "330200000000" },
	{ "a=1&org=x%20y&b=2", "org", "x y" },
	{ "a=1&org=x+y", "org", "x y" },
	{ "organisation=1", "org", NULL },
	{ "org", "org", NULL },
	{ NULL, "org", NULL },
	{ "org=", "org", "" },
};

START_TEST(test_query_get)
{
	g_autofree char *value = vlg_http_query_get(query_table[_i].query, query_table[_i].name);

	ck_assert_pstr_eq(value, query_table[_i].value);
}
END_TEST

START_TEST(test_methods_round_trip)
{
	for (VlgHttpMethod m = VLG_HTTP_GET; m < VLG_HTTP_METHOD_UNKNOWN; m++)
		ck_assert_int_eq(vlg_http_method_from_string(vlg_http_method_to_string(m)), m);
	ck_assert_int_eq(vlg_http_method_from_string("BREW"), VLG_HTTP_METHOD_UNKNOWN);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *suite = suite_create("http-router");
	TCase *tc = tcase_create("dispatch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_dispatch, 0, G_N_ELEMENTS(dispatch_table));
	tcase_add_test(tc, test_405_has_allow_header);
	tcase_add_test(tc, test_unauthorized_is_uniform);
	tcase_add_test(tc, test_no_authenticator_fails_closed);
	suite_add_tcase(suite, tc);
	tc = tcase_create("responses");
	tcase_add_test(tc, test_error_shape);
	suite_add_tcase(suite, tc);
	tc = tcase_create("query and methods");
	tcase_add_loop_test(tc, test_query_get, 0, G_N_ELEMENTS(query_table));
	tcase_add_test(tc, test_methods_round_trip);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(router_suite());
	int failed;

	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

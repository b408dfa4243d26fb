/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "loopback-ice.h"

#include <gst/webrtc/webrtc.h>
#include <nice/agent.h>

gboolean
vlg_test_restrict_ice(GstElement *webrtc, const gchar *address)
{
	g_autoptr(GstWebRTCICE) ice = NULL;
	g_autoptr(GObject) agent = NULL;
	NiceAddress nice_address;

	g_object_get(webrtc, "ice-agent", &ice, NULL);
	if (!ice)
		return FALSE;
	/* UDP only: fewer candidates, and a test has no use for ICE-TCP. */
	g_object_set(ice, "ice-tcp", FALSE, NULL);
	g_object_get(ice, "agent", &agent, NULL);
	if (!agent || !NICE_IS_AGENT(agent))
		return FALSE;
	/* Debian's libnice multicasts SSDP unless told not to; loopback is ignored unless added. */
	g_object_set(agent, "upnp", FALSE, NULL);
	nice_address_init(&nice_address);
	return nice_address_set_from_string(&nice_address, address) &&
	       nice_agent_add_local_address(NICE_AGENT(agent), &nice_address);
}

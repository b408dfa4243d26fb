#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs a test inside a fresh network namespace that has only loopback, so that WebRTC peers
# (which gather candidates on every interface) cannot reach anything else. Needs root.
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	echo "1..0 # SKIP WebRTC tests need root for a loopback-only network namespace"
	exit 0
fi
exec unshare --net sh -c 'ip link set lo up && exec "$@"' in-netns "$@"

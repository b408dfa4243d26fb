#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's two commands: `demo` installs what is needed, builds and runs the demo (simulated
# cameras + the gateway on its built-in config); `test` installs, builds and runs every test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$here/build"
mode=${1:-}

install_packages() {
	local wanted missing=()
	mapfile -t wanted < <(grep -v -e '^#' -e '^$' "$here/scripts/debian-packages.txt")
	for p in "${wanted[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		if [ "$(id -u)" != 0 ]; then
			echo "quickstart: missing Debian packages: ${missing[*]}; run as root to install them" >&2
			exit 1
		fi
		echo "quickstart: installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
}

build_all() {
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" "$here" -Dwerror=true
	fi
	ninja -C "$build"
}

camsim_pid=""

run_demo() {
	"$build/tests/camsim/linkage-camsim" --address 127.0.0.1 --port 8554 --control-port 8555 \
		--media-dir "$build/tests/media" &
	camsim_pid=$!
	trap 'if [ -n "$camsim_pid" ]; then kill "$camsim_pid" 2>/dev/null; wait "$camsim_pid" 2>/dev/null; fi; true' EXIT
	sleep 0.5
	echo "quickstart: simulated cameras on rtsp://127.0.0.1:8554/ (pid $camsim_pid); Ctrl-C stops the demo"
	GIO_USE_PROXY_RESOLVER=dummy "$build/gateway/linkage-gateway"
}

case "$mode" in
demo)
	install_packages
	build_all
	run_demo
	;;
test)
	install_packages
	build_all
	meson test -C "$build" --print-errorlogs --num-processes 2
	;;
*)
	echo "usage: $0 demo|test" >&2
	exit 2
	;;
esac

# SPDX-License-Identifier: LGPL-2.1-or-later
"""A process's CPU time, RSS and thread count from /proc, for the benchmarks."""

import os

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes city-catalogue.conf: a synthetic but plausible city-sized camera catalogue.

One city (330200000000), six districts, 8-10 streets each, 3-7 communities per street, and 2,864
cameras: a few on each district and street, the rest spread unevenly over the communities. Every
camera points at the camera simulator (rtsp://127.0.0.1:8554/...), cycling through the six recorded
clips. No randomness: the same script always writes the same file, so the output is committed.

Usage: gen-city-catalogue.py [OUTPUT]   (default: city-catalogue.conf next to this script)
"""

import os
import sys

TOTAL_CAMERAS = 2864
CITY = ("330200000000", "Demo City")
# Code digits 5-6, name, id prefix, number of streets.
DISTRICTS = [
    ("03", "Haishu", "hs", 9),
    ("05", "Jiangbei", "jb", 8),
    ("06", "Beilun", "bl", 10),
    ("11", "Zhenhai", "zh", 9),
    ("12", "Yinzhou", "yz", 10),
    ("13", "Fenghua", "fh", 8),
]
CAMERAS_PER_DISTRICT_NODE = 4
CAMERAS_PER_STREET_NODE = 3
CLIPS = [
    "h264-cbp-360p",
    "h264-main-720p",
    "h264-high-bframes-720p",
    "h265-main-720p",
    "h264-pcma-360p",
    "h264-aac-360p",
]
STREET_WORDS = [
    "Gulou", "Baiyun", "Duantang", "Jiangxia", "Nanmen", "Ximen", "Wangchun", "Shiqi", "Yinjiang",
    "Dongliu", "Baihe", "Fuming", "Zhongshan", "Yongjiang", "Xinqi", "Dagang", "Xiaogang",
    "Chaiqiao", "Luotuo", "Jiaochuan", "Zhaobao", "Zhuangqiao", "Hongtang", "Cicheng", "Kongpu",
    "Qianhu", "Meixu", "Chunxiao", "Daqi", "Zhanqi", "Xiepu", "Jiulong", "Shounan", "Zhonghe",
    "Xiaying", "Panhuo", "Jiangshan", "Wuxiang", "Yunlong", "Hengxi", "Dongqian", "Tangxi",
    "Xikou", "Yuelin", "Jinping", "Songao", "Qiucun", "Dayan", "Shangtian", "Xiaowangmiao",
    "Fangqiao", "Lianfeng", "Shanhe", "Longguan", "Zhangshui", "Gaoqiao", "Jishigang", "Wangjiang",
]
COMMUNITY_WORDS = [
    "Xishu", "Dongmen", "Yuehu", "Liuting", "Baiyang", "Qingshi", "Anfeng", "Heyi", "Jinxiu",
    "Lantian", "Meiyuan", "Songlin", "Taoyuan", "Wutong", "Yinxing", "Zhuyuan", "Hehua", "Guihua",
    "Fengqiao", "Shuiyun", "Chenguang", "Xinhe", "Lianhua", "Bailu", "Qinyuan", "Jinqiao",
    "Ruyi", "Huayuan", "Minle", "Kangning", "Yangguang", "Hongxing", "Lvyin", "Tianyi",
    "Fuqiang", "Hexie", "Mingzhu", "Xingfu", "Jiayuan", "Shuguang", "Tongxin", "Yongfeng",
    "Changfeng", "Qingyuan", "Hupan", "Nanyuan", "Beiyuan", "Haiyan",
]
# Once the words run out, names repeat with these, so that every name stays unique.
COMMUNITY_SUFFIXES = ["", " North", " South", " East", " West", " Garden"]
COMMUNITY_SITES = [
    "North Gate", "South Gate", "East Gate", "West Gate", "Main Road", "Car Park", "Playground",
    "Market Entrance", "Bus Stop", "Riverside Path", "School Gate", "Clinic Entrance",
    "Square", "Bicycle Shed", "Kindergarten Gate", "Service Centre", "Back Lane", "Bridge",
    "Garage Ramp", "Waste Station",
]
STREET_SITES = ["Crossroads", "Subdistrict Office", "Metro Exit", "Main Street", "Tunnel Mouth"]
DISTRICT_SITES = ["Government Plaza", "Ring Road Interchange", "Railway Station Square",
                  "Flood Control Gate", "Stadium Gate", "Hospital Entrance"]


def build_tree():
    """Districts, streets and communities, each as (code, name, parent code), in file order."""
    nodes = [(CITY[0], CITY[1], None)]
    street_no = 0
    community_no = 0
    for digits, name, _, n_streets in DISTRICTS:
        district = "3302" + digits + "000000"
        nodes.append((district, name + " District", CITY[0]))
        for s in range(1, n_streets + 1):
            street = district[:6] + "%03d" % s + "000"
            word = STREET_WORDS[street_no % len(STREET_WORDS)]
            nodes.append((street, word + " Street", district))
            # 3 to 7 communities, varied but fixed.
            for c in range(1, 3 + (street_no * 7) % 5 + 1):
                code = street[:9] + "%03d" % c
                word = COMMUNITY_WORDS[community_no % len(COMMUNITY_WORDS)]
                word += COMMUNITY_SUFFIXES[community_no // len(COMMUNITY_WORDS)]
                nodes.append((code, word + " Community", street))
                community_no += 1
            street_no += 1
    return nodes


def community_counts(communities, total):
    """Splits @total cameras over the communities, unevenly but deterministically."""
    weights = [5 + (i * 37) % 11 for i in range(len(communities))]
    whole = sum(weights)
    counts = [total * w // whole for w in weights]
    for i in range(total - sum(counts)):
        counts[(i * 7) % len(counts)] += 1
    return counts


def camera_lines(cam_id, name, org, serial, priority):
    return [
        "[camera %s]" % cam_id,
        "name=%s" % name,
        "org=%s" % org,
        "url=rtsp://127.0.0.1:8554/%s" % CLIPS[serial % len(CLIPS)],
        "priority=%d" % priority,
        "",
    ]


def build_cameras(nodes):
    """(district prefix, camera lines) for every camera; ids are <prefix>-<number in district>."""
    prefix_of = {"3302" + d[0] + "000000": d[2] for d in DISTRICTS}
    name_of = {code: name for code, name, _ in nodes}
    communities = [code for code, _, _ in nodes if not code.endswith("000")]
    fixed = (len(DISTRICTS) * CAMERAS_PER_DISTRICT_NODE +
             sum(1 for c, _, _ in nodes if c.endswith("000") and not c.endswith("000000"))
             * CAMERAS_PER_STREET_NODE)
    per_community = dict(zip(communities, community_counts(communities, TOTAL_CAMERAS - fixed)))
    numbers = {}
    lines = []
    serial = 0
    for code, name, _ in nodes:
        if code == CITY[0]:
            continue
        district = code[:6] + "000000"
        if code == district:
            count, sites, base, spread = CAMERAS_PER_DISTRICT_NODE, DISTRICT_SITES, 80, 16
        elif code.endswith("000"):
            count, sites, base, spread = CAMERAS_PER_STREET_NODE, STREET_SITES, 55, 26
        else:
            count, sites, base, spread = per_community[code], COMMUNITY_SITES, 10, 61
        short = name.rsplit(" ", 1)[0]  # without "District", "Street" or "Community"
        for k in range(count):
            numbers[district] = numbers.get(district, 0) + 1
            cam_id = "%s-%04d" % (prefix_of[district], numbers[district])
            site = sites[k % len(sites)]
            if k >= len(sites):
                site += " %d" % (k // len(sites) + 1)
            priority = base + (serial * 13) % spread
            lines += camera_lines(cam_id, "%s %s" % (short, site), code, serial, priority)
            serial += 1
    assert serial == TOTAL_CAMERAS, serial
    return lines


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    output = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "city-catalogue.conf")
    nodes = build_tree()
    n_streets = sum(1 for c, _, _ in nodes if c.endswith("000") and not c.endswith("000000"))
    n_communities = sum(1 for c, _, _ in nodes if not c.endswith("000"))
    lines = [
        "# SPDX-License-Identifier: LGPL-2.1-or-later",
        "# Generated by config/gen-city-catalogue.py; do not edit, change the script and rerun it.",
        "# A synthetic city: 1 city, %d districts, %d streets, %d communities, %d cameras, all on"
        % (len(DISTRICTS), n_streets, n_communities, TOTAL_CAMERAS),
        "# the camera simulator at 127.0.0.1:8554. always-on is left at its default (false).",
        "",
    ]
    for code, name, _ in nodes:
        lines += ["[org %s]" % code, "name=%s" % name, ""]
    lines += build_cameras(nodes)
    with open(output, "w", encoding="ascii", newline="\n") as out:
        out.write("\n".join(lines).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()

#!/bin/sh
# timeline.sh JOBDIR|TIMELINE.jsonl - where a batch's time went, from the
# timeline.jsonl avbatch keeps in each job's directory: seconds per activity
# summed over targets (two targets at once count twice), each engine
# daemon's signature load, and the wall time from the first event to the
# last.
f=$1
[ -d "$f" ] && f=$f/timeline.jsonl
[ -r "$f" ] || { echo "usage: $0 JOBDIR|TIMELINE.jsonl" >&2; exit 2; }
jq -rn '[inputs] as $all |
	($all | map(select(.target)) | group_by(.target) |
	 map(sort_by(.ms) | . as $ev | [range(0; length - 1) | {
		label: ($ev[.] |
			if .phase == "waiting" then "parked (daemon, template, verdicts)"
			elif .phase == "scanning" and .engine then "scan: \(.engine)"
			elif .phase == "scanning" and .fs then "mount, walk, hash"
			elif .phase == "opening" or .phase == "scanning" then "open, attach, layout"
			else .phase end),
		dt: ($ev[. + 1].ms - $ev[.].ms)}]) | add // [] |
	 group_by(.label) | map("\(.[0].label)\t\(map(.dt) | add / 1000)") | .[]),
	($all | map(select(.phase == "daemon-start" or .phase == "daemon-ready")) |
	 group_by(.engine) | map(select(length == 2) | sort_by(.ms) |
	 "signature load: \(.[0].engine)\t\((.[1].ms - .[0].ms) / 1000) (at \(.[0].ms / 1000) to \(.[1].ms / 1000))") | .[]),
	"wall, first event to last\t\(($all | map(.ms) | max) / 1000)"' "$f"

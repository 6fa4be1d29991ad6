#!/bin/bash
# avbatch report html: one self-contained page of a real report, rendered
# by headless Chromium: a screenshot, and the page's text holds every target
# and every detection; a hostile guest name is text, not markup.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd mkfs.ext4 clamscan jq
CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
	skip_all "no chromium"

plan 10

mkdir -p "$T/img" "$T/sigs" "$T/t1/srv" "$T/t2/etc"
fx_sigdb "$T/sigs" || bail_out "no signatures"
evil='<img src=x onerror=alert(1)><script>document.title="pwned" & co.com'
fx_eicar "$T/t1/srv/$evil" || bail_out "cannot plant the hostile name"
fx_eicar "$T/t1/srv/plain.com"
echo hello >"$T/t2/etc/motd"
truncate -s 32M "$T/img/web01.raw" "$T/img/db02.raw"
mkfs.ext4 -q -d "$T/t1" "$T/img/web01.raw" && mkfs.ext4 -q -d "$T/t2" "$T/img/db02.raw" ||
	bail_out "mkfs.ext4 failed"
echo "not a disk" >"$T/img/notes.img"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o "clamav.database=$T/sigs" --report "$T/r.json" \
	"$T/img/web01.raw" "$T/img/db02.raw" "$T/img/notes.img" >/dev/null 2>&1
like "$(jq -r '[.targets[].status] | join(" ")' "$T/r.json"):$(jq '[.targets[].detections[]] | length' "$T/r.json")" \
	"^infected clean .*:2$" "a report to show, with two detections"

"$AVBATCH" report html "$T/r.json" >"$T/r.html"
is "$?" 0 "report html exits 0"
ok "the page names no external asset" \
	test -z "$(grep -Eio '(src|href)=["'"'"']?(https?:|//)[^ >]*' "$T/r.html")"
# Chromium as root needs --no-sandbox; a private HOME keeps its profile in $T.
chrome() {
	HOME=$T/home timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--hide-scrollbars --no-first-run --user-data-dir="$T/chrome" "$@" 2>>"$T/chrome.log"
}
chrome --window-size=1280,1600 --screenshot="$T/shot.png" "file://$T/r.html" >/dev/null
ok "Chromium renders a screenshot" test -s "$T/shot.png"
chrome --dump-dom "file://$T/r.html" >"$T/dom.html"
# The text a reader sees: tags out, entities decoded.
text=$(sed -e 's/<[^>]*>/ /g' -e 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&#39;/'"'"'/g; s/&amp;/\&/g' "$T/dom.html")
missing=
for name in $(jq -r '.targets[].name' "$T/r.json"); do
	[[ $text == *"$name"* ]] || missing+=" $name"
done
is "$missing" "" "the page's text holds every target"
missing=
while IFS= read -r p; do
	[[ $text == *"$p"* ]] || missing+=" $p"
done < <(jq -r '.targets[].detections[] | .path, .threat' "$T/r.json")
is "$missing" "" "and every detection: path and threat"
like "$text" "1 +infected" "the summary counts the infected target"
like "$text" "1 +not fully covered" "and the one not covered (the text file)"
is "$(grep -o '<script' "$T/dom.html" | wc -l)/$(grep -c '<img' "$T/dom.html")" "1/0" \
	"the guest's markup stays text: only the page's own script runs, no image element"
like "$(cat "$T/dom.html")" 'id="filter"' "with JavaScript the page has its filter box"
done_testing

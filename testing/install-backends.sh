#!/usr/bin/env bash
# Install the real backends used by the checks and live tests, on Debian 12
# (bookworm) or later, and print their paths on stdout as shell-sourceable
# KEY=PATH lines (everything else goes to stderr):
#
#   eval "$(testing/install-backends.sh)"      # or: testing/install-backends.sh DIR
#
#   PROMETHEUS=DIR/bin/prometheus          forky .deb prometheus (3.5)
#   PROMTOOL=DIR/bin/promtool              forky .deb promtool (3.5)
#   ALERTMANAGER=DIR/bin/alertmanager      forky .deb prometheus-alertmanager (0.33)
#   AMTOOL=DIR/bin/amtool                  (same package)
#   VMAGENT=DIR/bin/vmagent                trixie .deb victoria-metrics (1.112)
#   VICTORIA_METRICS=DIR/bin/victoria-metrics
#   VMALERT=DIR/bin/vmalert
#
# Why these: docker-compose.yml ships prom/prometheus v3.5 and Alertmanager
# 0.28, so the rules are tested with Prometheus 3 (bookworm only has 2.42 and
# Alertmanager 0.25). Debian forky (testing) packages Prometheus 3.5 and
# Alertmanager 0.33 as static Go binaries that run on bookworm (libc6 >= 2.34).
# Nothing is pinned beyond "what the suite has": the .deb versions are kept in
# DIR/VERSIONS, and the script fails if Prometheus/promtool is not major 3 or
# Alertmanager/amtool is older than 0.28. Another suite for the Prometheus
# packages: POB_PROMETHEUS_SUITE=sid (default forky).
#
# Every package is fetched with `apt-get download` through a private apt state
# (its own sources list with signed-by the Debian archive keyring, its own
# lists and cache in a temp dir; the mirror is the one serving bookworm in
# /etc/apt, override with POB_DEBIAN_MIRROR) and unpacked with `dpkg-deb -x`
# into DIR/<package>-<version>; DIR/bin holds stable symlinks. No root needed,
# no change to the system's sources or package state, no daemon is installed
# or started (tests start their own instances on free ports). Older releases of
# this script apt-installed bookworm's prometheus/prometheus-alertmanager; they
# are no longer used by anything here and are left alone.
#
# DIR defaults to $POB_BACKENDS_DIR or <repo>/.backends (gitignored). The same
# lines are kept in DIR/paths.env; `PATH="DIR/bin:$PATH"` gives promtool and
# amtool by their usual names. Idempotent: a stamp in DIR makes reruns take
# well under a second; a package already unpacked in DIR is not fetched again.
# Concurrent runs on one DIR are serialised (flock).
#
# Debian's VictoriaMetrics build prints an EMPTY `-version` (no build info):
# its version comes from the .deb (DIR/VERSIONS).
#
# ---------------------------------------------------------------------------
# The live path, by hand (Prometheus <- vmagent <- OTLP/HTTP; rule -> AM -> webhook)
# ---------------------------------------------------------------------------
#   eval "$(testing/install-backends.sh)"
#   W=$(mktemp -d); free() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
#   PP=$(free); AP=$(free); VP=$(free)
#   python3 testing/webhook_receiver.py --port-file $W/wh.port --out $W/wh.jsonl & WH=$!
#   until [ -s $W/wh.port ]; do sleep 0.1; done
#   cat >$W/am.yml <<EOF
#   route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
#   receivers: [{name: hook, webhook_configs: [{url: "http://127.0.0.1:$(cat $W/wh.port)/", send_resolved: true}]}]
#   EOF
#   "$AMTOOL" check-config $W/am.yml
#   "$ALERTMANAGER" --config.file=$W/am.yml --storage.path=$W/am \
#       --web.listen-address=127.0.0.1:$AP --cluster.listen-address= & AM=$!
#   cat >$W/rules.yml <<'EOF'
#   groups:
#   - name: live
#     rules:
#     - alert: PipelineRunErrors
#       expr: cicd_pipeline_run_errors_total > 0
#       for: 0s
#       labels: {severity: warning}
#   EOF
#   cat >$W/prom.yml <<EOF
#   global: {scrape_interval: 1s, evaluation_interval: 1s}
#   rule_files: [$W/rules.yml]
#   alerting: {alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$AP"]}]}]}
#   EOF
#   "$PROMTOOL" check config $W/prom.yml
#   "$PROMETHEUS" --config.file=$W/prom.yml --storage.tsdb.path=$W/prom \
#       --web.listen-address=127.0.0.1:$PP --web.enable-remote-write-receiver \
#       --rules.alert.resend-delay=1s & PR=$!
#   "$VMAGENT" -httpListenAddr=127.0.0.1:$VP -remoteWrite.url=http://127.0.0.1:$PP/api/v1/write \
#       -remoteWrite.tmpDataPath=$W/vmagent -remoteWrite.forcePromProto \
#       -opentelemetry.usePrometheusNaming -remoteWrite.queues=1 -remoteWrite.flushInterval=1s & VA=$!
#   until curl -sf 127.0.0.1:$PP/-/ready && curl -sf 127.0.0.1:$AP/-/ready \
#         && curl -sf 127.0.0.1:$VP/health; do sleep 0.1; done >/dev/null
#   # Prometheus learns its Alertmanager ~5 s after start; alerts fired before
#   # that are DROPPED and only re-sent after --rules.alert.resend-delay (1m by
#   # default: that is what made a first try take 62 s). So wait for it:
#   until curl -s 127.0.0.1:$PP/api/v1/alertmanagers | grep -q "127.0.0.1:$AP"; do sleep 0.1; done
#   # push OTLP/HTTP protobuf to http://127.0.0.1:$VP/opentelemetry/v1/metrics
#   #   (e.g. opentelemetry-sdk + opentelemetry-exporter-otlp-proto-http in a venv,
#   #    OTLPMetricExporter(endpoint=that URL), counter "cicd.pipeline.run.errors"
#   #    unit "{error}" attr cicd.pipeline.name=x, histogram "cicd.pipeline.run.duration" unit "s")
#   sleep 2; curl -s "127.0.0.1:$PP/api/v1/series" --data-urlencode 'match[]={__name__=~"cicd_.*"}'
#   until [ -s $W/wh.jsonl ]; do sleep 0.2; done; cat $W/wh.jsonl
#   kill $VA $PR $AM $WH; wait $VA $PR $AM $WH
#
#   # VictoriaMetrics single-node takes the same OTLP directly (queryable ~1 s
#   # later; GET /internal/force_flush speeds it up):
#   "$VICTORIA_METRICS" -httpListenAddr=127.0.0.1:$P -storageDataPath=$W/vm -retentionPeriod=1d \
#       -opentelemetry.usePrometheusNaming -search.latencyOffset=0s
#
# Observed (vmagent 1.112 -opentelemetry.usePrometheusNaming -> Prometheus 2.42, before this
# script moved to 3.5: remote-written le values are stored as sent, but 3.x normalises
# scraped classic-histogram le/quantile values to floats, e.g. "1" -> "1.0";
# OTLP from the Python SDK 1.45, cumulative temporality):
#   counter cicd.pipeline.run.errors {error}  -> cicd_pipeline_run_errors_total (no unit suffix)
#   histogram cicd.pipeline.run.duration s    -> cicd_pipeline_run_duration_seconds_{bucket,sum,count}
#   up-down counter cicd.pipeline.run.active {run} -> cicd_pipeline_run_active (gauge)
#   unit By -> _bytes_total; ms -> _milliseconds_*; "1" -> no suffix (no _ratio)
#   labels: metric attributes with . -> _ (cicd_pipeline_name, error_type), PLUS
#   EVERY resource attribute (service_name, service_version, service_namespace,
#   service_instance_id, host_name, telemetry_sdk_{name,language,version}, ...).
#   No job/instance, no otel_scope_* labels, no target_info series.
#   le: shortest decimal: "0", "0.005", "0.25", "1", "2.5", "10", "1000000", "+Inf".
#   Push -> queryable in Prometheus ~1 s; push -> webhook 1.3-1.8 s (with the waits above).
# Flag gotchas: Debian's VM build prints an empty -version; vmagent's
#   -remoteWrite.tmpDataPath defaults to ./vmagent-remotewrite-data in the CWD;
#   without -remoteWrite.forcePromProto vmagent first tries VM's zstd protocol,
#   Prometheus logs "Error decoding remote write request ... snappy: corrupt
#   input" once and vmagent falls back (harmless, but noisy).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
dir="${1:-${POB_BACKENDS_DIR:-$root/.backends}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

log() { printf 'install-backends: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

prom_suite="${POB_PROMETHEUS_SUITE:-forky}"
stamp="$dir/.stamp"
paths="$dir/paths.env"
want_stamp="$( (cat "${BASH_SOURCE[0]}"; uname -m; echo "$prom_suite") | sha256sum | cut -d' ' -f1)"

all_present() {
    [ -f "$paths" ] || return 1
    local line
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        [ -x "${line#*=}" ] || return 1
    done <"$paths"
}

# Fast path: nothing to do.
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && all_present; then
    cat "$paths"
    exit 0
fi

# Serialise concurrent runs (parallel test processes) on the same DIR.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir/.lock"
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && all_present; then
        cat "$paths"
        exit 0
    fi
fi

[ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
    || die "needs a Debian system (apt-get, dpkg-deb)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/install-backends.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------------------
# 1. The packages: suite, package, the binaries it must contain (usr/bin).
# ---------------------------------------------------------------------------
pkgs=(
    "trixie victoria-metrics vmagent victoria-metrics vmalert"
    "$prom_suite prometheus prometheus"
    "$prom_suite promtool promtool"
    "$prom_suite prometheus-alertmanager prometheus-alertmanager amtool"
)

# Earlier releases of this script kept the VictoriaMetrics version in .vm-version.
if [ -f "$dir/.vm-version" ] && [ ! -f "$dir/.version-victoria-metrics" ]; then
    mv "$dir/.vm-version" "$dir/.version-victoria-metrics"
fi
rm -f "$dir/.apt-update-stamp"   # (was: when it last ran apt-get update on the system)

unpacked() { # unpacked PKG BIN...: the version already unpacked in DIR with every BIN, or fail
    local pkg="$1" ver b; shift
    ver="$(cat "$dir/.version-$pkg" 2>/dev/null)" || return 1
    [ -n "$ver" ] || return 1
    for b in "$@"; do [ -x "$dir/$pkg-$ver/usr/bin/$b" ] || return 1; done
    echo "$ver"
}

missing=()   # "suite pkg"
for entry in "${pkgs[@]}"; do
    # shellcheck disable=SC2086 # entry is a space-separated list
    set -- $entry
    suite="$1" pkg="$2"; shift 2
    unpacked "$pkg" "$@" >/dev/null || missing+=("$suite $pkg")
done

# ---------------------------------------------------------------------------
# 2. Fetch what is missing through a private apt state and unpack it into DIR.
# ---------------------------------------------------------------------------
bookworm_mirror() {
    # First URI serving suite "bookworm" in the system's sources (one-line
    # .list and deb822 .sources formats).
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                         if ($(i+1)=="bookworm") { print $i; exit } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS=""; FS="\n" }
             { uri=""; suites=""; types=""
               for (k=1; k<=NF; k++) {
                 if ($k ~ /^URIs:/)   { uri=$k;    sub(/^URIs:[ \t]*/, "", uri) }
                 if ($k ~ /^Suites:/) { suites=$k; sub(/^Suites:[ \t]*/, "", suites) }
                 if ($k ~ /^Types:/)  { types=$k }
               }
               n=split(suites, s, /[ \t]+/)
               for (j=1; j<=n; j++) if (s[j]=="bookworm" && types ~ /deb( |$)/) { split(uri, u, /[ \t]+/); print u[1]; exit } }' "$f"
    done
}

if [ "${#missing[@]}" -gt 0 ]; then
    mirror="${POB_DEBIAN_MIRROR:-$(bookworm_mirror | head -n1)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    mirror="${mirror%/}"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -f "$keyring" ] || die "$keyring missing (package debian-archive-keyring)"

    suites="$(printf '%s\n' "${missing[@]}" | cut -d' ' -f1 | sort -u | tr '\n' ' ')"
    want=""
    for entry in "${missing[@]}"; do want+=" ${entry#* }/${entry%% *}"; done
    log "fetching${want} from $mirror (private apt state in $tmp)"
    mkdir -p "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/prefs" "$tmp/deb"
    for s in $suites; do echo "deb [signed-by=$keyring] $mirror $s main"; done >"$tmp/sources.list"
    apt_p=(
        -o "Dir::State=$tmp/state" -o "Dir::State::status=/dev/null"
        -o "Dir::Cache=$tmp/cache"
        -o "Dir::Etc::sourcelist=$tmp/sources.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::Etc::preferencesparts=$tmp/prefs"
        -o Acquire::Languages=none
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false
    )
    # As root apt drops to user _apt, which can't write into our temp dirs.
    [ "$(id -u)" -eq 0 ] && apt_p+=(-o APT::Sandbox::User=root)
    apt-get "${apt_p[@]}" -q update >&2 || die "apt-get update (${suites% }, private state) failed"

    for entry in "${missing[@]}"; do
        suite="${entry%% *}" pkg="${entry#* }"
        rm -f "$tmp/deb"/*.deb
        (cd "$tmp/deb" && apt-get "${apt_p[@]}" -q download "$pkg/$suite" >&2) \
            || die "apt-get download $pkg/$suite failed (is $pkg in Debian $suite? POB_PROMETHEUS_SUITE=sid picks unstable for the Prometheus packages)"
        deb="$(ls "$tmp/deb"/"${pkg}"_*.deb)"
        ver="$(dpkg-deb -f "$deb" Version)"
        dest="$dir/$pkg-$ver"
        rm -rf "$dest.partial"
        dpkg-deb -x "$deb" "$dest.partial"
        rm -rf "$dest"
        mv "$dest.partial" "$dest"
        echo "$ver" >"$dir/.version-$pkg"
        echo "$suite" >"$dir/.suite-$pkg"
        # Drop older unpacked versions of this package (exact "<pkg>-<digit>" prefix, so
        # "prometheus" does not take "prometheus-alertmanager" with it).
        for old in "$dir/$pkg"-[0-9]*; do
            [ -e "$old" ] && [ "$old" != "$dest" ] && rm -rf "$old"
        done
        log "unpacked $pkg $ver ($suite) into $dest"
    done
fi

# Stable names in DIR/bin.
mkdir -p "$dir/bin"
link() { # link PKG BIN [NAME]
    local ver
    ver="$(cat "$dir/.version-$1")"
    ln -sfn "$dir/$1-$ver/usr/bin/$2" "$dir/bin/${3:-$2}"
}
link victoria-metrics vmagent
link victoria-metrics victoria-metrics
link victoria-metrics vmalert
link prometheus prometheus
link promtool promtool
link prometheus-alertmanager prometheus-alertmanager alertmanager
link prometheus-alertmanager amtool

# ---------------------------------------------------------------------------
# 3. Verify everything runs and is the expected major version, record versions
#    and paths, write the stamp.
# ---------------------------------------------------------------------------
check() { # name, command...: must exit 0 with every shared-library symbol resolvable
    local name="$1"; shift
    LD_BIND_NOW=1 "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "$name does not run: $*"; }
}
version_of() { # the x.y.z of "NAME, version x.y.z..." (first line of --version)
    sed -n '1s/^[^,]*, version \([0-9][0-9.]*\).*/\1/p' "$tmp/out"
}
need() { # need NAME MIN_MAJOR MIN_MINOR MAX_MAJOR: the version in $tmp/out is within bounds
    local v maj min
    v="$(version_of)"
    [ -n "$v" ] || { cat "$tmp/out" >&2; die "$1: no version in its --version output"; }
    maj="${v%%.*}" min="${v#*.}"; min="${min%%.*}"
    if [ "$maj" -lt "$2" ] || { [ "$maj" -eq "$2" ] && [ "$min" -lt "$3" ]; } || [ "$maj" -gt "$4" ]; then
        die "$1 is $v; need >= $2.$3 and major <= $4 (docker-compose.yml ships Prometheus 3.5, Alertmanager 0.28)"
    fi
    printf '%s' "$v"
}
check prometheus "$dir/bin/prometheus" --version;   prom_v="$(need prometheus 3 0 3)"
check promtool "$dir/bin/promtool" --version;       need promtool 3 0 3 >/dev/null
check alertmanager "$dir/bin/alertmanager" --version; am_v="$(need alertmanager 0 28 0)"
check amtool "$dir/bin/amtool" --version;           need amtool 0 28 0 >/dev/null
for b in vmagent victoria-metrics vmalert; do
    check "$b" "$dir/bin/$b" -version
done
# (no `| grep -q`: with pipefail the early exit makes the pipeline fail)
"$dir/bin/vmagent" -help >"$tmp/help" 2>&1 || true
grep -q -- '-opentelemetry.usePrometheusNaming' "$tmp/help" \
    || die "vmagent lacks -opentelemetry.usePrometheusNaming"
"$dir/bin/vmalert" -help >"$tmp/help" 2>&1 || true
grep -q -- '-dryRun' "$tmp/help" && grep -q -- '-rule.validateTemplates' "$tmp/help" \
    || die "vmalert lacks -dryRun / -rule.validateTemplates (prometheus/check.sh needs them)"

{
    for entry in "${pkgs[@]}"; do
        # shellcheck disable=SC2086
        set -- $entry
        printf '%s %s %s\n' "$2" "$(cat "$dir/.version-$2")" "$(cat "$dir/.suite-$2" 2>/dev/null || echo "$1")"
    done
} >"$dir/VERSIONS.tmp"
mv "$dir/VERSIONS.tmp" "$dir/VERSIONS"

cat >"$paths.tmp" <<PATHS
PROMETHEUS=$dir/bin/prometheus
PROMTOOL=$dir/bin/promtool
ALERTMANAGER=$dir/bin/alertmanager
AMTOOL=$dir/bin/amtool
VMAGENT=$dir/bin/vmagent
VICTORIA_METRICS=$dir/bin/victoria-metrics
VMALERT=$dir/bin/vmalert
PATHS
mv "$paths.tmp" "$paths"
echo "$want_stamp" >"$stamp"
log "Prometheus $prom_v, Alertmanager $am_v; packages: $(paste -sd';' "$dir/VERSIONS" | sed 's/;/; /g')"
cat "$paths"

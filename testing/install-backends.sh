#!/usr/bin/env bash
# Install the real backends used by the live tests, on Debian 12 (bookworm),
# and print their paths on stdout as shell-sourceable KEY=PATH lines
# (everything else goes to stderr):
#
#   eval "$(testing/install-backends.sh)"      # or: testing/install-backends.sh DIR
#
#   PROMETHEUS=/usr/bin/prometheus              apt: prometheus (2.42, bookworm)
#   PROMTOOL=/usr/bin/promtool
#   ALERTMANAGER=/usr/bin/prometheus-alertmanager   apt: prometheus-alertmanager (0.25)
#   AMTOOL=/usr/bin/amtool
#   VMAGENT=DIR/bin/vmagent                     trixie .deb victoria-metrics (1.112),
#   VICTORIA_METRICS=DIR/bin/victoria-metrics   unpacked with dpkg -x into DIR; the
#   VMALERT=DIR/bin/vmalert                     system stays on bookworm
#
# DIR defaults to $POB_BACKENDS_DIR or <repo>/.backends (gitignored). The same
# lines are kept in DIR/paths.env. Idempotent: a stamp in DIR makes reruns
# take well under a second. Needs root for apt-get install (uses sudo if not
# root). Uses only the Debian mirror already configured in /etc/apt (override
# with POB_DEBIAN_MIRROR), with suite trixie for VictoriaMetrics, through a
# private apt state dir (no change to the system's sources or package state).
# The packaged prometheus/alertmanager daemons are NOT left running: a
# temporary policy-rc.d stops the postinst from starting them, and any that
# run anyway are stopped and disabled (tests start their own on free ports).
#
# Debian's VictoriaMetrics build prints an EMPTY `-version` (no build info):
# the version comes from the .deb and is kept in DIR/VERSIONS.
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
# Observed (vmagent 1.112 -opentelemetry.usePrometheusNaming -> Prometheus 2.42,
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
# ---------------------------------------------------------------------------
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
dir="${1:-${POB_BACKENDS_DIR:-$root/.backends}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

log() { printf 'install-backends: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stamp="$dir/.stamp"
paths="$dir/paths.env"
want_stamp="$( (cat "${BASH_SOURCE[0]}"; uname -m) | sha256sum | cut -d' ' -f1)"

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

[ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null \
    || die "needs a Debian system (apt-get, dpkg)"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo"
    SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
fi
export DEBIAN_FRONTEND=noninteractive
apt_lock=(-o DPkg::Lock::Timeout=600)

tmp="$(mktemp -d "${TMPDIR:-/tmp}/install-backends.XXXXXX")"
created_policy=0
cleanup() {
    if [ "$created_policy" = 1 ]; then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. prometheus + prometheus-alertmanager from the system's bookworm sources.
# ---------------------------------------------------------------------------
apt_pkgs=(prometheus prometheus-alertmanager)
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
missing=()
for p in "${apt_pkgs[@]}"; do installed "$p" || missing+=("$p"); done

apt_update_stamp="$dir/.apt-update-stamp"
updated=0
apt_update() {
    log "apt-get update"
    "${SUDO[@]}" apt-get "${apt_lock[@]}" -q update >&2
    : >"$apt_update_stamp"
    updated=1
}
has_candidate() {
    local c
    c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [ -n "$c" ] && [ "$c" != "(none)" ]
}

if [ "${#missing[@]}" -gt 0 ]; then
    need_update=0
    # Update once per machine (stamp younger than a day), or when apt can't
    # see the packages at all.
    if [ -z "$(find "$apt_update_stamp" -mmin -1440 2>/dev/null)" ]; then need_update=1; fi
    for p in "${missing[@]}"; do has_candidate "$p" || need_update=1; done
    [ "$need_update" = 1 ] && apt_update

    # Keep the postinst from starting the packaged daemons (invoke-rc.d and
    # deb-systemd-invoke both honour policy-rc.d exit 101).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >"$tmp/policy-rc.d"
        chmod 755 "$tmp/policy-rc.d"
        "${SUDO[@]}" cp "$tmp/policy-rc.d" /usr/sbin/policy-rc.d
        created_policy=1
    fi
    log "apt-get install --no-install-recommends ${missing[*]}"
    if ! "${SUDO[@]}" apt-get "${apt_lock[@]}" -q install -y --no-install-recommends "${missing[@]}" >&2; then
        # Stale lists give 404s: refresh once and retry.
        [ "$updated" = 1 ] && die "apt-get install ${missing[*]} failed"
        apt_update
        "${SUDO[@]}" apt-get "${apt_lock[@]}" -q install -y --no-install-recommends "${missing[@]}" >&2 \
            || die "apt-get install ${missing[*]} failed"
    fi
    if [ "$created_policy" = 1 ]; then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
        created_policy=0
    fi
fi

# Make sure the packaged daemons are neither running nor enabled: tests start
# their own instances on free loopback ports.
for svc in prometheus prometheus-alertmanager; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        if systemctl is-active --quiet "$svc" 2>/dev/null || systemctl is-enabled --quiet "$svc" 2>/dev/null; then
            log "stopping and disabling systemd service $svc"
            "${SUDO[@]}" systemctl disable --now "$svc" >&2 2>&1 || true
        fi
    elif [ -x "/etc/init.d/$svc" ]; then
        if "/etc/init.d/$svc" status >/dev/null 2>&1; then
            log "stopping init.d service $svc"
            "${SUDO[@]}" "/etc/init.d/$svc" stop >&2 2>&1 || true
        fi
        if ls /etc/rc[2-5].d/S*"$svc" >/dev/null 2>&1; then
            "${SUDO[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
        fi
    fi
done
for bin in /usr/bin/prometheus /usr/bin/prometheus-alertmanager; do
    # Anything still running from the package runs as its system user.
    if pids="$(pgrep -u prometheus -x "$(basename "$bin")" 2>/dev/null)"; then
        log "WARNING: packaged $(basename "$bin") still running (pid $pids); tests use their own ports anyway"
    fi
done

# ---------------------------------------------------------------------------
# 2. VictoriaMetrics (vmagent, victoria-metrics, vmalert) from Debian trixie,
#    downloaded through a private apt state and unpacked into DIR.
# ---------------------------------------------------------------------------
vm_pkg=victoria-metrics
vm_bins=(vmagent victoria-metrics vmalert)

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
mirror="${POB_DEBIAN_MIRROR:-$(bookworm_mirror | head -n1)}"
mirror="${mirror:-http://deb.debian.org/debian}"
mirror="${mirror%/}"

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring missing (package debian-archive-keyring)"

vm_installed_ver=""
[ -f "$dir/.vm-version" ] && vm_installed_ver="$(cat "$dir/.vm-version")"
vm_root=""
[ -n "$vm_installed_ver" ] && vm_root="$dir/$vm_pkg-$vm_installed_ver"
vm_ok=0
if [ -n "$vm_root" ]; then
    vm_ok=1
    for b in "${vm_bins[@]}"; do [ -x "$vm_root/usr/bin/$b" ] || vm_ok=0; done
fi

if [ "$vm_ok" = 0 ]; then
    log "fetching $vm_pkg from $mirror trixie (private apt state in $tmp)"
    mkdir -p "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/prefs" "$tmp/deb"
    echo "deb [signed-by=$keyring] $mirror trixie main" >"$tmp/trixie.list"
    apt_t=(
        -o "Dir::State=$tmp/state" -o "Dir::State::status=/dev/null"
        -o "Dir::Cache=$tmp/cache"
        -o "Dir::Etc::sourcelist=$tmp/trixie.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::Etc::preferencesparts=$tmp/prefs"
        -o Acquire::Languages=none
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false
    )
    # As root apt drops to user _apt, which can't write into our temp dirs.
    [ "$(id -u)" -eq 0 ] && apt_t+=(-o APT::Sandbox::User=root)
    apt-get "${apt_t[@]}" -q update >&2 || die "apt-get update (trixie, private state) failed"
    (cd "$tmp/deb" && apt-get "${apt_t[@]}" -q download "$vm_pkg" >&2) || die "apt-get download $vm_pkg failed"
    deb="$(ls "$tmp/deb"/"$vm_pkg"_*.deb)"
    ver="$(dpkg-deb -f "$deb" Version)"
    vm_root="$dir/$vm_pkg-$ver"
    rm -rf "$vm_root.partial"
    dpkg-deb -x "$deb" "$vm_root.partial"
    rm -rf "$vm_root"
    mv "$vm_root.partial" "$vm_root"
    # Drop older unpacked versions.
    for old in "$dir/$vm_pkg"-*; do
        [ "$old" = "$vm_root" ] || rm -rf "$old"
    done
    vm_installed_ver="$ver"
    echo "$ver" >"$dir/.vm-version"
fi

mkdir -p "$dir/bin"
for b in "${vm_bins[@]}"; do
    ln -sfn "$vm_root/usr/bin/$b" "$dir/bin/$b"
done

# ---------------------------------------------------------------------------
# 3. Verify everything runs, record versions and paths, write the stamp.
# ---------------------------------------------------------------------------
check() { # name, command...: must exit 0 with every shared-library symbol resolvable
    local name="$1"; shift
    LD_BIND_NOW=1 "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "$name does not run: $*"; }
}
check prometheus /usr/bin/prometheus --version
check promtool /usr/bin/promtool --version
check alertmanager /usr/bin/prometheus-alertmanager --version
check amtool /usr/bin/amtool --version
for b in "${vm_bins[@]}"; do
    check "$b" "$dir/bin/$b" -version
done
# (no `| grep -q`: with pipefail the early exit makes the pipeline fail)
"$dir/bin/vmagent" -help >"$tmp/help" 2>&1 || true
grep -q -- '-opentelemetry.usePrometheusNaming' "$tmp/help" \
    || die "vmagent lacks -opentelemetry.usePrometheusNaming"

{
    for p in "${apt_pkgs[@]}"; do
        printf '%s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p")"
    done
    printf '%s %s\n' "$vm_pkg" "$vm_installed_ver"
} >"$dir/VERSIONS.tmp"
mv "$dir/VERSIONS.tmp" "$dir/VERSIONS"

cat >"$paths.tmp" <<EOF
PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool
ALERTMANAGER=/usr/bin/prometheus-alertmanager
AMTOOL=/usr/bin/amtool
VMAGENT=$dir/bin/vmagent
VICTORIA_METRICS=$dir/bin/victoria-metrics
VMALERT=$dir/bin/vmalert
EOF
mv "$paths.tmp" "$paths"
echo "$want_stamp" >"$stamp"
log "versions: $(tr '\n' ';' <"$dir/VERSIONS")"
cat "$paths"

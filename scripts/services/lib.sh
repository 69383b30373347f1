# Start PostgreSQL and Ceph RGW for the integration tier; sourced by scripts/test and .ci/run.
#
#   . scripts/services/lib.sh
#   services_start        # in the background: installs what is missing (apt), starts both
#   ...                   # (other work meanwhile: .ci/run installs and checks)
#   services_wait         # waits, exports DEPLOYKIT_TEST_*; fails with the services' logs
#   services_stop         # stops both; call it from a trap on EXIT
#
# Ports and folders are picked per run, so two runs on one machine do not collide.
# Needs root (initdb runs as the postgres user; Ceph daemons bind and write freely).

_services_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

_free_ports() {  # N free loopback ports; the Ceph monitor needs P and P+3489 both free
    python3 - "$1" <<'EOF'
import random, socket, sys
def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
ports = []
while len(ports) < int(sys.argv[1]):
    p = random.randrange(20000, 28000)
    if p not in ports and free(p) and free(p + 3489):
        ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

services_start() {
    read -r PGPORT RGW_PORT CEPH_MON_PORT <<<"$(_free_ports 3)"
    export PGPORT RGW_PORT CEPH_MON_PORT
    export PGTMP="/tmp/deploykit-pg-$$" CEPH_TMP="/tmp/deploykit-ceph-$$"
    _services_log="$(mktemp -d /tmp/deploykit-services-XXXXXX)"
    (
        set -e
        missing=()
        compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
        command -v radosgw >/dev/null || missing+=(radosgw ceph-mon ceph-osd)
        # Debian's Chromium for the browser tests, in the same apt run (dpkg takes one at a time)
        command -v chromium >/dev/null || missing+=(chromium)
        if [ ${#missing[@]} -gt 0 ]; then  # one apt run: two at once would fight for dpkg's lock
            echo "services: apt-get install ${missing[*]}" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >/dev/null
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        fi
        "$_services_dir/pg.sh" start >"$_services_log/pg.out" 2>"$_services_log/pg.err" &
        pg=$!
        "$_services_dir/ceph-rgw.sh" start >"$_services_log/s3.out" 2>"$_services_log/s3.err" &
        s3=$!
        rc=0
        wait $pg || rc=1
        wait $s3 || rc=1
        exit $rc
    ) 2>"$_services_log/install.err" &
    _services_pid=$!
}

services_wait() {
    if ! wait "$_services_pid"; then
        echo "services: PostgreSQL or Ceph RGW failed to start:" >&2
        tail -n 20 "$_services_log"/*.err >&2 || true
        return 1
    fi
    DEPLOYKIT_TEST_DATABASE_URL="$(tail -n 1 "$_services_log/pg.out")"
    DEPLOYKIT_TEST_S3_ENDPOINT="$(tail -n 1 "$_services_log/s3.out")"
    export DEPLOYKIT_TEST_DATABASE_URL DEPLOYKIT_TEST_S3_ENDPOINT
    export DEPLOYKIT_TEST_S3_ACCESS_KEY="${S3_ACCESS_KEY:-deploykit}"
    export DEPLOYKIT_TEST_S3_SECRET_KEY="${S3_SECRET_KEY:-deploykitsecret}"
    echo "services: $DEPLOYKIT_TEST_DATABASE_URL and $DEPLOYKIT_TEST_S3_ENDPOINT" >&2
}

services_stop() {
    # Stop whatever started, even half-way (a failed start leaves daemons behind).
    [ -n "${_services_pid:-}" ] && { wait "$_services_pid" 2>/dev/null || true; }
    [ -n "${PGTMP:-}" ] && "$_services_dir/pg.sh" stop || true
    [ -n "${CEPH_TMP:-}" ] && "$_services_dir/ceph-rgw.sh" stop || true
    [ -n "${_services_log:-}" ] && rm -rf "$_services_log"
    return 0
}

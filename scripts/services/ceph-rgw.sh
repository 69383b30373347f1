#!/usr/bin/env bash
# usage: ceph-rgw.sh start|stop -- throwaway single-node Ceph (1 mon, 1 bluestore OSD on a sparse file, RGW) on 127.0.0.1
set -euo pipefail
D=${CEPH_TMP:-/tmp/deploykit-ceph}
RGW_PORT=${RGW_PORT:-7480}
MON_V2=${CEPH_MON_PORT:-13300}; MON_V1=$((MON_V2 + 3489))   # 13300 -> 16789, as upstream's defaults
ACCESS=${S3_ACCESS_KEY:-deploykit}; SECRET=${S3_SECRET_KEY:-deploykitsecret}
C="-c $D/ceph.conf"
ceph() { command ceph --connect-timeout 60 "$@"; }
case "$1" in
start)
  command -v radosgw >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends radosgw ceph-mon ceph-osd >/dev/null
  rm -rf "$D"; mkdir -p "$D"/{run,log,mon.a,osd.0,rgw}
  FSID=$(uuidgen)
  cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
mon data avail warn = 1
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
ms bind ipv6 = false
ms mon client mode = crc secure
[mon.a]
mon data = $D/mon.a
[osd.0]
osd data = $D/osd.0
osd objectstore = bluestore
bluestore block path = $D/osd.0.block
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mount = false
osd memory target = 1073741824
[client.rgw.a]
rgw data = $D/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw dns name = 127.0.0.1
CONF
  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$D/monmap" >/dev/null
  ceph-mon $C --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
  ceph-mon $C -i a
  OSD_UUID=$(uuidgen)
  ceph $C osd new "$OSD_UUID" >/dev/null          # -> osd.0
  ceph-osd $C -i 0 --mkfs --osd-uuid "$OSD_UUID" 2>"$D/log/osd-mkfs.err"
  ceph-osd $C -i 0
  for i in $(seq 120); do ceph $C osd stat 2>/dev/null | grep -q "1 up" && break; sleep 0.5; done
  radosgw $C -n client.rgw.a
  for i in $(seq 240); do curl -sf -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.5; done
  radosgw-admin $C user create --uid=deploykit --display-name=deploykit --access-key="$ACCESS" --secret-key="$SECRET" >/dev/null
  echo "http://127.0.0.1:$RGW_PORT"
  ;;
stop)
  pids=""; for n in client.rgw.a osd.0 mon.a; do f="$D/run/$n.pid"; [ -f "$f" ] && pids="$pids $(cat "$f")"; done
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  for i in $(seq 20); do alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done; [ $alive = 0 ] && break; sleep 0.1; done
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$D"
  ;;
esac

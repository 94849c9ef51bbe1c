#!/usr/bin/env bash
# The city deployment on this machine, with real parts (docs/DEPLOY.md):
#   PostgreSQL primary (127.0.0.1:5432) and a streaming replica made by pg_basebackup
#   (127.0.0.1:5433), two app processes (the command deploy/systemd/hesuan@.service runs),
#   nginx (Debian's) with deploy/nginx/hesuan.conf as the load balancer and TLS end, a
#   self-signed certificate. A replica URL naming another cluster is refused at start, and
#   when a replica down at start comes up as one. A short round goes through nginx; reports
#   are read from the replica; one app process is killed while four stations scan and no
#   accepted scan is lost. Two labs' systems send over MLLP through nginx's stream module
#   (deploy/nginx/hesuan-mllp.conf) to a listener each: only with its own lab's certificate;
#   the round's lab reports go over MLLP inside TLS to a receiving authority. Two labs' systems
#   drop results files over SFTP (OpenSSH's internal-sftp, deploy/ssh/hesuan-labs.conf): each
#   reads its own ACKs, neither enters the other's folder.
#   Then backups: `hesuan backup` (pg_dump) restored into a new database, pg_basebackup
#   restored as a new cluster (127.0.0.1:5434), and a point-in-time recovery from a base
#   backup and the WAL archive (pg_receivewal) to before a dropped table; on each the row
#   counts equal the manifest's and `hesuan audit verify` finds the chain intact.
# Kept out of the main suite (about a minute, but it takes ports 5433, 5434 and 5436 and
# changes the primary's pg_hba.conf); run it alone. Needs root (nginx, sshd, the postgres user,
# the labs' accounts) and PostgreSQL on 127.0.0.1:5432 with trust for 127.0.0.1 (as
# scripts/test.sh has it). It adds one line to the primary's pg_hba.conf (replication from
# 127.0.0.1, trust) if it is missing, and reloads it; everything else it starts, it stops on
# exit, and the accounts and folders it makes it removes. KEEP=1 keeps $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ -x .venv/bin/hesuan ] || scripts/setup.sh

PGHOST=127.0.0.1
export PGOPTIONS='-c client_min_messages=warning'
PSQL=(psql -h "$PGHOST" -p 5432 -U postgres -v ON_ERROR_STOP=1 -Atq)
DB=hesuan_deploy
RESTORED_DB=hesuan_deploy_restored
REPLICA_PORT=5433
RESTORED_PORT=5434
OTHER_PORT=5436

say() { printf '== [%3d s] %s\n' "$SECONDS" "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# nginx from Debian, installed the first time, with its stream module (MLLP through TLS)
NGX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
if ! command -v nginx >/dev/null 2>&1 || [ ! -f "$NGX_STREAM" ]; then
  say "installing nginx and libnginx-mod-stream"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx \
    libnginx-mod-stream >/dev/null
fi
# OpenSSH's server and client from Debian, installed the first time (labs' files over SFTP)
if [ ! -x /usr/sbin/sshd ] || ! command -v sftp >/dev/null 2>&1; then
  say "installing openssh-server and openssh-client"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server \
    openssh-client >/dev/null
fi
pg_isready -q -h "$PGHOST" -p 5432 || fail "PostgreSQL is not up on $PGHOST:5432"
for port in $REPLICA_PORT $RESTORED_PORT $OTHER_PORT; do
  ! pg_isready -q -h "$PGHOST" -p "$port" || fail "something already listens on $PGHOST:$port"
done
PGBIN=$("${PSQL[@]}" -d postgres -c "SELECT setting FROM pg_config WHERE name = 'BINDIR'")

WORK=$(mktemp -d /tmp/hesuan-deploy.XXXXXX)
chmod 755 "$WORK"
# the SFTP chroot and the labs' keys: sshd wants every folder above them owned by root and
# writable by no one else, which /tmp is not
SFTP_ROOT=$(mktemp -d /srv/hesuan-deploy.XXXXXX)
chmod 755 "$SFTP_ROOT"
DROP=$SFTP_ROOT/drop
install -d -m 0751 "$DROP" "$SFTP_ROOT/keys"
LAB_ACCOUNTS=()
SSHD_PID=
APP_PIDS=()
MLLP_PIDS=()
RECEIVEWAL_PID=
cleanup() {
  set +e
  for pid in "${MLLP_PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  [ -n "$RECEIVEWAL_PID" ] && kill "$RECEIVEWAL_PID" 2>/dev/null && wait "$RECEIVEWAL_PID" 2>/dev/null
  for pid in "${APP_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${APP_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -f "$WORK/nginx/nginx.pid" ] && nginx -c "$WORK/nginx/nginx.conf" -s quit 2>/dev/null
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
  for account in "${LAB_ACCOUNTS[@]}"; do userdel "$account" 2>/dev/null; done
  rm -rf "$SFTP_ROOT"
  for d in replica restored pitr other; do
    [ -f "$WORK/$d/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/$d" \
      -m fast -w stop >/dev/null 2>&1
  done
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $RESTORED_DB WITH (FORCE)" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# -- the primary: a database of its own, replication allowed from this machine -------------
HBA=$("${PSQL[@]}" -d postgres -c "SHOW hba_file")
if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA"; then
  say "allowing replication from 127.0.0.1 in $HBA"
  printf 'host replication all 127.0.0.1/32 trust  # hesuan scripts/deploy-test.sh\n' >> "$HBA"
  "${PSQL[@]}" -d postgres -c "SELECT pg_reload_conf()" >/dev/null
fi
[ "$("${PSQL[@]}" -d postgres -c "SHOW wal_level")" != minimal ] || fail "the primary's wal_level is minimal"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $RESTORED_DB WITH (FORCE)"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"

# -- production settings (deploy/hesuan.env.example's, on this machine) ----------------------
export HESUAN_ENVIRONMENT=production
HESUAN_SECRET_KEY=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')
export HESUAN_SECRET_KEY
export HESUAN_DATABASE_URL="postgresql+psycopg://postgres@$PGHOST:5432/$DB"
export HESUAN_DATABASE_REPLICA_URL="postgresql+psycopg://postgres@$PGHOST:$REPLICA_PORT/$DB"
export HESUAN_PASS_KEY_DIR=$WORK/var/keys HESUAN_AUDIT_CHECKPOINT_DIR=$WORK/var/audit
export HESUAN_KEY_FILE=$WORK/var/secret.key HESUAN_SMS_SENDER=file HESUAN_SMS_FILE=$WORK/var/sms.jsonl
export HESUAN_SWEEP_EVERY=PT2S HESUAN_WORKERS=1 FORWARDED_ALLOW_IPS=127.0.0.1
export HESUAN_LAB_DROP_FOLDER=$DROP
mkdir -p "$WORK/var"
HESUAN=$ROOT/.venv/bin/hesuan
say "migrating and making the pass keys"
(cd "$WORK/var" && "$HESUAN" passes init-keys >/dev/null && "$HESUAN" db upgrade >/dev/null) \
  || fail "db upgrade / passes init-keys"

# -- the WAL archive and a base backup, for a point-in-time recovery at the end ---------------
# pg_receivewal streams every WAL segment into the archive as archive_command would
# (deploy/postgresql/primary.conf), without restarting this shared primary for archive_mode
say "WAL archive (pg_receivewal) and a base backup (pg_basebackup)"
install -d -m 755 "$WORK/wal-archive"
(exec pg_receivewal -h "$PGHOST" -p 5432 -U postgres -D "$WORK/wal-archive" \
  --no-loop > "$WORK/receivewal.log" 2>&1) &
RECEIVEWAL_PID=$!
for _ in $(seq 1 40); do ls "$WORK/wal-archive"/*.partial >/dev/null 2>&1 && break; sleep 0.25; done
ls "$WORK/wal-archive"/*.partial >/dev/null 2>&1 || fail "pg_receivewal is not streaming"
install -d -o postgres -g postgres -m 700 "$WORK/base"
runuser -u postgres -- "$PGBIN/pg_basebackup" -h "$PGHOST" -p 5432 -U postgres \
  -D "$WORK/base" -X stream -c fast

# -- the streaming replica: pg_basebackup -R into $WORK/replica, 127.0.0.1:5433 --------------
say "making the replica (pg_basebackup -R) on $PGHOST:$REPLICA_PORT"
install -d -o postgres -g postgres -m 700 "$WORK/replica" "$WORK/sock" "$WORK/pglog"
runuser -u postgres -- "$PGBIN/pg_basebackup" -h "$PGHOST" -p 5432 -U postgres \
  -D "$WORK/replica" -R -X stream -c fast
cluster_conf() {  # the settings a copy of the primary's data directory needs to start
  local dir=$1 port=$2
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$WORK/sock'"
    echo "hba_file = '$dir/pg_hba.conf'"
    echo "shared_buffers = 64MB"
    # a hot standby needs at least the primary's values of these
    for s in max_connections max_worker_processes max_wal_senders max_prepared_transactions \
             max_locks_per_transaction; do
      echo "$s = $("${PSQL[@]}" -d postgres -c "SHOW $s")"
    done
    cat "$ROOT/deploy/postgresql/replica.conf"
  } > "$dir/postgresql.conf"
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' > "$dir/pg_hba.conf"
  chown postgres:postgres "$dir/postgresql.conf" "$dir/pg_hba.conf"
}
cluster_conf "$WORK/replica" $REPLICA_PORT
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/replica" -l "$WORK/pglog/replica.log" -w -t 60 start >/dev/null
for _ in $(seq 1 60); do
  st=$(psql -h "$PGHOST" -p $REPLICA_PORT -U postgres -d postgres -Atqc \
       "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
  [ "$st" = streaming ] && break
  sleep 0.5
done
[ "$st" = streaming ] || fail "the replica is not streaming (see $WORK/pglog/replica.log)"
[ "$(psql -h "$PGHOST" -p $REPLICA_PORT -U postgres -d postgres -Atqc 'SELECT pg_is_in_recovery()')" = t ] \
  || fail "the replica is not in recovery"

# -- a replica URL that names another cluster is refused at start ---------------------------
# (its figures would be shown as the city's): a fresh cluster on 127.0.0.1:$OTHER_PORT
say "a replica URL naming another cluster (127.0.0.1:$OTHER_PORT) is refused"
install -d -o postgres -g postgres -m 700 "$WORK/other"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/other" -A trust -U postgres --no-sync >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/other" -l "$WORK/pglog/other.log" \
  -o "-p $OTHER_PORT -k $WORK/sock -c listen_addresses=127.0.0.1" -w -t 60 start >/dev/null
refused=$(cd "$WORK/var" && HESUAN_DATABASE_REPLICA_URL="postgresql+psycopg://postgres@$PGHOST:$OTHER_PORT/postgres" \
  "$HESUAN" audit verify 2>&1) && fail "a start with another cluster as its replica went on"
grep -q "HESUAN_DATABASE_REPLICA_URL.*another PostgreSQL cluster" <<<"$refused" \
  || fail "the refusal does not name the setting: $refused"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/other" -m fast -w stop >/dev/null
# and one that was down at start is refused when it comes up: the reports that read it answer
# replica_not_a_copy, not the other cluster's figures; the rest reads the primary as before
say "a replica down at start that comes up as another cluster is refused then"
(cd "$WORK/var" && HESUAN_DATABASE_REPLICA_URL="postgresql+psycopg://postgres@$PGHOST:$OTHER_PORT/postgres" \
  OTHER_START="runuser -u postgres -- $PGBIN/pg_ctl -D $WORK/other -l $WORK/pglog/other.log -o '-p $OTHER_PORT -k $WORK/sock -c listen_addresses=127.0.0.1' -w -t 60 start" \
  "$ROOT/.venv/bin/python" - <<'PY'
import os
import subprocess

from hesuan.bootstrap import bootstrap
from hesuan.config import Settings
from hesuan.domain.errors import StoreUnavailable
from hesuan.services.auth import SYSTEM

p = bootstrap(Settings(), migrate=False)  # the replica cannot be reached: the start goes on
try:
    subprocess.run(os.environ["OTHER_START"], shell=True, check=True, stdout=subprocess.DEVNULL)
    for read in (lambda: p.reports.turnaround(SYSTEM), p.reads.age_s):
        try:
            read()
        except StoreUnavailable as e:
            assert e.code == "replica_not_a_copy", (e.code, e.message)
            assert "another PostgreSQL cluster" in e.message, e.message
        else:
            raise SystemExit("a replica that came up as another cluster was read")
    assert p.audit.verify(SYSTEM).intact  # the primary's reads as before
finally:
    p.close()
PY
) || fail "a replica that came up as another cluster was not refused"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/other" -m fast -w stop >/dev/null

# -- two app processes, as hesuan@.service runs them ---------------------------------------
APP1=$(free_port); APP2=$(free_port); HTTPS=$(free_port); HTTP=$(free_port)
MLLP1=$(free_port); MLLP2=$(free_port); LISTEN1=$(free_port); LISTEN2=$(free_port)
AUTHORITY=$(free_port)

# -- the receiving authority of the lab reports, over MLLP with TLS both ways ----------------
# its own certificate for its name, and the city's client certificate it requires
mkdir -p "$WORK/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=authority" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/tls/authority.key" \
  -out "$WORK/tls/authority-ca.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=city" \
  -keyout "$WORK/tls/city.key" -out "$WORK/tls/city.crt" 2>/dev/null
(PYTHONPATH=$ROOT exec "$ROOT/.venv/bin/python" -m tests.deploy.authority --port "$AUTHORITY" \
   --cert "$WORK/tls/authority-ca.crt" --key "$WORK/tls/authority.key" \
   --client-ca "$WORK/tls/city.crt" --out "$WORK/authority.jsonl" > "$WORK/authority.log" 2>&1) &
MLLP_PIDS+=($!)
# every result reported, HL7 v2 over MLLP inside TLS: the authority's certificate checked,
# the city's shown
export HESUAN_ELR_ENABLED=true HESUAN_ELR_RESULTS=all HESUAN_ELR_FORMATS=hl7 \
  HESUAN_ELR_DELIVERY=mllp HESUAN_ELR_MLLP_HOST=127.0.0.1 HESUAN_ELR_MLLP_PORT=$AUTHORITY \
  HESUAN_ELR_MLLP_TLS_CA=$WORK/tls/authority-ca.crt HESUAN_ELR_MLLP_TLS_CERT=$WORK/tls/city.crt \
  HESUAN_ELR_MLLP_TLS_KEY=$WORK/tls/city.key HESUAN_ELR_MLLP_TIMEOUT=3 \
  HESUAN_ELR_CLAIM_TIMEOUT_S=4 \
  HESUAN_ELR_SENDING_APPLICATION_OID=2.16.156.10011.99.1 HESUAN_ELR_SENDING_FACILITY=city \
  HESUAN_ELR_SENDING_FACILITY_OID=2.16.156.10011.99.2 HESUAN_ELR_RECEIVING_APPLICATION=elr \
  HESUAN_ELR_RECEIVING_APPLICATION_OID=2.16.156.10011.99.3 \
  HESUAN_ELR_RECEIVING_FACILITY=authority HESUAN_ELR_RECEIVING_FACILITY_OID=2.16.156.10011.99.4
for port in "$APP1" "$APP2"; do
  say "app process on 127.0.0.1:$port"
  # with the unit's UMask=0077
  (cd "$WORK/var" && umask 0077 && exec "$HESUAN" serve --host 127.0.0.1 --port "$port" \
     --workers 1 > "$WORK/app-$port.log" 2>&1) &
  APP_PIDS+=($!)
done
for port in "$APP1" "$APP2"; do
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.25
  done
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null || fail "app on $port did not start ($WORK/app-$port.log)"
done

# the scheduler runs once: one session holds the scheduler's lease (adapters/db/lease.py)
lease_holders() {
  "${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND ((classid::bigint << 32) | objid::bigint) = 74110010"
}
for _ in $(seq 1 40); do [ "$(lease_holders)" = 1 ] && break; sleep 0.25; done
[ "$(lease_holders)" = 1 ] || fail "the scheduler's lease is held $(lease_holders) times, not once"

# -- nginx with deploy/nginx/hesuan.conf: TLS on a local port, the two processes upstream ----
say "nginx on https://127.0.0.1:$HTTPS"
mkdir -p "$WORK/tls" "$WORK/nginx"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/tls/hesuan.key" \
  -out "$WORK/tls/hesuan.crt" 2>/dev/null
site=$WORK/nginx/hesuan.conf
sed -e "s|listen 80;|listen 127.0.0.1:$HTTP;|" \
    -e "s|listen 443 ssl http2;|listen 127.0.0.1:$HTTPS ssl http2;|" \
    -e '/listen \[::\]/d' \
    -e "s|/etc/hesuan/tls/|$WORK/tls/|" \
    -e "s|server 127.0.0.1:8001 |server 127.0.0.1:$APP1 |" \
    -e "s|server 127.0.0.1:8002 |server 127.0.0.1:$APP2 |" deploy/nginx/hesuan.conf > "$site"
for want in "127.0.0.1:$HTTPS ssl" "127.0.0.1:$APP1 " "127.0.0.1:$APP2 " "$WORK/tls/hesuan.crt"; do
  grep -qF "$want" "$site" || fail "deploy/nginx/hesuan.conf changed: cannot place $want"
done
# the labs' systems: each lab's own self-signed client certificate, pinned by its server
for lab in lab1 lab2; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$lab LIS" \
    -keyout "$WORK/tls/$lab.key" -out "$WORK/tls/$lab.crt" 2>/dev/null
done
mllp=$WORK/nginx/hesuan-mllp.conf
sed -e "s|listen 2575 ssl;|listen 127.0.0.1:$MLLP1 ssl;|" \
    -e "s|listen 2576 ssl;|listen 127.0.0.1:$MLLP2 ssl;|" \
    -e "s|/etc/hesuan/tls/|$WORK/tls/|" -e "s|/etc/hesuan/labs/|$WORK/tls/|" \
    -e "s|127.0.0.1:2675;|127.0.0.1:$LISTEN1;|" \
    -e "s|127.0.0.1:2676;|127.0.0.1:$LISTEN2;|" deploy/nginx/hesuan-mllp.conf > "$mllp"
for want in "127.0.0.1:$MLLP1 ssl" "127.0.0.1:$MLLP2 ssl" "$WORK/tls/lab1.crt" \
            "$WORK/tls/lab2.crt" "127.0.0.1:$LISTEN1;" "127.0.0.1:$LISTEN2;"; do
  grep -qF "$want" "$mllp" || fail "deploy/nginx/hesuan-mllp.conf changed: cannot place $want"
done
cat > "$WORK/nginx/nginx.conf" <<EOF
load_module $NGX_STREAM;
include $mllp;
user root;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstreams '\$request_method \$uri \$status "\$upstream_addr" "\$upstream_status"';
  access_log $WORK/nginx/access.log upstreams;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  include $site;
}
EOF
nginx -t -q -c "$WORK/nginx/nginx.conf" || fail "nginx -t"
nginx -c "$WORK/nginx/nginx.conf"
curl -fsS --cacert "$WORK/tls/hesuan.crt" "https://127.0.0.1:$HTTPS/health" >/dev/null \
  || fail "nginx does not answer over TLS"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/health")" = 301 ] \
  || fail "plain HTTP is not redirected to HTTPS"

# -- the round through nginx, reports from the replica, a process killed under scans ---------
say "round through nginx; reports from the replica; the app process on $APP1 killed under scans"
(cd "$WORK/var" && PYTHONPATH=$ROOT "$ROOT/.venv/bin/python" -m tests.deploy.drive_round \
  --base "https://127.0.0.1:$HTTPS" --cafile "$WORK/tls/hesuan.crt" \
  --replica-dsn "host=$PGHOST port=$REPLICA_PORT dbname=$DB user=postgres" \
  --primary-dsn "host=$PGHOST port=5432 dbname=$DB user=postgres" \
  --kill-pid "${APP_PIDS[0]}" --people 300) > "$WORK/round.json" \
  || fail "the round (see $WORK/app-*.log, $WORK/nginx/error.log)"
PYTHONPATH=$ROOT .venv/bin/python - "$WORK/round.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"   reports read on the replica: {r['report_calls']} calls, its commits +{r['replica_commits']}, "
      f"data {r['read_age_s']} s old")
print(f"   {r['scans_answered']} scans answered while a process was killed "
      f"({r['retried']} sent again by the stations), none lost")
EOF
kill -0 "${APP_PIDS[0]}" 2>/dev/null && fail "the killed app process is alive"
for _ in $(seq 1 40); do [ "$(lease_holders)" = 1 ] && break; sleep 0.25; done
[ "$(lease_holders)" = 1 ] || fail "no process took the scheduler's lease over"
# nginx's own account: both processes served scans, and the scans in flight on the killed
# one (its answer never came) were sent again to the other
served1=$(grep -c "^POST /scans 200 \"127.0.0.1:$APP1\"" "$WORK/nginx/access.log" || true)
served2=$(grep -c "^POST /scans 200 \"127.0.0.1:$APP2\"" "$WORK/nginx/access.log" || true)
resent=$(grep -c "^POST /scans 200 \"127.0.0.1:$APP1, 127.0.0.1:$APP2\"" "$WORK/nginx/access.log" || true)
echo "   nginx: scans answered by $APP1 (killed) $served1, by $APP2 $served2; in flight on the killed one and sent to the other: $resent"
[ "$served1" -gt 0 ] && [ "$served2" -gt 0 ] || fail "both app processes did not serve scans"
curl -fsS --cacert "$WORK/tls/hesuan.crt" "https://127.0.0.1:$HTTPS/health" >/dev/null \
  || fail "nginx does not answer with one process left"

# -- labs' systems over MLLP: nginx's TLS, each lab's certificate, each lab's listener --------
say "labs' systems over MLLP (hesuan mllp behind nginx's TLS, a certificate a lab)"
lab_id() { "${PSQL[@]}" -d "$DB" -c "SELECT id FROM labs WHERE name = '$1'"; }
LAB1=$(lab_id 太原市第一检测实验室); LAB2=$(lab_id 山西金域检测实验室)
[ -n "$LAB1" ] && [ -n "$LAB2" ] || fail "the example city's labs are not in the database"
for n in 1 2; do  # as hesuan-mllp@lab<n>.service runs it, its port and lab from its own file
  lab=LAB$n; listen=LISTEN$n
  (cd "$WORK/var" && HESUAN_MLLP_LAB=${!lab} HESUAN_MLLP_PORT=${!listen} \
     exec "$HESUAN" mllp --host 127.0.0.1 > "$WORK/mllp-lab$n.log" 2>&1) &
  MLLP_PIDS+=($!)
done
for n in 1 2; do
  for _ in $(seq 1 80); do grep -q "MLLP listening" "$WORK/mllp-lab$n.log" && break; sleep 0.25; done
  grep -q "MLLP listening" "$WORK/mllp-lab$n.log" || fail "lab$n's listener did not start"
done
lis() {  # port, certificate (or none), control id: the ACK's MSA-1, or "refused"
  local cert=()
  [ "$2" != none ] && cert=(--cert "$WORK/tls/$2.crt" --key "$WORK/tls/$2.key")
  PYTHONPATH=$ROOT "$ROOT/.venv/bin/python" -m tests.deploy.send_mllp --port "$1" \
    --cafile "$WORK/tls/hesuan.crt" "${cert[@]}" --control-id "$3" --barcode NOSUCHTUBE1
}
# a tube the lab does not hold: kept in its inbox, answered AE (unknown_tube), as the lab's
got=$(lis "$MLLP1" lab1 DEPLOY-1); [ "$got" = AE ] || fail "lab1's system got $got, not AE"
got=$(lis "$MLLP2" lab2 DEPLOY-2); [ "$got" = AE ] || fail "lab2's system got $got, not AE"
# no certificate, or another lab's on this lab's port: no connection to its listener
got=$(lis "$MLLP1" none DEPLOY-3); [ "$got" = refused ] || fail "no certificate got $got"
got=$(lis "$MLLP1" lab2 DEPLOY-4); [ "$got" = refused ] || fail "lab2's certificate on lab1's port got $got"
kept=$("${PSQL[@]}" -d "$DB" -c "SELECT string_agg(control_id || '@' || (lab_id = '$LAB1')::text
  || '/' || via, ' ' ORDER BY control_id) FROM lab_messages WHERE control_id LIKE 'DEPLOY-%'")
[ "$kept" = "DEPLOY-1@true/mllp DEPLOY-2@false/mllp" ] || fail "lab messages kept: $kept"
echo "   each lab's message kept as its own; none without its certificate: $kept"
# -- labs' results files over SFTP: sshd's internal-sftp in a chroot, an account a lab --------
say "labs' results files over SFTP (internal-sftp in the drop folder, an account a lab)"
SFTP=$(free_port)
mkdir -p "$WORK/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/host"
: > "$WORK/ssh/hesuan-labs.conf"
for n in 1 2; do  # each lab's account, group, key, folder and Match block, as DEPLOY.md says
  lab=LAB$n; account=hesuan-test-lab$n
  id "$account" >/dev/null 2>&1 && fail "an account $account is already on this machine"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$account"
  LAB_ACCOUNTS+=("$account")
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/$account"
  install -m 0644 "$WORK/ssh/$account.pub" "$SFTP_ROOT/keys/$account.pub"
  install -d -m 2770 -g "$account" "$DROP/${!lab}"
  sed -e "s|^Match User lab-east$|Match User $account|" \
      -e "s|ChrootDirectory /srv/hesuan/drop$|ChrootDirectory $DROP|" \
      -e "s|internal-sftp -d /LAB_ID |internal-sftp -d /${!lab} |" \
      -e "s|AuthorizedKeysFile /etc/hesuan/labs/%u.pub$|AuthorizedKeysFile $SFTP_ROOT/keys/%u.pub|" \
      deploy/ssh/hesuan-labs.conf >> "$WORK/ssh/hesuan-labs.conf"
  for want in "Match User $account" "ChrootDirectory $DROP" "internal-sftp -d /${!lab} -u" \
              "AuthorizedKeysFile $SFTP_ROOT/keys/%u.pub"; do
    grep -qF "$want" "$WORK/ssh/hesuan-labs.conf" \
      || fail "deploy/ssh/hesuan-labs.conf changed: cannot place $want"
  done
done
printf '%s\n' "ListenAddress 127.0.0.1:$SFTP" "HostKey $WORK/ssh/host" \
  "PidFile $WORK/ssh/sshd.pid" "UsePAM yes" "Subsystem sftp internal-sftp" \
  "Include $WORK/ssh/hesuan-labs.conf" > "$WORK/ssh/sshd_config"
/usr/sbin/sshd -t -f "$WORK/ssh/sshd_config" || fail "sshd -t"
/usr/sbin/sshd -D -e -f "$WORK/ssh/sshd_config" 2> "$WORK/ssh/sshd.log" &
SSHD_PID=$!
sftp_as() {  # lab number, the batch on stdin: sftp's exit status
  sftp -q -b - -i "$WORK/ssh/hesuan-test-lab$1" -P "$SFTP" -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "hesuan-test-lab$1@127.0.0.1"
}
for _ in $(seq 1 40); do echo pwd | sftp_as 1 >/dev/null 2>&1 && break; sleep 0.25; done
PYTHONPATH=$ROOT "$ROOT/.venv/bin/python" -c "
import sys; from tests.deploy.send_mllp import oru
open(sys.argv[1], 'wb').write(oru('DROP-1', 'NOSUCHTUBE1'))" "$WORK/ssh/r1.hl7"
# written under a name the pass leaves, then renamed, as a lab's system sends a file
printf '%s\n' "put $WORK/ssh/r1.hl7 r1.hl7.part" "rename r1.hl7.part r1.hl7" \
  | sftp_as 1 > "$WORK/ssh/put.log" 2>&1 || fail "lab1 could not upload ($WORK/ssh/put.log)"
for _ in $(seq 1 60); do  # the scheduler's pass (every 2 s here) receives it
  echo "get ack/r1.hl7.ack $WORK/ssh/r1.hl7.ack" | sftp_as 1 >/dev/null 2>&1 && break
  sleep 0.25
done
[ -f "$WORK/ssh/r1.hl7.ack" ] || fail "lab1 cannot read its ACK: $(ls -lR "$DROP/$LAB1" 2>&1)"
msa=$(tr '\r' '\n' < "$WORK/ssh/r1.hl7.ack" | grep '^MSA')
case $msa in "MSA|AE|DROP-1"*) ;; *) fail "lab1's ACK: $msa" ;; esac
echo "ls done/r1.hl7" | sftp_as 1 >/dev/null 2>&1 || fail "lab1's file is not in its done folder"
# the other lab: neither the labs' folders nor lab1's, nor what is in it
echo "ls /" | sftp_as 2 >/dev/null 2>&1 && fail "lab2 lists the labs' folders"
echo "ls /$LAB1" | sftp_as 2 >/dev/null 2>&1 && fail "lab2 lists lab1's folder"
echo "get /$LAB1/ack/r1.hl7.ack $WORK/ssh/other.ack" | sftp_as 2 >/dev/null 2>&1 \
  && fail "lab2 read lab1's ACK"
kept=$("${PSQL[@]}" -d "$DB" -c "SELECT (lab_id = '$LAB1')::text || '/' || via
  FROM lab_messages WHERE control_id = 'DROP-1'")
[ "$kept" = "true/file" ] || fail "the dropped file's message: $kept"
echo "   lab1's file received as its own (${msa%%^*}); lab2 enters neither the folders nor lab1's"
say "the round's lab reports at the authority (MLLP inside TLS)"
# the round's result reached the authority, one report a person of the tube, inside TLS with
# the city's certificate, and each is marked sent. A report in flight on the killed process
# (handed over, its mark never written) is in doubt once its claim is stale
# (HESUAN_ELR_CLAIM_TIMEOUT_S): an operator settles it by the authority's own record
# (`hesuan elr --in-doubt`, then `--sent`), as docs/INTEROP.md says
reported() { "${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM elr_outbox WHERE sent_at IS NOT NULL"; }
in_doubt() {
  (cd "$WORK/var" && "$HESUAN" elr --in-doubt 2>/dev/null) | "$ROOT/.venv/bin/python" -c '
import json, sys
print(" ".join(q["message_id"] for q in json.load(sys.stdin)))'
}
for i in $(seq 1 120); do
  [ "$(reported)" -ge 10 ] && break
  if [ $((i % 12)) = 0 ]; then  # every 3 s: the command is a process of its own
    doubt=$(in_doubt)
    [ -n "$doubt" ] && [ "$(( $(reported) + $(wc -w <<< "$doubt") ))" -ge 10 ] && break
  fi
  sleep 0.25
done
doubt=$(in_doubt)
if [ -n "$doubt" ]; then
  for id in $doubt; do
    grep -qF "\"control_id\": \"$id\"" "$WORK/authority.jsonl" \
      || fail "report $id in doubt is not at the authority: it would be sent again (--resend)"
  done
  # shellcheck disable=SC2046  # one --sent a message id
  (cd "$WORK/var" && "$HESUAN" elr $(printf -- '--sent %s ' $doubt)) >/dev/null \
    || fail "hesuan elr --sent"
  echo "   in doubt after the kill, the authority's record settles them: $doubt"
fi
[ "$(reported)" -ge 10 ] || fail "reports sent: $(reported) of 10 (see $WORK/app-*.log)"
"$ROOT/.venv/bin/python" - "$WORK/authority.jsonl" "$(reported)" <<'PY' || fail "the authority's account"
import json, sys
got = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
assert len(got) == len({g["control_id"] for g in got}) == int(sys.argv[2]), (len(got), sys.argv[2])
assert {(g["type"], g["client"]) for g in got} == {("ORU^R01^ORU_R01", "city")}, got[:2]
print(f"   {len(got)} lab reports at the authority over TLS, once each, the city's certificate shown")
PY
# systemd stops a unit with SIGTERM: the process exits 0 and its scheduler, holding the
# lease, signs a last checkpoint of everything written up to then
kill "${APP_PIDS[1]}"
status=0; wait "${APP_PIDS[1]}" || status=$?
APP_PIDS=()
[ "$status" = 0 ] || fail "the app process exited $status on SIGTERM"
(cd "$WORK/var" && "$HESUAN" audit verify --json 2>/dev/null) | .venv/bin/python -c '
import json, sys
r = json.load(sys.stdin)
sys.exit(0 if r["verdict"] == "intact" and r["checkpoint"]["seq"] == r["head_seq"] else 1)' \
  || fail "the last checkpoint does not cover the audit chain after the stop"

# -- backups: a logical copy restored into a new database ------------------------------------
say "hesuan backup create / restore into $RESTORED_DB"
(cd "$WORK/var" && "$HESUAN" backup create "$WORK/backup/hesuan.dump" >/dev/null 2>&1) \
  || fail "hesuan backup create"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $RESTORED_DB"
RESTORED_URL="postgresql+psycopg://postgres@$PGHOST:5432/$RESTORED_DB"
(cd "$WORK/var" && "$HESUAN" backup restore "$WORK/backup/hesuan.dump" --to "$RESTORED_URL") \
  || fail "hesuan backup restore: rows differ from the manifest"
(cd "$WORK/var" && unset HESUAN_DATABASE_REPLICA_URL && HESUAN_DATABASE_URL=$RESTORED_URL \
  "$HESUAN" audit verify) || fail "audit chain of the restored database"

# -- a physical copy (pg_basebackup) started as a new cluster ---------------------------------
say "pg_basebackup restored as a new cluster on $PGHOST:$RESTORED_PORT"
install -d -o postgres -g postgres -m 700 "$WORK/restored"
runuser -u postgres -- "$PGBIN/pg_basebackup" -h "$PGHOST" -p 5432 -U postgres \
  -D "$WORK/restored" -X stream -c fast
cluster_conf "$WORK/restored" $RESTORED_PORT
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/restored" -l "$WORK/pglog/restored.log" -w -t 60 start >/dev/null
PHYSICAL_URL="postgresql+psycopg://postgres@$PGHOST:$RESTORED_PORT/$DB"
as_in_manifest() {  # every table of the database at $1 has the manifest's rows, and the log
  # the audit entry of `backup create` itself, written after the copy
  .venv/bin/python - "$WORK/backup/hesuan.dump.manifest.json" "$1" <<'EOF'
import json, sys
from sqlalchemy import create_engine, inspect, text
manifest = json.load(open(sys.argv[1]))["tables"]
manifest["audit_log"] += 1
eng = create_engine(sys.argv[2])
with eng.connect() as c:
    counted = {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
               for t in inspect(c).get_table_names()}
diff = {t: (manifest.get(t), counted.get(t)) for t in set(manifest) | set(counted)
        if manifest.get(t) != counted.get(t)}
print(f"   {sum(counted.values())} rows in {len(counted)} tables, as the manifest says"
      if not diff else f"   differ: {diff}")
sys.exit(1 if diff else 0)
EOF
}
as_in_manifest "$PHYSICAL_URL" || fail "the physical copy's rows differ from the manifest"
(cd "$WORK/var" && unset HESUAN_DATABASE_REPLICA_URL && HESUAN_DATABASE_URL=$PHYSICAL_URL \
  "$HESUAN" audit verify) || fail "audit chain of the physical copy"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/restored" -m fast -w stop >/dev/null

# -- point-in-time recovery: the base backup of the start and the WAL archive ----------------
# a moment, then an operator's mistake on the primary: station_events dropped
T1=$("${PSQL[@]}" -d postgres -c "SELECT now()")
sleep 1
"${PSQL[@]}" -d "$DB" -c "DROP TABLE station_events CASCADE"
SEGMENT=$("${PSQL[@]}" -d postgres -c "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 80); do [ -f "$WORK/wal-archive/$SEGMENT" ] && break; sleep 0.25; done
[ -f "$WORK/wal-archive/$SEGMENT" ] || fail "WAL segment $SEGMENT was not archived"
say "point-in-time recovery to $T1 (before the table was dropped) on $PGHOST:$RESTORED_PORT"
chmod -R a+rX "$WORK/wal-archive"  # written by root, read by the postgres user's restore_command
install -d -o postgres -g postgres -m 700 "$WORK/pitr"
cp -a "$WORK/base/." "$WORK/pitr/"
cluster_conf "$WORK/pitr" $RESTORED_PORT
{
  echo "restore_command = 'cp $WORK/wal-archive/%f %p'"
  echo "recovery_target_time = '$T1'"
  echo "recovery_target_action = 'promote'"
} >> "$WORK/pitr/postgresql.conf"
runuser -u postgres -- touch "$WORK/pitr/recovery.signal"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pitr" -l "$WORK/pglog/pitr.log" -w -t 120 start >/dev/null
in_recovery() {
  psql -h "$PGHOST" -p $RESTORED_PORT -U postgres -d postgres -Atqc 'SELECT pg_is_in_recovery()' 2>/dev/null
}
for _ in $(seq 1 240); do [ "$(in_recovery)" = f ] && break; sleep 0.25; done
[ "$(in_recovery)" = f ] || fail "recovery did not reach $T1 (see $WORK/pglog/pitr.log)"
as_in_manifest "$PHYSICAL_URL" || fail "the recovered database's rows differ from the manifest"
(cd "$WORK/var" && unset HESUAN_DATABASE_REPLICA_URL && HESUAN_DATABASE_URL=$PHYSICAL_URL \
  "$HESUAN" audit verify) || fail "audit chain of the recovered database"

say "deployment test passed"

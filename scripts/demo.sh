#!/usr/bin/env bash
# The demo, on a fresh machine: set up the environment, generate a 50,000-person synthetic city
# into var/demo.db (SQLite) unless it is there already, simulate a 72 h testing round through the
# real services from local midnight yesterday up to now (with one of each seeded fault), so that
# now is inside the round with queues, tubes, boxes and lab work in flight, print the demo
# accounts for every role and things to scan at the station page, and serve the API and web
# pages on 127.0.0.1:8000.
#
#   scripts/demo.sh            reuse var/demo.db if it exists
#   scripts/demo.sh --fresh    throw it away and make a new city and round
#
# Environment: DEMO_PEOPLE (50000), DEMO_SEED (1), DEMO_DIR (var), HESUAN_PORT (8000).
set -euo pipefail
cd "$(dirname "$0")/.."

fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $arg (use --fresh)" >&2; exit 2 ;;
  esac
done

# compiled modules are kept in __pycache__ (an environment's PYTHONDONTWRITEBYTECODE overridden:
# the set-up installs without compiling, each module is compiled once, when first imported)
unset PYTHONDONTWRITEBYTECODE
scripts/setup.sh

dir="${DEMO_DIR:-var}"
export HESUAN_DATABASE_URL="sqlite:///${dir}/demo.db"
export HESUAN_KEY_FILE="${HESUAN_KEY_FILE:-${dir}/demo-secret.key}"
export HESUAN_SMS_SENDER="${HESUAN_SMS_SENDER:-file}"
export HESUAN_SMS_FILE="${HESUAN_SMS_FILE:-${dir}/demo-sms.jsonl}"
# the demo's own pass keys and audit checkpoints: a database made by "Running it yourself"
# under var/ has its own chain, whose checkpoints another chain's would make look forged
keys="${dir}/demo-keys"
audit="${dir}/demo-audit"
if [ "$fresh" = 0 ] && [ -f "$dir/demo.db" ] && [ ! -d "$keys" ]; then
  # a demo city made before they were its own keeps the folders it was made with
  if [ "$dir" = var ]; then keys=var/keys; else keys="${dir}/pass-keys"; fi
  audit="${dir}/audit"
fi
export HESUAN_PASS_KEY_DIR="${HESUAN_PASS_KEY_DIR:-$keys}"
export HESUAN_AUDIT_CHECKPOINT_DIR="${HESUAN_AUDIT_CHECKPOINT_DIR:-$audit}"
# the round's electronic lab reports to the health authority (its positive results, HL7 v2
# and FHIR) as files in a folder of the demo's own (docs/INTEROP.md "Out")
if [ -z "${HESUAN_ELR_ENABLED:-}" ]; then
  export HESUAN_ELR_ENABLED=true HESUAN_ELR_RESULTS=positive HESUAN_ELR_FOLDER="${dir}/demo-elr" \
    HESUAN_ELR_SENDING_APPLICATION_OID=2.16.156.10011.99.1 \
    HESUAN_ELR_SENDING_FACILITY="太原市核酸检测平台" HESUAN_ELR_SENDING_FACILITY_OID=2.16.156.10011.99.2 \
    HESUAN_ELR_SENDING_FACILITY_SHORT=HESUAN \
    HESUAN_ELR_RECEIVING_APPLICATION=SXCDC-ELR HESUAN_ELR_RECEIVING_APPLICATION_OID=2.16.156.10011.99.3 \
    HESUAN_ELR_RECEIVING_FACILITY="山西省疾病预防控制中心" \
    HESUAN_ELR_RECEIVING_FACILITY_OID=2.16.156.10011.99.4 HESUAN_ELR_RECEIVING_FACILITY_SHORT=SXCDC
fi
people="${DEMO_PEOPLE:-50000}"
seed="${DEMO_SEED:-1}"
hesuan=.venv/bin/hesuan
mkdir -p "$dir"

if [ "$fresh" = 1 ] || [ ! -f "$dir/demo.db" ] || [ -f "$dir/demo.incomplete" ]; then
  touch "$dir/demo.incomplete"
  rm -rf "${dir}/demo-elr"  # the reports of the city this one replaces
  start=$(.venv/bin/python -c 'from datetime import UTC, datetime
from hesuan.sim.simulate import current_round_start
print(current_round_start(datetime.now(UTC)).isoformat())')
  echo "== generating a ${people}-person city (seed ${seed}) into ${dir}/demo.db"
  "$hesuan" city generate --fresh --people "$people" --seed "$seed" --start "$start"
  echo "== simulating a 72 h testing round from ${start} up to now (it goes on past now)"
  "$hesuan" simulate --start "$start" --until now --hours 72 --prevalence 0.001 --seed "$seed" \
    --tick 60 --faults lost_tube,box_missing_tube,unknown_result,late_courier,miscounted_box
  rm -f "$dir/demo.incomplete"
else
  echo "== reusing ${dir}/demo.db: its round stopped when it was made (scripts/demo.sh --fresh"
  echo "   makes a new one around now)"
  "$hesuan" db upgrade  # a city made by an older version; only db upgrade, serve and city generate migrate
fi

"$hesuan" city accounts
"$hesuan" city codes
port="${HESUAN_PORT:-8000}"
echo "== serving on http://127.0.0.1:${port}  (API docs: http://127.0.0.1:${port}/docs; Ctrl-C stops)"
# the settings a second terminal needs to read this city: its database and the keys a start
# checks against it (its secret, its pass keys and audit checkpoints)
settings=("HESUAN_DATABASE_URL=$HESUAN_DATABASE_URL" "HESUAN_KEY_FILE=$HESUAN_KEY_FILE")
for name in HESUAN_PASS_KEY_DIR HESUAN_AUDIT_CHECKPOINT_DIR; do
  if [ -n "${!name:-}" ]; then settings+=("$name=${!name}"); fi
done
printf '   reports:'
printf ' %q' "${settings[@]}" "$hesuan" report coverage --level district
printf '\n'
exec "$hesuan" serve --host 127.0.0.1 --port "$port"

#!/usr/bin/env bash
# The demo, on a fresh machine: set up the environment, generate a 50,000-person synthetic city
# into var/demo.db (SQLite) unless it is there already, simulate a 72 h testing round through the
# real services (with one of each seeded fault, so reconciliation has something to show), print
# the demo accounts for every role, and serve the API and web pages on 127.0.0.1:8000.
#
#   scripts/demo.sh            reuse var/demo.db if it exists
#   scripts/demo.sh --fresh    throw it away and make a new city and round
#
# Environment: DEMO_PEOPLE (50000), DEMO_SEED (1), HESUAN_PORT (8000).
set -euo pipefail
cd "$(dirname "$0")/.."

fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $arg (use --fresh)" >&2; exit 2 ;;
  esac
done

scripts/setup.sh

export HESUAN_DATABASE_URL="sqlite:///var/demo.db"
export HESUAN_KEY_FILE="${HESUAN_KEY_FILE:-var/demo-secret.key}"
export HESUAN_SMS_SENDER="${HESUAN_SMS_SENDER:-file}"
export HESUAN_SMS_FILE="${HESUAN_SMS_FILE:-var/demo-sms.jsonl}"
people="${DEMO_PEOPLE:-50000}"
seed="${DEMO_SEED:-1}"
hesuan=.venv/bin/hesuan
mkdir -p var

if [ "$fresh" = 1 ] || [ ! -f var/demo.db ] || [ -f var/demo.incomplete ]; then
  touch var/demo.incomplete
  start=$(.venv/bin/python -c \
    'from hesuan.sim.simulate import default_round_start; print(default_round_start().isoformat())')
  echo "== generating a ${people}-person city (seed ${seed}) into var/demo.db"
  "$hesuan" city generate --fresh --people "$people" --seed "$seed" --start "$start"
  echo "== simulating a 72 h testing round from ${start}"
  "$hesuan" simulate --start "$start" --hours 72 --prevalence 0.001 --seed "$seed" --tick 60 \
    --faults lost_tube,box_missing_tube,unknown_result,late_courier \
    || echo "warning: the round's reconciliation did not match the injected faults (see above)"
  rm -f var/demo.incomplete
else
  echo "== reusing var/demo.db (scripts/demo.sh --fresh makes a new one)"
  "$hesuan" db upgrade  # a city made by an older version; only db upgrade, serve and city generate migrate
fi

"$hesuan" city accounts
port="${HESUAN_PORT:-8000}"
echo "== serving on http://127.0.0.1:${port}  (API docs: http://127.0.0.1:${port}/docs; Ctrl-C stops)"
echo "   reports: HESUAN_DATABASE_URL=sqlite:///var/demo.db $hesuan report coverage --level district"
exec "$hesuan" serve --host 127.0.0.1 --port "$port"

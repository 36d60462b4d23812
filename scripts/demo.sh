#!/usr/bin/env bash
# The main job on embedded defaults: the bundled Defender simulator ("Company XYZ" scenario), a private
# AIRFLOW_HOME with a SQLite metadata DB, the embedded SQLite story store, then the xops_email_security DAG
# run with `airflow dags test`, and the stories it produced.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH"

DEMO="${XOPS_DEMO_DIR:-$ROOT/.demo}"
# The simulator builds a new world on every start, so the demo starts from an empty store too.
rm -rf "$DEMO" && mkdir -p "$DEMO"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$DEMO/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}"
SIM="$DEMO/simulator"
rm -rf "$SIM" && mkdir -p "$SIM"

xops simulator serve --port 0 --state-dir "$SIM" --scenario company-xyz --seed 7 >"$SIM/serve.log" 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  [ -f "$SIM/connection.json" ] && [ -f "$SIM/ready" ] && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$SIM/serve.log" >&2; exit 1; }
  sleep 0.2
done
AIRFLOW_CONN_MS_TENANT_DEFAULT="$(cat "$SIM/connection.json")"
export AIRFLOW_CONN_MS_TENANT_DEFAULT
echo "Simulator ready (Company XYZ scenario); state in $SIM"

if [ -f dags/xops_email_security.py ]; then
  airflow db migrate >"$DEMO/db-migrate.log" 2>&1
  echo "Running the xops_email_security DAG (airflow dags test)..."
  airflow dags test xops_email_security >"$DEMO/dags-test.log" 2>&1 || { tail -50 "$DEMO/dags-test.log" >&2; exit 1; }
  echo
  echo "xops sync audit --integration default   (Graph's listing against the store)"
  xops sync audit --integration default
  echo
  xops stories list
  echo
  STORY_IDS="$(xops stories list --ids)"
  FIRST_STORY="${STORY_IDS%%$'\n'*}"
  echo "xops stories show $FIRST_STORY"
  xops stories show "$FIRST_STORY"
else
  xops incidents list
fi

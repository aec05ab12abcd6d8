"""hybridkit runbooks in Apache Airflow: the `hybridkit run` form, and the PapermillOperator form.

Copy into your DAGs folder. Retries are Airflow's (``retries``, ``retry_delay``); hybridkit's
own retries work inside one attempt. Settings and secrets come from the worker's environment
or ``.env`` in ``cwd`` (SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, …) — never from DAG params,
which Airflow stores and shows.

The BashOperator form is the one to prefer: ``hybridkit run`` converts parameters to the
runbook's declared types, refuses bad ones before a kernel starts (exit 2, which Airflow's
``skip_on_exit_code`` does not swallow), redacts secrets from the output notebook, names it by
time and outcome and writes the JSON record. The PapermillOperator runs the same notebook with
papermill alone: its output is not redacted by hybridkit and parameters arrive as papermill
guesses them, so the runbook's own validation is what catches a wrong type.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.papermill.operators.papermill import PapermillOperator

HYBRIDKIT = "/srv/hybridkit/.venv/bin/hybridkit"
WORKDIR = "/srv/hybridkit"

default_args = {
    "owner": "data-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}

with DAG(
    dag_id="hybridkit_nightly",
    start_date=datetime(2026, 1, 1),
    schedule="0 3 * * *",
    catchup=False,
    max_active_runs=1,  # never two nightly runs at once
    default_args=default_args,
    tags=["hybridkit", "supabase"],
) as dag:
    health = BashOperator(
        task_id="health_check",
        bash_command=f"{HYBRIDKIT} run health_check -p fail_on_problem true",
        cwd=WORKDIR,
    )
    upload = BashOperator(
        task_id="upload_exports",
        bash_command=(
            f"{HYBRIDKIT} run upload -p source /data/exports/{{{{ ds }}}} -p bucket reports "
            "-p prefix {{ ds }}"
        ),
        cwd=WORKDIR,
    )
    migrations = PapermillOperator(
        task_id="migration_check",
        input_nb=f"{WORKDIR}/notebooks/migration_check.ipynb",
        output_nb=f"{WORKDIR}/runs/airflow/migration_check-{{{{ ts_nodash }}}}.ipynb",
        parameters={"fail_on_drift": True},
        kernel_name="python3",
    )
    health >> upload >> migrations

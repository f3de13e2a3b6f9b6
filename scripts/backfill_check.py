"""The real-scheduler backfill check: ``airflow backfill create`` over three days, twice, leaves 3 jobs.

Starts the local emulator (Milvus flavour + moto S3, in this process) and a real Airflow 3 deployment
(scripts/_deploy.py: SQLite, LocalExecutor; api-server, scheduler, dag-processor, triggerer), writes
one input file per day for 2025-01-01 .. 2025-01-03 (40, 30 and 20 rows) under
``VECTORIMPORT_DAILY_INPUT``, creates the ``daily_articles`` collection and runs

    airflow backfill create --dag-id vectorimport_daily_load \\
        --from-date 2025-01-01 --to-date 2025-01-03 --max-active-runs 3

then waits until the backfill's runs finished, and runs the same backfill again with
``--reprocess-behavior completed`` (without it Airflow skips days that already have a run, and the
second pass would prove nothing): the three runs are cleared and run again. Prints, per pass: the
runs and their states, import jobs created (the emulator's ``/_emulator/stats``), rows in the
collection, objects uploaded/skipped (the ``report`` task's XCom) and the objects in the bucket.

Passes (exit 0) when both passes ran 3 successful runs, the emulator counted 3 jobs after pass 1 and
still 3 after pass 2 (not 6), the collection holds 90 rows (not 180), pass 2 uploaded nothing and
every object in the bucket is the one pass 1 wrote (same ETag and LastModified).

    PYTHONPATH=$PWD python scripts/backfill_check.py            # ~2-4 minutes
    KEEP=1 PYTHONPATH=$PWD python scripts/backfill_check.py     # keep the home (logs) afterwards

The scheduler runs with ``[scheduler] use_job_schedule = False``: the DAG has ``catchup=True`` from
2025-01-01, and unpausing it (backfill runs of a paused DAG are not queued) would otherwise make the
scheduler create every day since then; only the backfill's runs run here.
Not part of the test suite: it takes minutes and four Airflow processes.

``--replace``: the same deployment, but every run replaces its day (``--dag-run-conf
'{"replace": true}'``: one partition per day, docs/replace.md). Pass 1 backfills the three days;
then day 2's input is corrected (25 rows instead of 30, other ids) and pass 2 reprocesses the three
days. Passes when pass 1 left 90 rows in one partition per day, and pass 2 left 85 (40 + 25 + 20: the
corrected day once, no copy of the old day 2) still in exactly one partition per day::

    PYTHONPATH=$PWD python scripts/backfill_check.py --replace
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import requests
from _deploy import Deployment, say

from airflow_provider_vectorimport.emulator.examples import (  # imports no Airflow
    DAILY_SCHEMA,
    create_collection,
    row_count,
    write_day,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
DAG_ID = "vectorimport_daily_load"
COLLECTION = "daily_articles"
DAYS = {"2025-01-01": 40, "2025-01-02": 30, "2025-01-03": 20}  # rows per day
DEPLOY = Deployment(
    "vectorimport-backfill-check-",
    EXAMPLES,
    {
        # catchup=True from 2025-01-01: only the backfill's runs, not every day since then
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "4",
    },
)
HOME = DEPLOY.home
INPUT = HOME / "input"


def write_inputs() -> None:
    first = 0
    for day, count in DAYS.items():
        write_day(INPUT, day, range(first, first + count))
        first += count


def backfill(*extra: str) -> int:
    """``airflow backfill create`` over the three days; the id of the backfill it made."""
    before = DEPLOY.query("select coalesce(max(id), 0) from backfill")[0][0]
    args = ["backfill", "create", "--dag-id", DAG_ID, "--from-date", min(DAYS), "--to-date", max(DAYS)]
    args += ["--max-active-runs", "3", *extra]
    say("airflow " + " ".join(args))
    for attempt in range(1, 4):
        result = DEPLOY.airflow(*args, check=False)
        if result.returncode == 0:
            break
        made = DEPLOY.query("select coalesce(max(id), 0) from backfill")[0][0] > before
        # SQLite: the scheduler's writes can make the command fail with "database is locked"
        # (a lock upgrade the busy timeout cannot wait out); rolled back, so it can be sent again
        if made or "database is locked" not in result.stderr or attempt == 3:
            raise SystemExit(
                f"airflow backfill create failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        say(f"    SQLite was locked, nothing was created; sending it again ({attempt + 1}/3)")
        time.sleep(5)
    (backfill_id,) = DEPLOY.query("select max(id) from backfill where dag_id=?", DAG_ID)[0]
    if backfill_id is None or backfill_id <= before:
        raise SystemExit("airflow backfill create made no backfill")
    return int(backfill_id)


def runs_of(backfill_id: int) -> list[tuple[str, str, str]]:
    """(logical day, run id, state) of the runs the backfill made or re-ran."""
    return DEPLOY.query(
        "select substr(dr.logical_date, 1, 10), dr.run_id, dr.state from backfill_dag_run b "
        "join dag_run dr on dr.id = b.dag_run_id where b.backfill_id=? order by dr.logical_date",
        backfill_id,
    )


def wait_done(backfill_id: int) -> None:
    DEPLOY.wait_for(
        f"backfill {backfill_id} to finish",
        lambda: (
            bool(DEPLOY.query("select 1 from backfill where id=? and completed_at is not null", backfill_id))
            and all(state in ("success", "failed") for _, _, state in runs_of(backfill_id))
        ),
        300,
    )


def reports(backfill_id: int) -> dict[str, dict]:
    """The ``report`` task's XCom of each run of the backfill, by day."""
    out = {}
    for day, run_id, _ in runs_of(backfill_id):
        rows = DEPLOY.query(
            "select value from xcom where dag_id=? and run_id=? and task_id='report' and key='return_value'",
            DAG_ID,
            run_id,
        )
        value = json.loads(rows[0][0]) if rows else None
        out[day] = json.loads(value) if isinstance(value, str) else value
    return out


def objects(emulator) -> dict[str, tuple[str, str]]:
    listing = emulator.s3_client().list_objects_v2(Bucket=emulator.milvus_bucket, Prefix="daily/")
    return {o["Key"]: (o["ETag"], str(o["LastModified"])) for o in listing.get("Contents", [])}


def one_pass(name: str, emulator, *extra: str) -> dict:
    started = time.monotonic()
    backfill_id = backfill(*extra)
    wait_done(backfill_id)
    runs = runs_of(backfill_id)
    stats = requests.get(f"{emulator.url}/_emulator/stats", timeout=30).json()["data"]
    rows = int(row_count(emulator, COLLECTION))
    summary = reports(backfill_id)
    result = {
        "runs": runs,
        "jobs": stats["jobs_created"].get(COLLECTION, 0),
        "rows": rows,
        "uploaded": sum((r or {}).get("uploaded", 0) for r in summary.values()),
        "skipped": sum((r or {}).get("skipped", 0) for r in summary.values()),
        "reports": summary,
        "objects": objects(emulator),
        "seconds": round(time.monotonic() - started),
    }
    say(f"{name} (backfill {backfill_id}, {result['seconds']} s):")
    for day, run_id, state in runs:
        report = summary.get(day) or {}
        (tries,) = DEPLOY.query(
            "select try_number from task_instance where dag_id=? and run_id=? and task_id='import'",
            DAG_ID,
            run_id,
        )[0]
        say(
            f"    {day} {run_id} {state}: import try {tries}, job {report.get('job_id')} "
            f"reattached={report.get('reattached')} "
            f"uploaded={report.get('uploaded')} skipped={report.get('skipped')} "
            f"imported_rows={report.get('imported_rows')}"
        )
    say(
        f"    runs {len(runs)}, import jobs created {result['jobs']}, rows in {COLLECTION} {rows}, "
        f"objects uploaded {result['uploaded']} / skipped {result['skipped']}, "
        f"objects in the bucket {len(result['objects'])}"
    )
    return result


def day_partitions() -> dict[str, list[str]]:
    """The collection's partitions holding a day (``d_<yyyymmdd>...``), by day."""
    from airflow_provider_vectorimport.hooks.partitions import PartitionHook

    names = PartitionHook("zilliz_default").list_partitions(COLLECTION)
    out: dict[str, list[str]] = {}
    for name in sorted(names):
        if name.startswith("d_"):
            out.setdefault(name[2:10], []).append(name)
    return out


CORRECTED_DAY, CORRECTED_ROWS = "2025-01-02", 25


def replace_checks(emulator) -> dict[str, bool]:
    conf = ("--dag-run-conf", json.dumps({"replace": True}))
    first = one_pass("pass 1 (replace each day)", emulator, *conf)
    first_parts = day_partitions()
    say(f"    partitions after pass 1: {first_parts}")
    # day 2 is corrected: 25 rows, ids 1000.. (pass 1 loaded 30 rows, ids 40..69)
    write_day(INPUT, CORRECTED_DAY, range(1000, 1000 + CORRECTED_ROWS))
    second = one_pass(
        "pass 2 (day 2 corrected, --reprocess-behavior completed, replace)",
        emulator,
        *conf,
        "--reprocess-behavior",
        "completed",
    )
    second_parts = day_partitions()
    say(f"    partitions after pass 2: {second_parts}")
    days = {d.replace("-", "") for d in DAYS}
    corrected = sum(DAYS.values()) - DAYS[CORRECTED_DAY] + CORRECTED_ROWS
    print()
    print("| pass | runs | import jobs created | rows in collection | partitions per day |")
    print("|---|---|---|---|---|")
    for name, res, parts in (("1", first, first_parts), ("2 (day 2 corrected)", second, second_parts)):
        per_day = sorted(len(v) for v in parts.values())
        print(f"| {name} | {len(res['runs'])} | {res['jobs']} | {res['rows']} | {per_day} |")
    print()
    return {
        "pass 1: 3 successful runs": [s for *_, s in first["runs"]] == ["success"] * 3,
        "pass 1: 3 import jobs, 90 rows": first["jobs"] == 3 and first["rows"] == sum(DAYS.values()),
        "pass 1: one partition per day": set(first_parts) == days
        and all(len(v) == 1 for v in first_parts.values()),
        "pass 2: the same 3 runs ran again, successfully": [s for *_, s in second["runs"]] == ["success"] * 3
        and [r for _, r, _ in second["runs"]] == [r for _, r, _ in first["runs"]],
        f"pass 2: {corrected} rows (the corrected day once, the old day 2 gone)": second["rows"] == corrected,
        "pass 2: still one partition per day": set(second_parts) == days
        and all(len(v) == 1 for v in second_parts.values()),
        # days 1 and 3 hold the same bytes: their runs reattach to their jobs; day 2 is new
        "pass 2: only the corrected day was imported again (4 jobs)": second["jobs"] == first["jobs"] + 1,
    }


def main() -> int:
    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    replace_mode = "--replace" in sys.argv[1:]

    started = time.monotonic()
    emulator = Emulator(EmulatorConfig(port=0, data_dir=str(HOME / "emulator"))).start()
    ok = False
    try:
        env = emulator.connection_env()
        os.environ["AIRFLOW_CONN_ZILLIZ_DEFAULT"] = env["AIRFLOW_CONN_ZILLIZ_EMULATOR"]  # Milvus flavour
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = env["AIRFLOW_CONN_S3_EMULATOR"]
        os.environ["VECTORIMPORT_DAILY_INPUT"] = str(INPUT)
        os.environ["VECTORIMPORT_MILVUS_ENDPOINT"] = emulator.url
        write_inputs()
        create_collection(emulator, COLLECTION, DAILY_SCHEMA)

        DEPLOY.migrate()
        DEPLOY.start_components()
        DEPLOY.wait_parsed(DAG_ID)
        DEPLOY.airflow("dags", "unpause", DAG_ID)  # a paused DAG's backfill runs are not queued
        if replace_mode:
            checks = replace_checks(emulator)
        else:
            checks = append_checks(emulator)
        for what, passed in checks.items():
            say(f"{'ok  ' if passed else 'FAIL'} {what}")
        # Airflow's resume-after-defer race (apache/airflow#71580, #72716): a stale executor success
        # of the deferral fails the resumed task; the import's retry reattaches to the day's job
        log = (HOME / "scheduler.log").read_text(errors="replace")
        stale = log.count("finished with state success, but the task instance's state attribute is")
        say(f"stale defer-exit successes the scheduler failed a resumed task for: {stale} (retried)")
        ok = all(checks.values())
        say(f"{'PASSED' if ok else 'FAILED'} in {round(time.monotonic() - started)} s; logs in {HOME}")
        return 0 if ok else 1
    finally:
        DEPLOY.finish(emulator, ok)


def append_checks(emulator) -> dict[str, bool]:
    first = one_pass("pass 1", emulator)
    second = one_pass(
        "pass 2 (the same backfill, --reprocess-behavior completed)",
        emulator,
        *(
            "--reprocess-behavior",
            "completed",
        ),
    )

    expected_rows = sum(DAYS.values())
    checks = {
        "pass 1: 3 successful runs": [s for *_, s in first["runs"]] == ["success"] * 3,
        "pass 2: the same 3 runs ran again, successfully": [s for *_, s in second["runs"]] == ["success"] * 3
        and [r for _, r, _ in second["runs"]] == [r for _, r, _ in first["runs"]],
        "pass 1: 3 import jobs": first["jobs"] == 3,
        "pass 2: still 3 import jobs (not 6)": second["jobs"] == 3,
        f"rows = {expected_rows} after each pass (not {2 * expected_rows})": first["rows"]
        == second["rows"]
        == expected_rows,
        "pass 1 uploaded every object": first["uploaded"] == len(first["objects"]) > 0,
        "pass 2 uploaded nothing, skipped them all": second["uploaded"] == 0
        and second["skipped"] == first["uploaded"],
        "every object in the bucket is pass 1's (same ETag, LastModified)": second["objects"]
        == first["objects"],
        "pass 2 reattached to each day's job": all(
            (second["reports"].get(d) or {}).get("reattached") is True
            and (second["reports"].get(d) or {}).get("job_id")
            == (first["reports"].get(d) or {}).get("job_id")
            for d in DAYS
        ),
    }
    print()
    print("| pass | runs | import jobs created | rows in collection | objects uploaded | skipped |")
    print("|---|---|---|---|---|---|")
    for name, res in (("1", first), ("2 (reprocess completed)", second)):
        print(
            f"| {name} | {len(res['runs'])} | {res['jobs']} | {res['rows']} | {res['uploaded']} "
            f"| {res['skipped']} |"
        )
    print()
    return checks


if __name__ == "__main__":
    sys.exit(main())

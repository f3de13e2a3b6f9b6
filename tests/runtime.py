"""A small stand-in for the Airflow task runtime (task instance with XCom, task_state_store) for
operator-level tests; the dag.test() tests run the real runtime."""

from __future__ import annotations

import json
from typing import Any


class FakeTI:
    def __init__(self, try_number: int = 1, task_id: str = "import") -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", task_id, "manual__1", -1
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-able
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


class Store(dict):
    """task_state_store (Airflow >= 3.3): values kept across tries of one task instance."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


def context(ti: FakeTI | None = None, store: Store | None = None) -> dict[str, Any]:
    ti = ti or FakeTI()
    return {"ti": ti, "run_id": ti.run_id, "task_state_store": store}

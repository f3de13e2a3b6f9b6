"""``[core] hostname_callable`` for several Celery workers on one machine (``scripts/celery_check.py``):
each worker process is started with ``VECTORIMPORT_WORKER_HOSTNAME`` (``w1@<host>``), so the task
instances it runs record which worker ran them in ``task_instance.hostname``."""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """The name this worker was given in ``VECTORIMPORT_WORKER_HOSTNAME``, else the machine's FQDN."""
    return os.environ.get("VECTORIMPORT_WORKER_HOSTNAME") or socket.getfqdn()

"""Benchmark: N deferred jobs watched by our triggers in one event loop, against a bare-aiohttp bound.

For each N (10, 100, 1,000) and each service (Zilliz ``ZillizImportJobTrigger``, VikingDB
``VikingDBTaskTrigger``) two processes run in the same bench run, one after the other against the
same server (``--parallel``: at the same time), both with Airflow imported:

* **ours**: N triggers (``trigger.run()``, as the triggerer drives them), connections from
  ``AIRFLOW_CONN_*`` with the ``ca_bundle`` extra;
* **bound**: N tasks polling the same route with one shared ``aiohttp.ClientSession`` (same CA,
  same connector limit), parsing the JSON answer and sleeping the poll interval.

Both poll a loopback server running in its own process (aiohttp, HTTPS with a self-signed
certificate made with ``cryptography``; ``--http`` adds plain-HTTP rows) that keeps every job
importing. Starts are spread over the first poll interval; after a warm-up the window measures
CPU time (user + sys, share of one core), requests/s (counted by the server, per client), the
process's peak RSS (``ru_maxrss``) and the share of one core spent in the garbage collector
(``BENCH_PROFILE=/tmp/p`` also writes a cProfile of each window to ``/tmp/p.<kind>.<service>.<N>``). With ``--repeat R`` the pair alternates R times and the table
keeps the least CPU of each contender (noise on a shared machine only adds), the highest RSS and
the median rate.

    PYTHONPATH=$PWD python bench/triggers.py                      # HTTPS, N = 10, 100, 1000, 20 s windows
    PYTHONPATH=$PWD python bench/triggers.py --n 1000 --seconds 40 --http

Targets at 1,000 jobs and 5 s polls: CPU <= 1.25x the bound, peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Z_PATH = "/v2/vectordb/jobs/import/getProgress"
V_PATH = "/api/task/info"
OUR_UA = "airflow-provider-vectorimport"


# ----------------------------------------------------------------------------- the server process


def serve(cert: str, key: str, use_tls: bool) -> None:
    from aiohttp import web

    counts: dict[str, int] = {"ours": 0, "bound": 0}
    zilliz_body = {
        "code": 0,
        "data": {
            "jobId": "job",
            "collectionName": "c",
            "state": "Importing",
            "progress": 45,
            "importedRows": 4500,
            "totalRows": 10000,
            "details": [{"fileName": "a.parquet", "fileSize": 1024, "state": "Importing", "progress": 45}],
        },
    }
    viking_body = {
        "code": 0,
        "message": "success",
        "request_id": "r",
        "data": {
            "task_id": "t",
            "task_type": "data_import",
            "task_status": "running",
            "process_info": {"task_progress": "45%", "scan_data_count": 4500, "total_data_count": 10000},
            "task_params": {"collection_name": "c", "tos_path": "p", "file_type": "parquet"},
            "create_time": "2026-11-30 00:00:00",
        },
    }

    def count(request: web.Request) -> None:
        who = "ours" if request.headers.get("User-Agent", "").startswith(OUR_UA) else "bound"
        counts[who] += 1

    async def zilliz(request: web.Request) -> web.Response:
        body = await request.json()
        count(request)
        data = {**zilliz_body, "data": {**zilliz_body["data"], "jobId": body.get("jobId")}}
        return web.json_response(data)

    async def viking(request: web.Request) -> web.Response:
        body = await request.json()
        count(request)
        data = {**viking_body, "data": {**viking_body["data"], "task_id": body.get("task_id")}}
        return web.json_response(data)

    async def counters(request: web.Request) -> web.Response:
        return web.json_response(counts)

    app = web.Application()
    app.router.add_post(Z_PATH, zilliz)
    app.router.add_post(V_PATH, viking)
    app.router.add_get("/counts", counters)

    async def main() -> None:
        import ssl

        ctx = None
        if use_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=75)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx, backlog=2048)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# ----------------------------------------------------------------------------- the client processes


def child(
    kind: str,
    service: str,
    n: int,
    url: str,
    ca: str,
    poll: float,
    warmup: float,
    seconds: float,
    out: str,
    sign_bound: bool = False,
) -> None:
    import airflow.triggers.base  # noqa: F401  - both contenders pay for Airflow being loaded
    import psutil

    if kind == "ours":
        conn = {"conn_type": service, "host": url}
        if service == "zilliz":
            conn.update(password="sk-bench", extra={"api_flavour": "v2", "cluster_id": "in01-b"})
        else:
            conn.update(login="AK-BENCH", password="SK-BENCH", extra={})
        if url.startswith("https"):
            conn["extra"]["ca_bundle"] = ca
        os.environ["AIRFLOW_CONN_BENCH"] = json.dumps(conn)

    async def ours_one(i: int, end: float) -> None:
        if service == "zilliz":
            from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger as T
        else:
            from airflow_provider_vectorimport.triggers.vikingdb import VikingDBTaskTrigger as T
        trigger = T("bench", f"job-{i}", poll_interval=poll, end_time=end)
        async for event in trigger.run():
            raise RuntimeError(f"unexpected event {event.payload}")

    signer = None
    if kind == "bound" and service == "vikingdb" and sign_bound:
        from airflow_provider_vectorimport.signing import SigningCredentials, VolcengineSigner

        signer = VolcengineSigner(SigningCredentials("AK-BENCH", "SK-BENCH", "cn-north-1", "air"))

    async def bound_one(session, i: int, ssl_ctx) -> None:
        target = url + (Z_PATH if service == "zilliz" else V_PATH)
        body = (
            {"jobId": f"job-{i}", "clusterId": "in01-b"} if service == "zilliz" else {"task_id": f"job-{i}"}
        )
        while True:
            headers = None
            if signer is not None:  # the request signing every VikingDB client must do
                headers = {"Content-Type": "application/json"}
                headers.update(signer("POST", target, headers, json.dumps(body).encode()))
            async with session.post(target, json=body, ssl=ssl_ctx, headers=headers) as resp:
                data = await resp.json()
                assert data["code"] == 0
            await asyncio.sleep(poll)

    async def staggered(coro_factory, delay: float):
        await asyncio.sleep(delay)
        await coro_factory()

    async def counts() -> dict:
        import aiohttp

        async with aiohttp.ClientSession() as s, s.get(url + "/counts", ssl=False) as r:
            return await r.json()

    async def main() -> dict:
        import ssl

        import aiohttp

        ssl_ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
        session = None
        if kind == "bound":
            connector = aiohttp.TCPConnector(limit=32, keepalive_timeout=30.0, ssl=ssl_ctx or True)
            session = aiohttp.ClientSession(connector=connector)
        end = time.time() + 3600
        rng = random.Random(n)
        tasks = []
        for i in range(n):
            if kind == "ours":
                factory = lambda i=i: ours_one(i, end)  # noqa: E731
            else:
                factory = lambda i=i: bound_one(session, i, ssl_ctx)  # noqa: E731
            tasks.append(asyncio.ensure_future(staggered(factory, rng.uniform(0, poll))))
        await asyncio.sleep(warmup)
        proc = psutil.Process()
        import gc

        gc_time = [0.0, 0.0]  # seconds in the collector during the window, start of the current run
        gc_runs = [0, 0, 0]  # collections per generation during the window

        def gc_clock(phase: str, info: dict) -> None:
            if phase == "start":
                gc_time[1] = time.perf_counter()
            else:
                gc_time[0] += time.perf_counter() - gc_time[1]
                gc_runs[info["generation"]] += 1

        gc.callbacks.append(gc_clock)
        profile_to = os.environ.get("BENCH_PROFILE")  # a cProfile of the window only, for digging
        profiler = None
        if profile_to:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        c0, t0, n0 = proc.cpu_times(), time.monotonic(), (await counts())[kind]
        await asyncio.sleep(seconds)
        c1, t1, n1 = proc.cpu_times(), time.monotonic(), (await counts())[kind]
        gc.callbacks.remove(gc_clock)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{profile_to}.{kind}.{service}.{n}")
        for task in tasks:
            if task.done() and task.exception():
                raise task.exception()  # type: ignore[misc]
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if session is not None:
            await session.close()
        wall = t1 - t0
        return {
            "cpu": ((c1.user - c0.user) + (c1.system - c0.system)) / wall,
            "rps": (n1 - n0) / wall,
            "gc": gc_time[0] / wall,
            "gc_runs": gc_runs,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    result = asyncio.run(main())
    Path(out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------- driver


def make_cert(directory: Path) -> tuple[str, str]:
    sys.path.insert(0, str(ROOT))
    from tests.netserver import make_cert as _make

    crt, key = _make(directory)
    return str(crt), str(key)


def run_pair(service: str, n: int, url: str, ca: str, args: argparse.Namespace, tmp: Path) -> dict:
    procs = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    for kind in ("ours", "bound"):
        out = tmp / f"{kind}-{service}-{n}.json"
        cmd = [sys.executable, __file__, "--child", kind, "--service", service, "--url", url, "--ca", ca]
        cmd += ["--n", str(n), "--poll", str(args.poll), "--warmup", str(args.warmup)]
        cmd += ["--seconds", str(args.seconds), "--out", str(out)]
        cmd += ["--sign-bound"] if args.sign_bound else []
        procs[kind] = (subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out)
        if not args.parallel:  # one at a time: on a shared machine the server is the other contender
            _finish(procs[kind], kind, service, n)
    return {kind: _finish(entry, kind, service, n) for kind, entry in procs.items()}


def _finish(entry: tuple[subprocess.Popen, Path], kind: str, service: str, n: int) -> dict:
    proc, out = entry
    if proc.returncode is None:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{kind} {service} n={n} failed:\n{err.decode()[-3000:]}")
    return json.loads(out.read_text())


def _best(runs: list[dict]) -> dict:
    """Over repeated runs: the least CPU (noise on a shared machine only ever adds), the highest
    peak RSS, the median rate."""
    rates = sorted(r["rps"] for r in runs)
    return {
        "cpu": min(r["cpu"] for r in runs),
        "gc": min(r["gc"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
        "rps": rates[len(rates) // 2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", default="10,100,1000", help="comma-separated trigger counts")
    parser.add_argument("--services", default="zilliz,vikingdb")
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=7.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--http", action="store_true", help="also measure plain HTTP")
    parser.add_argument("--no-https", action="store_true")
    parser.add_argument("--parallel", action="store_true", help="run ours and the bound at the same time")
    parser.add_argument("--repeat", type=int, default=1, help="alternate ours/bound this many times")
    parser.add_argument(
        "--sign-bound", action="store_true", help="the VikingDB bound signs its requests too (SignerV4)"
    )
    parser.add_argument("--child", choices=("ours", "bound"))
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--service", default="zilliz")
    parser.add_argument("--url", default="")
    parser.add_argument("--ca", default="")
    parser.add_argument("--cert", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.serve:
        serve(args.cert, args.key, args.tls)
        return
    if args.child:
        child(
            args.child,
            args.service,
            int(args.n),
            args.url,
            args.ca,
            args.poll,
            args.warmup,
            args.seconds,
            args.out,
            args.sign_bound,
        )
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    crt, key = make_cert(tmp / "cert")
    schemes = ([] if args.no_https else ["https"]) + (["http"] if args.http else [])
    sizes = [int(x) for x in args.n.split(",")]
    services = args.services.split(",")
    print(
        f"poll {args.poll:g}s, window {args.seconds:g}s after {args.warmup:g}s warm-up, best of {args.repeat}; "
        "CPU = user+sys share of one core, RSS = peak of the process"
    )
    print(
        f"{'scheme':6} {'service':9} {'N':>5} | {'ours CPU':>8} {'bound CPU':>9} {'ratio':>6} | "
        f"{'ours RSS':>8} {'bound RSS':>9} | {'ours r/s':>8} {'bound r/s':>9} {'asked':>6}"
    )
    for scheme in schemes:
        cmd = [sys.executable, __file__, "--serve", "--cert", crt, "--key", key] + (
            ["--tls"] if scheme == "https" else []
        )
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            url = f"{scheme}://127.0.0.1:{port}"
            for service in services:
                for n in sizes:
                    runs = [run_pair(service, n, url, crt, args, tmp) for _ in range(args.repeat)]
                    ours, bound = (_best([r[kind] for r in runs]) for kind in ("ours", "bound"))
                    ratio = ours["cpu"] / bound["cpu"] if bound["cpu"] else float("nan")
                    print(
                        f"{scheme:6} {service:9} {n:>5} | {ours['cpu']:>7.1%} {bound['cpu']:>9.1%} {ratio:>5.2f}x | "
                        f"{ours['rss_mb']:>6.0f}MB {bound['rss_mb']:>7.0f}MB | {ours['rps']:>8.1f} "
                        f"{bound['rps']:>9.1f} {n / args.poll:>6.0f} | {ours['gc']:>7.1%} {bound['gc']:>6.1%}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

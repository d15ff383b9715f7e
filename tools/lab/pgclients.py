"""Client-side load for the routing tests and benchmarks, from the Docker host with psycopg2:
many connections opened at once (the burst), and a writer that measures the gap in acknowledged
commits while something happens to the cluster (a switchover).

Used by molecule/default/tests/test_routing.py (assertions) and tools/bench_routing.py (figures),
so both measure the same thing.
"""

from __future__ import annotations

import resource
import threading
import time

import psycopg2


def raise_nofile(wanted):
    """Raise this process's open-file soft limit (each client is a socket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def burst(conninfo, clients, sql, sampler=None, timeout=300, connecting=None):
    """Open `clients` connections, hold them all open, then run `sql` on all of them at the same moment.

    conninfo: keyword arguments for psycopg2.connect (one dict, shared).
    connecting: at most this many connection attempts (TCP + TLS + SCRAM) in flight at once; None
    starts them all together. The tests bound it so that what they check is how many clients are
    served at the same time, not how many handshakes a loaded 2-core machine finishes within
    connect_timeout (that rate is a benchmark figure, see tools/bench_routing.py).
    sampler: called repeatedly by the calling thread while the queries run; the largest value it
    returned is reported as `sampled_max`.
    Returns connected, errors (list of messages), connect_seconds (wall time until the last client
    was connected), connect_rate (connections per second), rows (first column of each result) and
    sampled_max.
    """
    raise_nofile(clients * 2 + 256)
    threading.stack_size(256 * 1024)
    connected = threading.Barrier(clients + 1, timeout=timeout)
    done = threading.Barrier(clients + 1, timeout=timeout)
    errors, rows = [], []
    lock = threading.Lock()
    gate = threading.BoundedSemaphore(connecting) if connecting else None

    def client():
        connection = None
        try:
            if gate is not None:
                gate.acquire()
            try:
                connection = psycopg2.connect(**conninfo)
                connection.autocommit = True
            finally:
                if gate is not None:
                    gate.release()
        except psycopg2.Error as exc:
            with lock:
                errors.append("connect: %s" % str(exc).strip())
        try:
            connected.wait()
            if connection is not None:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    row = cursor.fetchone()
                with lock:
                    rows.append(row[0] if row else None)
        except (psycopg2.Error, threading.BrokenBarrierError) as exc:
            with lock:
                errors.append("query: %s" % str(exc).strip())
        finally:
            try:
                done.wait()
            except threading.BrokenBarrierError:
                pass
            if connection is not None:
                connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    connected.wait()
    connect_seconds = time.monotonic() - start
    sampled_max = None
    while sampler is not None and len(rows) + len(errors) < clients:
        value = sampler()
        sampled_max = value if sampled_max is None else max(sampled_max, value)
        time.sleep(0.2)
    done.wait()
    for thread in threads:
        thread.join(timeout=60)
    return {
        "connected": clients - sum(1 for e in errors if e.startswith("connect:")),
        "errors": errors,
        "connect_seconds": connect_seconds,
        "connect_rate": clients / connect_seconds if connect_seconds else float("inf"),
        "rows": rows,
        "sampled_max": sampled_max,
    }


def sequential_connects(conninfo, count):
    """Connections per second opening and closing `count` connections one after another."""
    start = time.monotonic()
    for _ in range(count):
        psycopg2.connect(**conninfo).close()
    return count / (time.monotonic() - start)


class Writer(threading.Thread):
    """Insert one marker row every `interval` seconds through `conninfo`, reconnecting on errors.

    `acknowledged` lists (marker, monotonic time) of every commit the server confirmed; `gap()` is
    the longest time between two consecutive acknowledged commits.
    """

    def __init__(self, conninfo, table, prefix, interval=0.05):
        super().__init__(daemon=True)
        self.conninfo = dict(conninfo, connect_timeout=2)
        self.table, self.prefix, self.interval = table, prefix, interval
        self.acknowledged, self.failures = [], 0
        self.last_error = None
        self.stopping = threading.Event()

    def run(self):
        connection, sequence = None, 0
        while not self.stopping.is_set():
            try:
                if connection is None:
                    connection = psycopg2.connect(**self.conninfo)
                    connection.autocommit = True
                sequence += 1
                marker = "%s-%06d" % (self.prefix, sequence)
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO %s (marker) VALUES (%%s)" % self.table, (marker,))
                self.acknowledged.append((marker, time.monotonic()))
            except psycopg2.Error as exc:
                self.failures += 1
                self.last_error = str(exc).strip()
                if connection is not None:
                    connection.close()
                connection = None
            time.sleep(self.interval)
        if connection is not None:
            connection.close()

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)

    def gap(self):
        times = [at for _marker, at in self.acknowledged]
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)

    def markers(self):
        """Every acknowledged marker, oldest first."""
        return [marker for marker, _at in list(self.acknowledged)]

    def first_after(self, moment):
        """Monotonic time of the first commit acknowledged after `moment` (time.monotonic()), or None."""
        return next((at for _marker, at in list(self.acknowledged) if at > moment), None)

    def resumed_after(self, moment, timeout):
        """Wait until a commit is acknowledged after `moment`; return the seconds from `moment` to it.

        Raises TimeoutError (with the writer's last error) when none comes within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            at = self.first_after(moment)
            if at is not None:
                return at - moment
            if time.monotonic() > deadline or not self.is_alive():
                raise TimeoutError(
                    "no commit acknowledged within %ss (failures %d, last error: %s)"
                    % (timeout, self.failures, self.last_error)
                )
            time.sleep(0.1)

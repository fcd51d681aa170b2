"""The sandbox in a process of its own: start it, read what it printed, ask it,
stop it.

``python -m sandbox`` (see ``__main__``) prints its URL, then one line per
account, tab-separated, before it serves. Benchmarks and tests start it in its
own process so that it does not share their interpreter lock, and all of them
need the same few things: the command line for a given size, the URL and keys
read from that output, the counts ``GET /_sandbox/stats`` gives, and a stop
that never leaves the process behind. They live here, once::

    with SandboxProcess(sandbox_args({"customers": 1000}), accounts=1) as box:
        box.url, box.key, box.accounts[0].name, box.stats()["requests"]

Plain Python (no Odoo), so a test or script imports it as it imports the
sandbox.
"""

import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The addon's root: ``python -m sandbox`` runs from there.
ROOT = Path(__file__).resolve().parents[1]
# The seed benchmarks use: the same account at every run.
BENCHMARK_SEED = 11
STOP_SECONDS = 15


@dataclass(frozen=True)
class SandboxAccount:
    """One ``account`` line of the sandbox's output."""

    key: str
    name: str
    state: str
    currency: str
    customers: int

    @classmethod
    def from_fields(cls, fields):
        if len(fields) != 5:
            raise ValueError(f"an account line has 5 fields, not {len(fields)}")
        key, name, state, currency, customers = fields
        return cls(key, name, state, currency, int(customers.split()[0]))


def sandbox_args(sizes=None, *extra, seed=BENCHMARK_SEED):
    """``python -m sandbox`` options: the seed, ``extra``, then one per size
    (``{"customers": 20000}`` gives ``--customers 20000``)."""
    args = ["--seed", str(seed), *extra]
    for name, value in (sizes or {}).items():
        args += [f"--{name}", str(value)]
    return args


def read_banner(lines, accounts):
    """URL and accounts from the first lines the sandbox prints.

    ``lines`` is an iterator of text lines (a pipe, a file); exactly the URL
    line and ``accounts`` account lines are read from it. Anything else (an
    early exit, an error on standard output) raises ``RuntimeError`` with what
    was read instead.
    """
    url = _expect(lines, "url")
    if len(url) != 1:
        raise RuntimeError(f"The sandbox said {url!r} instead of its URL.")
    found = []
    for _number in range(accounts):
        fields = _expect(lines, "account")
        try:
            found.append(SandboxAccount.from_fields(fields))
        except ValueError as error:
            raise RuntimeError(
                f"The sandbox's account line {fields!r}: {error}"
            ) from error
    return url[0], found


def _expect(lines, name):
    line = next(lines, "")
    fields = line.rstrip("\n").split("\t")
    if fields[0] != name:
        said = line.strip() or "nothing (it stopped)"
        raise RuntimeError(f"The sandbox said {said!r} instead of its {name} line.")
    return fields[1:]


class SandboxProcess:
    """``python -m sandbox *args`` with ``accounts`` accounts, running until
    ``stop()`` (or the end of a ``with`` block).

    ``url`` is the API's base URL (``http://127.0.0.1:PORT/v1/``), ``accounts``
    the accounts it printed (``key`` is the first one's private key);
    ``stats()``, ``counts()`` and ``clear_log()`` call its ``/_sandbox/``
    endpoints. A process that does not start as it should is stopped before
    the error is raised.
    """

    def __init__(self, args=(), *, accounts=1, cwd=ROOT, python=None):
        command = [python or sys.executable, "-m", "sandbox", "--accounts"]
        command += [str(accounts), *args]
        self.command = command
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            command, cwd=cwd, stdout=subprocess.PIPE, text=True
        )
        try:
            self.url, self.accounts = read_banner(iter(self.process.stdout), accounts)
        except BaseException:
            self.stop()
            raise
        self.root = self.url.split("/v1/")[0]

    @property
    def key(self):
        return self.accounts[0].key

    @property
    def keys(self):
        return [account.key for account in self.accounts]

    def _call(self, path, method="GET"):
        request = urllib.request.Request(self.root + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def stats(self, prefix="/v1/"):
        """Requests served since the last ``clear_log`` and answers by status."""
        return self._call(f"/_sandbox/stats?prefix={prefix}")

    def counts(self):
        """Each account's objects by list entity, by account handle."""
        return self._call("/_sandbox/counts")

    def clear_log(self):
        self._call("/_sandbox/clear_log", method="POST")

    def stop(self):
        """Terminate (SIGTERM: the sandbox stops serving and exits 0), kill
        after ``STOP_SECONDS``; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

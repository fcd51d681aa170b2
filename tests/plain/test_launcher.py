"""The sandbox in a process of its own (sandbox/launcher.py), as benchmarks and
tests start it; and the sales taxes that cover what it bills."""

import base64
import json
import os
import sys
import textwrap
import urllib.request

import pytest

from sandbox.data import generate_account
from sandbox.launcher import SandboxProcess, read_banner, sandbox_args
from sandbox.taxes import VAT_RATES


def get_account(box, key):
    request = urllib.request.Request(
        box.url + "account",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_sandbox_args_put_the_seed_first_and_one_option_per_size():
    args = sandbox_args({"customers": 20000, "plans": 10}, "--no-rate-limit")
    assert args == [
        "--seed", "11", "--no-rate-limit", "--customers", "20000", "--plans", "10",
    ]  # fmt: skip
    assert sandbox_args(seed=3) == ["--seed", "3"]


def test_banner_gives_url_and_accounts():
    lines = iter(
        [
            "url\thttp://127.0.0.1:4321/v1/\n",
            "account\tpriv_aa\tNordic Yoga ApS\tlive\tDKK\t20 customers\n",
            "account\tpriv_bb\tTokyo Tea KK\tlive\tJPY\t5 customers\n",
            "not read\n",
        ]
    )
    url, accounts = read_banner(lines, 2)
    assert url == "http://127.0.0.1:4321/v1/"
    assert [(a.key, a.name, a.currency, a.customers) for a in accounts] == [
        ("priv_aa", "Nordic Yoga ApS", "DKK", 20),
        ("priv_bb", "Tokyo Tea KK", "JPY", 5),
    ]
    assert next(lines) == "not read\n"


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        ([], "nothing (it stopped)"),
        (["Traceback (most recent call last):\n"], "Traceback"),
        (["url\thttp://x/v1/\n", "account\tpriv_aa\n"], "account line"),
        (["url\thttp://x/v1/\n"], "nothing (it stopped)"),
    ],
)
def test_banner_that_is_not_one_says_what_was_read(lines, said):
    with pytest.raises(RuntimeError, match=r"The sandbox") as raised:
        read_banner(iter(lines), 1)
    assert said in str(raised.value)


def test_process_serves_counts_and_stops_cleanly():
    box = SandboxProcess(sandbox_args({"customers": 20}, seed=3), accounts=2)
    try:
        assert [account.name for account in box.accounts] == [
            "Nordic Yoga ApS",
            "Tokyo Tea KK",
        ]
        assert box.keys[0] == box.key
        assert get_account(box, box.keys[1])["name"] == "Tokyo Tea KK"
        assert box.stats()["requests"] == 1
        assert box.stats("/v1/list/")["requests"] == 0
        box.clear_log()
        assert box.stats() == {"requests": 0, "statuses": {}, "refused": {}}
        counts = box.counts()
        assert list(counts) == ["nordic-yoga", "tokyo-tea"]
        assert counts["nordic-yoga"]["customer"] == 20
        assert counts["nordic-yoga"]["subscription"] == 30  # 1.5 per customer
        assert box.stats()["requests"] == 0  # not an API request
    finally:
        assert box.stop() == 0  # SIGTERM: the sandbox stops serving and exits 0
    assert box.stop() == 0  # stopping twice is harmless


def test_same_seed_same_accounts_and_keys():
    with SandboxProcess(sandbox_args({"customers": 20}, seed=5)) as first:
        keys = first.keys
    with SandboxProcess(sandbox_args({"customers": 20}, seed=5)) as second:
        assert second.keys == keys
        assert get_account(second, keys[0])["name"] == "Nordic Yoga ApS"


def test_wrong_option_raises_with_what_the_sandbox_said():
    with pytest.raises(RuntimeError, match=r"nothing \(it stopped\)"):
        SandboxProcess(["--customers", "many"])


def test_process_that_prints_something_else_is_stopped_before_the_error(tmp_path):
    """A ``sandbox`` that answers otherwise and keeps running is not left behind."""
    fake = tmp_path / "sandbox"
    fake.mkdir()
    pid_file = tmp_path / "pid"
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(
        textwrap.dedent(
            f"""
            import os, time
            with open({str(pid_file)!r}, "w") as out:
                out.write(str(os.getpid()))
            print("listening on a port of my own", flush=True)
            time.sleep(300)
            """
        )
    )
    with pytest.raises(RuntimeError, match="listening on a port of my own"):
        SandboxProcess(cwd=tmp_path, python=sys.executable)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped


def test_vat_rates_cover_every_rate_the_sandbox_bills():
    billed = set()
    for index in range(3):
        account = generate_account(seed=4, index=index, customers=60, invoices=150)
        for invoice in account.invoices.values():
            billed.update(line["vat"] for line in invoice["order_lines"])
    assert billed <= set(VAT_RATES)
    assert {0.25, 0.19, 0.1, 0.0} <= billed

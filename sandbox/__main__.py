"""Command line: serve generated accounts until Ctrl-C or SIGTERM.

``python -m sandbox --customers 10000`` prints tab-separated lines on stdout::

    url	http://127.0.0.1:PORT/v1/
    account	priv_<32 hex>	Nordic Yoga ApS	test	DKK	10000 customers
    account	priv_<32 hex>	Tokyo Tea KK	live	JPY	2500 customers

The documented limits (25 GET/s, bursts to 50, 10 requests in flight per key)
are enforced unless ``--no-rate-limit``; ``GET /_sandbox/stats`` tells another
process what was served (``POST /_sandbox/clear_log`` starts the count anew).
"""

import argparse
import contextlib
import signal
import sys
import threading

from .server import SandboxServer


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local Billwerk+ Optimize API server with generated data.",
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--plans", type=int, default=8)
    parser.add_argument("--subscriptions", type=int, default=None)
    parser.add_argument("--invoices", type=int, default=None)
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--no-rate-limit", action="store_true", help="switch the 429 limits off"
    )
    parser.add_argument(
        "--retry-after", type=float, default=None, help="Retry-After on 429 answers"
    )
    parser.add_argument(
        "--get-rate", type=float, default=None, help="GETs/s per key (25)"
    )
    parser.add_argument(
        "--get-burst", type=int, default=None, help="GET burst per key (50)"
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="requests in flight per key (10)",
    )
    parser.add_argument("--no-events", action="store_true", help="empty event log")
    parser.add_argument("--verbose", action="store_true", help="log each request")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    server = SandboxServer(
        seed=args.seed,
        customers=args.customers,
        plans=args.plans,
        subscriptions=args.subscriptions,
        invoices=args.invoices,
        accounts=args.accounts,
        events=not args.no_events,
        host=args.host,
        port=args.port,
        rate_limit=not args.no_rate_limit,
        retry_after=args.retry_after,
        verbose=args.verbose,
    )
    for name in ("get_rate", "get_burst", "max_concurrent"):
        if getattr(args, name) is not None:
            setattr(server.limits, name, getattr(args, name))
    # Before the first line is printed: whoever read it may stop us at once.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    server.start()
    # Standard output is this command's interface (run.sh reads it).
    print(f"url\t{server.url}", flush=True)  # pylint: disable=print-used
    for account in server.accounts:
        line = "\t".join(
            (
                "account",
                account.key,
                account.name,
                account.state,
                account.currency,
                f"{len(account.customers)} customers",
            )
        )
        print(line, flush=True)  # pylint: disable=print-used
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                continue
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

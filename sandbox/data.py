"""Generated sandbox accounts: the same seed, sizes and anchor give identical JSON.

The data covers about three years and ends at the *anchor*: by default the start of
the current UTC day, so lists, graphs and "this month" filters look like a live
account. Only the time span follows the anchor; a test that needs the very same
data on another day passes ``anchor=`` explicitly.

Every timestamp is a fixed-width UTC string (``2025-03-01T10:00:00.000+00:00``), so
string order is time order; the server sorts and pages on these strings directly.
"""

import calendar
import hashlib
import math
import random
import re
import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .books import EU_COUNTRIES, invoice_totals, order_line, reverse_charge
from .history import History

UTC = timezone.utc


def day_anchor(when=None):
    """Start of ``when``'s UTC day (a datetime or date; default: now, in UTC).

    Generated data ends just before this moment. Whole days keep a seed's data
    the same all day long while it still reaches "today".
    """
    if when is None:
        when = datetime.now(UTC)
    elif not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day, tzinfo=UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def resolve_anchor(anchor=None, clock=None):
    """Where a generation ends, as an aware UTC datetime.

    ``anchor`` is kept as given (a date means its UTC midnight, a naive datetime
    is UTC); without one the data ends at the start of today: today by
    ``clock`` (anything with ``now()``, like the sandbox server's clock), else
    by ``datetime.now`` in UTC.
    """
    if anchor is None:
        return day_anchor(clock.now() if clock is not None else None)
    if isinstance(anchor, date) and not isinstance(anchor, datetime):
        return day_anchor(anchor)
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    return anchor.astimezone(UTC)


# Today at import time: the server's default (see ``SandboxServer``), so every
# sandbox of one process, tests included, generates the same span.
DEFAULT_ANCHOR = day_anchor()

ENTITIES = ("plan", "subscription", "customer", "invoice")
PLAN_STATES = ("active", "superseded", "deleted")
SUBSCRIPTION_STATES = ("active", "expired", "on_hold", "pending")
INVOICE_STATES = (
    "created",
    "pending",
    "dunning",
    "settled",
    "cancelled",
    "authorized",
    "failed",
)
INVOICE_TYPES = ("s", "so", "soi", "co", "ch")
EXPIRE_REASONS = ("cancelled", "dunning", "ondemand", "fixed")

# Account profiles; "scale" shrinks the default sizes of the smaller accounts.
ACCOUNT_TEMPLATES = (
    {
        "name": "Nordic Yoga ApS",
        "handle": "nordic-yoga",
        "organisation": "Nordic Yoga Group",
        "currency": "DKK",
        "locale": "da_DK",
        "timezone": "Europe/Copenhagen",
        "country": "DK",
        "state": "live",
        "vat": 0.25,
        "people": "dk",
        "scale": 1.0,
    },
    {
        "name": "Tokyo Tea KK",
        "handle": "tokyo-tea",
        "organisation": "Tokyo Tea Holdings",
        "currency": "JPY",
        "locale": "ja_JP",
        "timezone": "Asia/Tokyo",
        "country": "JP",
        "state": "live",
        "vat": 0.1,
        "people": "jp",
        "scale": 0.25,
    },
    {
        "name": "Berlin Bikes GmbH",
        "handle": "berlin-bikes",
        "organisation": "Berlin Bikes GmbH",
        "currency": "EUR",
        "locale": "de_DE",
        "timezone": "Europe/Berlin",
        "country": "DE",
        "state": "test",
        "vat": 0.19,
        "people": "de",
        "scale": 0.25,
        # Kuwaiti dinar: a three-decimal currency (amounts in fils).
        "extra_currencies": ("KWD", "USD", "JPY"),
    },
)


def words(text):
    """Whitespace-separated names as a tuple (keeps long name lists compact)."""
    return tuple(text.split())


def _places(text):
    """``"1050 København K; 8000 Aarhus C"`` -> (("1050", "København K"), ...)."""
    return tuple(tuple(item.strip().split(" ", 1)) for item in text.split(";"))


PEOPLE = {
    "dk": {
        "first": words(
            "Anders Mette Søren Camilla Mikkel Line Rasmus Sofie Jens Ida Frederik"
            " Emma Kasper Louise"
        ),
        "last": words(
            "Jensen Nielsen Hansen Pedersen Andersen Christensen Larsen Sørensen"
            " Rasmussen Jørgensen Madsen Møller"
        ),
        "streets": words(
            "Nørregade Vestergade Strandvejen Østerbrogade Algade Søndergade"
        ),
        "cities": _places(
            "1050 København K; 8000 Aarhus C; 5000 Odense C; 9000 Aalborg;"
            " 6700 Esbjerg; 2200 København N; 4000 Roskilde; 7100 Vejle"
        ),
        "company": ("ApS", "A/S", "I/S"),
        "phone": "+45",
    },
    "jp": {
        "first": words(
            "Haruto Yui Sota Aoi Ren Hina Yuto Sakura Riku Mei Takumi Yuna Kenji Emi"
        ),
        "last": words(
            "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi"
            " Kato Yoshida Yamada"
        ),
        "streets": words("Marunouchi Jingumae Umeda Sakae Tenjin Gion"),
        "cities": _places(
            "100-0005 Chiyoda, Tokyo; 150-0001 Shibuya, Tokyo; 530-0001 Kita, Osaka;"
            " 600-8001 Shimogyo, Kyoto; 460-0008 Naka, Nagoya; 810-0001 Chuo, Fukuoka"
        ),
        "company": ("K.K.", "G.K."),
        "phone": "+81",
    },
    "de": {
        "first": words("Lukas Mia Leon Hannah Felix Lea Jonas Lena Paul Marie Elias"),
        "last": words(
            "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz"
        ),
        "streets": words("Hauptstraße Schulstraße Bahnhofstraße Gartenweg"),
        "cities": _places(
            "10115 Berlin; 20095 Hamburg; 80331 München; 50667 Köln; 04109 Leipzig"
        ),
        "company": ("GmbH", "UG", "KG"),
        "phone": "+49",
    },
}
# Customers living abroad: (country, postal code, city, street, phone prefix).
FOREIGN = (
    ("SE", "111 22", "Stockholm", "Kungsgatan", "+46"),
    ("NO", "0150", "Oslo", "Karl Johans gate", "+47"),
    ("US", "10001", "New York", "Main Street", "+1"),
    ("GB", "EC1A 1BB", "London", "High Street", "+44"),
)
ASCII = str.maketrans(
    {"ø": "oe", "æ": "ae", "å": "aa", "ü": "ue", "ö": "oe", "ä": "ae", "ß": "ss"}
)

SCHEDULES = (
    ("month_startdate", 1, "Monthly"),
    ("month_startdate", 12, "Yearly"),
    ("month_fixedday", 1, "Monthly"),
    ("month_startdate", 3, "Quarterly"),
    ("weekly_fixedday", 1, "Weekly"),
    ("month_lastday", 1, "Monthly"),
    ("daily", 30, "30 days"),
    ("month_startdate", 6, "Half-yearly"),
)
TIERS = ("Basic", "Plus", "Premium", "Studio", "Family", "Student", "Corporate", "Zen")
PRICES = {
    "DKK": (9900, 14900, 19900, 29900, 49900),
    "EUR": (1900, 2900, 4900, 9900),
    "USD": (1900, 2900, 4900, 9900),
    "JPY": (980, 1980, 2980, 4980, 9800),
    "KWD": (2950, 4950, 7450, 12345),
}
ADD_ON_PRICES = {"JPY": 300, "KWD": 750}
# The smallest price step per currency (minor units); 100 for the others.
PRICE_STEPS = {"JPY": 1, "KWD": 5}
# EU companies abroad (reverse charge): country, postal code, city, street,
# phone prefix, company suffix, VAT number pattern and its digits.
EU_ABROAD = (
    ("SE", "111 22", "Stockholm", "Kungsgatan", "+46", "AB", "SE{}01", 10),
    ("DE", "10115", "Berlin", "Friedrichstraße", "+49", "GmbH", "DE{}", 9),
    ("DK", "1050", "København K", "Bredgade", "+45", "ApS", "DK{}", 8),
    ("NL", "1012 AB", "Amsterdam", "Damrak", "+31", "B.V.", "NL{}B01", 9),
    ("FR", "75001", "Paris", "Rue de Rivoli", "+33", "SARL", "FR{}", 11),
    ("FI", "00100", "Helsinki", "Mannerheimintie", "+358", "Oy", "FI{}", 8),
    ("AT", "1010", "Wien", "Kärntner Straße", "+43", "GmbH", "ATU{}", 8),
)


def price_step(currency):
    """Prices of generated plans are multiples of this (1 yen, 5 fils, 1 unit)."""
    return PRICE_STEPS.get(currency, 100)


ADD_ONS = ("Towel service", "Mat rental", "Guest pass", "Tasting box")
ONE_OFFS = ("Workshop ticket", "Gift card", "Merchandise", "Private session")


def fmt_ts(value):
    """Format a datetime or epoch seconds the way every stored timestamp looks."""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


_FRACTION = re.compile(r"\.(\d+)")


def parse_iso(text):
    """ISO 8601 date-time, also with ``Z`` or any number of fraction digits."""
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    return datetime.fromisoformat(text)


def parse_ts(value):
    """Parse a stored timestamp back into an aware datetime."""
    return datetime.fromisoformat(value)


def digest(*parts, length=32):
    """Deterministic hex string from the given parts (keys, ids, secrets)."""
    text = ":".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def add_months(value, months):
    """Add calendar months, clamping the day to the target month's length."""
    month = value.month - 1 + months
    year = value.year + month // 12
    month = month % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def period_start(start, index, schedule_type, interval_length):
    """Start of billing period ``index`` (0-based) of a schedule from ``start``."""
    if schedule_type.startswith("month"):
        return add_months(start, index * interval_length)
    days = interval_length * (7 if schedule_type.startswith("weekly") else 1)
    return start + timedelta(days=index * days)


def period_count(start, until, schedule_type, interval_length):
    """Number of billing periods that begin before ``until``."""
    if until <= start:
        return 0
    if schedule_type.startswith("month"):
        months = (until.year - start.year) * 12 + until.month - start.month
        index = max(0, months // interval_length - 1)
        while period_start(start, index, schedule_type, interval_length) < until:
            index += 1
        return index
    days = interval_length * (7 if schedule_type.startswith("weekly") else 1)
    return math.ceil((until - start) / timedelta(days=days))


def set_invoice_state(invoice, state, settled=None):
    """Move a generated invoice to ``state``; only settled invoices carry settled
    values. (Its transactions and credit notes are made afterwards: ``history``.)"""
    invoice["state"] = state
    if state == "settled":
        invoice["settled"] = settled or invoice["created"]
        invoice["settled_amount"] = invoice["amount"]
    else:
        invoice["settled"] = None
        invoice["settled_amount"] = 0
        invoice["refunded_amount"] = 0


def account_template(index):
    """Profile for account ``index``; later accounts get generic names."""
    if index < len(ACCOUNT_TEMPLATES):
        return dict(ACCOUNT_TEMPLATES[index])
    template = dict(ACCOUNT_TEMPLATES[2])
    template.update(
        name=f"Sandbox Account {index + 1}",
        handle=f"sandbox-{index + 1}",
        organisation=f"Sandbox Account {index + 1}",
    )
    return template


class Account:
    """All objects of one account: the truth the server answers from.

    Tests may read the dicts; changes go through the server's mutation methods,
    which hold ``lock`` and bump ``revision`` (that invalidates the list indexes).
    """

    def __init__(self, seed, index, template, created):
        self.index = index
        self.key = "priv_" + digest("key", seed, index)
        self.id = digest("account", seed, index)
        self.handle = template["handle"]
        self.name = template["name"]
        self.organisation = template["organisation"]
        self.currency = template["currency"]
        self.locale = template["locale"]
        self.timezone = template["timezone"]
        self.country = template["country"]
        self.state = template["state"]
        self.vat = template["vat"]
        self.created = created
        self.customers = {}
        self.subscriptions = {}
        self.invoices = {}
        self.invoice_ids = {}
        self.plan_versions = {}
        # Every credit note and transaction by id; the same dicts as in their
        # invoice's ``credit_notes`` and ``transactions``.
        self.credit_notes = {}
        self.transactions = {}
        # Invoice id -> "invoice" for invoices whose VAT is rounded once on the
        # invoice (see ``books.invoice_totals``); the others sum their lines.
        self.invoice_rounding = {}
        self.events = []
        self.webhook_settings = {
            "urls": [],
            "username": None,
            "password": None,
            "disabled": False,
            "secret": digest("webhook", seed, index),
            "event_types": [],
            "alert_emails": [],
            "alert_count": None,
        }
        self.counters = {"customer": 0, "subscription": 0, "invoice": 0, "plan": 0}
        self.rng = random.Random(f"billwerk-sandbox-mutations:{seed}:{index}")
        self.revision = 0
        self.lock = threading.RLock()

    @property
    def tz(self):
        return ZoneInfo(self.timezone)

    @property
    def plans(self):
        """Current version of each plan, by handle."""
        return {handle: versions[-1] for handle, versions in self.plan_versions.items()}

    def new_id(self):
        """Fresh 32-hex id for objects created after generation."""
        return f"{self.rng.getrandbits(128):032x}"

    def info(self):
        """The ``GET /v1/account`` answer."""
        return {
            "id": self.id,
            "handle": self.handle,
            "name": self.name,
            "organisation": self.organisation,
            "currency": self.currency,
            "locale": self.locale,
            "timezone": self.timezone,
            "country": self.country,
            "state": self.state,
            "created": self.created,
        }

    def counts(self):
        """Objects by list entity, as the lists serve them now (plans by handle:
        a plan's versions are one plan)."""
        with self.lock:
            return {
                "plan": len(self.plan_versions),
                "customer": len(self.customers),
                "subscription": len(self.subscriptions),
                "invoice": len(self.invoices),
                "credit_note": len(self.credit_notes),
                "transaction": len(self.transactions),
            }

    def snapshot(self):
        """Everything generated, as one JSON-ready dict (for determinism checks)."""
        return {
            "account": self.info(),
            "key": self.key,
            "plans": self.plan_versions,
            "customers": self.customers,
            "subscriptions": self.subscriptions,
            "invoices": self.invoices,
            "events": self.events,
            "webhook_settings": self.webhook_settings,
        }

    def index_books(self, invoice):
        """(Re)register an invoice's credit notes and transactions by id."""
        for note in invoice.get("credit_notes", ()):
            self.credit_notes[note["id"]] = note
        for transaction in invoice.get("transactions", ()):
            self.transactions[transaction["id"]] = transaction

    def forget_books(self, invoice):
        """Drop an invoice's credit notes and transactions (hard delete)."""
        for note in invoice.get("credit_notes", ()):
            self.credit_notes.pop(note["id"], None)
        for transaction in invoice.get("transactions", ()):
            self.transactions.pop(transaction["id"], None)
        self.invoice_rounding.pop(invoice["id"], None)

    def reverse_charge(self, customer_handle):
        """True when sales to this customer carry 0 % VAT (EU company abroad)."""
        return reverse_charge(self.customers.get(customer_handle), self.country)

    def count_active(self, customer_handle):
        """Recompute a customer's ``active_subscriptions`` from the subscriptions."""
        customer = self.customers.get(customer_handle)
        if customer is None:
            return
        customer["active_subscriptions"] = sum(
            1
            for sub in self.subscriptions.values()
            if sub["customer"] == customer_handle and sub["state"] == "active"
        )


def default_sizes(customers=200, plans=8, subscriptions=None, invoices=None):
    """Fill in the derived sizes: 1.5 subscriptions per customer, 2 invoices each."""
    if subscriptions is None:
        subscriptions = round(customers * 1.5)
    if invoices is None:
        invoices = 2 * subscriptions
    return {
        "customers": max(0, int(customers)),
        "plans": max(1, int(plans)),
        "subscriptions": max(0, int(subscriptions)) if customers else 0,
        "invoices": max(0, int(invoices)) if customers else 0,
    }


def generate_account(
    seed,
    index,
    template=None,
    *,
    customers=200,
    plans=8,
    subscriptions=None,
    invoices=None,
    anchor=None,
    events=True,
    clock=None,
):
    """Build one account's data; identical arguments give identical data.

    The data ends at ``anchor``; without one at the start of today, by ``clock``
    when given (an object with ``now()``), else in UTC (see ``resolve_anchor``).
    """
    template = dict(template or account_template(index))
    sizes = default_sizes(customers, plans, subscriptions, invoices)
    anchor = resolve_anchor(anchor, clock)
    return _Builder(seed, index, template, sizes, anchor, events).build()


class _Builder:
    """One generation run; kept as a class only to share the RNG and the clock."""

    def __init__(self, seed, index, template, sizes, anchor, events):
        self.rng = random.Random(f"billwerk-sandbox:{seed}:{index}")
        # Customers abroad and the payment history draw from their own RNG, so
        # the rest of the data stays what it was before they existed.
        self.books_rng = random.Random(f"billwerk-sandbox-books:{seed}:{index}")
        self.sizes = sizes
        self.template = template
        self.people = PEOPLE[template.get("people", "dk")]
        self.anchor_dt = anchor.astimezone(UTC).replace(microsecond=0)
        self.anchor = int(self.anchor_dt.timestamp())
        days = 3 * 365 + self.rng.randint(-30, 30)
        self.start = self.anchor - days * 86400 - self.rng.randrange(86400)
        self.account = Account(seed, index, template, fmt_ts(self.start))
        self.with_events = events
        self.sub_marks = []
        self.plan_meta = {}

    def hex(self):
        return f"{self.rng.getrandbits(128):032x}"

    def moment(self, low, high):
        """Random whole second in [low, high), never past the anchor."""
        high = min(high, self.anchor)
        if high <= low:
            return min(low, self.anchor - 1)
        return low + self.rng.randrange(high - low)

    def build(self):
        self.build_plans()
        customer_rows = self.build_customers()
        self.build_eu_companies()
        self.build_subscriptions(customer_rows)
        self.build_invoices()
        self.finish_customers(customer_rows)
        if self.with_events:
            self.build_events()
        account = self.account
        account.counters.update(
            customer=len(account.customers),
            subscription=len(account.subscriptions),
            invoice=len(account.invoices),
            plan=len(account.plan_versions),
        )
        return account

    # plans ------------------------------------------------------------------

    def plan_currency(self, index):
        """Mostly the account currency; a few plans in EUR, USD and JPY/DKK."""
        own = self.account.currency
        count = self.sizes["plans"]
        extra = self.template.get("extra_currencies", ("EUR", "USD", "JPY", "DKK"))
        extra = [cur for cur in extra if cur != own]
        extra = extra[: min(3, count // 2)]
        if 1 <= index <= len(extra):
            return extra[index - 1]
        return own

    def build_plans(self):
        rng = self.rng
        count = self.sizes["plans"]
        span = self.anchor - self.start
        for index in range(count):
            handle = f"plan-{index + 1:03d}"
            schedule, interval, label = SCHEDULES[index % len(SCHEDULES)]
            currency = self.plan_currency(index)
            vat = 0.0 if currency == "USD" else self.account.vat
            base = rng.choice(PRICES.get(currency, PRICES["EUR"]))
            if schedule.startswith("month"):
                factor = interval if interval < 12 else 10
            elif schedule.startswith("weekly"):
                factor = 0.25
            else:
                factor = 1
            step = price_step(currency)
            amount = max(step, round(base * factor / step) * step)
            tier = TIERS[index % len(TIERS)]
            name = f"{tier} {label}"
            versions = 1 + (rng.random() < 0.4) + (rng.random() < 0.15)
            if index == 0 and count >= 2:
                versions = max(versions, 2)
            created = self.start + rng.randrange(max(1, span // 10))
            rows = []
            for number in range(1, versions + 1):
                rows.append(
                    {
                        "handle": handle,
                        "version": number,
                        "name": name,
                        "description": f"{name} plan, billed {label.lower()}",
                        "amount": amount,
                        "currency": currency,
                        "state": "active" if number == versions else "superseded",
                        "created": fmt_ts(created),
                        "deleted": None,
                        "vat": vat,
                        "schedule_type": schedule,
                        "interval_length": interval,
                    }
                )
                amount = round(amount * 1.1 / step) * step
                created = self.moment(created + 86400, created + span // 3)
            deleted = index > 0 and rng.random() < 0.12
            if index == count - 1 and count >= 3:
                deleted = deleted or not any(
                    versions[-1]["state"] == "deleted"
                    for versions in self.account.plan_versions.values()
                )
            deleted_ts = None
            if deleted:
                last_created = int(parse_ts(rows[-1]["created"]).timestamp())
                deleted_ts = self.moment(last_created + 86400, self.anchor)
                rows[-1]["state"] = "deleted"
                rows[-1]["deleted"] = fmt_ts(deleted_ts)
            self.account.plan_versions[handle] = rows
            self.plan_meta[handle] = {
                "times": [int(parse_ts(row["created"]).timestamp()) for row in rows],
                "deleted": deleted_ts,
            }

    def plan_at(self, handle, moment):
        """The plan version in effect at ``moment``."""
        rows = self.account.plan_versions[handle]
        times = self.plan_meta[handle]["times"]
        chosen = rows[0]
        for row, created in zip(rows, times, strict=True):
            if created <= moment:
                chosen = row
        return chosen

    # customers --------------------------------------------------------------

    def build_customers(self):
        rng = self.rng
        people = self.people
        count = self.sizes["customers"]
        times = sorted(self.moment(self.start, self.anchor) for _ in range(count))
        for pos in range(1, count):
            if rng.random() < 0.05:
                times[pos] = times[pos - 1]
        test = self.account.state == "test"
        rows = []
        for number, created in enumerate(times, start=1):
            first = rng.choice(people["first"])
            last = rng.choice(people["last"])
            handle = f"cust-{number:05d}"
            email = f"{first}.{last}.{number}@example.com".lower().translate(ASCII)
            company = vat = None
            if rng.random() < 0.25:
                company = f"{last} {rng.choice(people['company'])}"
                vat = f"{self.template['country']}{rng.randrange(10**7, 10**8)}"
            if rng.random() < 0.1:
                country, postal, city, street, phone = rng.choice(FOREIGN)
            else:
                country = self.template["country"]
                postal, city = rng.choice(people["cities"])
                street, phone = rng.choice(people["streets"]), people["phone"]
            rows.append((handle, created, rng.random() < 0.03 and count >= 10))
            self.account.customers[handle] = {
                "handle": handle,
                "email": email,
                "first_name": first,
                "last_name": last,
                "company": company,
                "address": f"{street} {rng.randint(1, 120)}",
                "address2": f"{rng.randint(1, 5)}. sal" if rng.random() < 0.1 else None,
                "postal_code": postal,
                "city": city,
                "country": country,
                "phone": f"{phone} {rng.randrange(10**7, 10**8)}",
                "vat": vat,
                "debtor_id": number,
                "created": fmt_ts(created),
                "deleted": None,
                "active_subscriptions": 0,
                "test": test,
            }
        if count >= 10 and not any(row[2] for row in rows):
            pos = rng.randrange(count)
            rows[pos] = (rows[pos][0], rows[pos][1], True)
        return rows

    def build_eu_companies(self):
        """In an EU account, about 10 % of the customers are companies in another
        member state with their VAT number there: their invoices carry 0 % VAT
        (reverse charge). Customers already abroad in the EU keep their address;
        a VAT number they have moves to their country."""
        home = self.template["country"]
        if home not in EU_COUNTRIES:
            return
        rng = self.books_rng
        places = [row for row in EU_ABROAD if row[0] != home]
        by_country = {row[0]: row for row in places}
        customers = list(self.account.customers.values())
        for customer in customers:
            abroad = customer["country"] != home
            if abroad and customer["country"] in by_country and customer["vat"]:
                place = by_country[customer["country"]]
                customer["vat"] = self._vat_number(place)
            elif not abroad and rng.random() < 0.09:
                self._move_abroad(customer, rng.choice(places))
        if len(customers) >= 10 and not any(
            reverse_charge(customer, home) for customer in customers
        ):
            self._move_abroad(rng.choice(customers), rng.choice(places))

    def _vat_number(self, place):
        digits = place[7]
        number = self.books_rng.randrange(10 ** (digits - 1), 10**digits)
        return place[6].format(number)

    def _move_abroad(self, customer, place):
        country, postal, city, street, phone, suffix = place[:6]
        customer.update(
            company=f"{customer['last_name']} {suffix}",
            vat=self._vat_number(place),
            country=country,
            postal_code=postal,
            city=city,
            address=f"{street} {self.books_rng.randint(1, 120)}",
            address2=None,
            phone=f"{phone} {self.books_rng.randrange(10**7, 10**8)}",
        )

    # subscriptions ----------------------------------------------------------

    def pick_states(self, count, deleted_flags):
        rng = self.rng
        states = []
        for flag in deleted_flags:
            roll = rng.random()
            if flag or 0.6 <= roll < 0.85:
                states.append("expired")
            elif roll < 0.6:
                states.append("active")
            elif roll < 0.92:
                states.append("on_hold")
            else:
                states.append("pending")
        if count >= len(SUBSCRIPTION_STATES):
            for state in SUBSCRIPTION_STATES:
                if state not in states:
                    candidates = [
                        pos
                        for pos, current in enumerate(states)
                        if states.count(current) > 1 and not deleted_flags[pos]
                    ]
                    if candidates:
                        states[rng.choice(candidates)] = state
        return states

    def build_subscriptions(self, customer_rows):
        rng = self.rng
        count = self.sizes["subscriptions"] if customer_rows else 0
        handles = list(self.account.plan_versions)
        usable = [h for h in handles if self.plan_meta[h]["deleted"] is None]
        own = self.account.currency
        home = [
            h for h in usable if self.account.plan_versions[h][0]["currency"] == own
        ]
        drafts = []
        for _ in range(count):
            cust_handle, cust_ts, deleted = rng.choice(customer_rows)
            roll = rng.random()
            if roll < 0.1:
                plan = rng.choice(handles)
            elif roll < 0.75 and home:
                plan = rng.choice(home)
            else:
                plan = rng.choice(usable or handles)
            meta = self.plan_meta[plan]
            low = max(cust_ts, meta["times"][0] + 60)
            high = meta["deleted"] or self.anchor - 3600
            if low >= high:
                plan = handles[0]
                low = max(cust_ts, self.plan_meta[plan]["times"][0] + 60)
                high = self.anchor - 3600
            span = max(1, high - low)
            created = min(low + int(span * rng.random() ** 2), self.anchor - 3600)
            if rng.random() < 0.03:  # recent sign-ups: some are still in trial
                recent = self.anchor - rng.randrange(3600, 14 * 86400)
                created = max(low, min(recent, high))
            drafts.append((created, cust_handle, plan, deleted))
        drafts.sort(key=lambda row: row[0])
        states = self.pick_states(count, [row[3] for row in drafts])
        cancelled = [rng.random() < 0.15 for _ in range(count)]
        if count and not any(
            flag and state == "active"
            for flag, state in zip(cancelled, states, strict=True)
        ):
            active = [pos for pos, state in enumerate(states) if state == "active"]
            if active:
                cancelled[rng.choice(active)] = True
        self.billing = []
        for number, (created, customer, plan, _deleted) in enumerate(drafts, start=1):
            self.build_subscription(
                number,
                created,
                customer,
                plan,
                states[number - 1],
                cancelled[number - 1],
            )

    def build_subscription(self, number, created, customer, plan_handle, state, cancel):
        rng = self.rng
        handle = f"sub-{number:05d}"
        plan = self.plan_at(plan_handle, created)
        schedule, interval = plan["schedule_type"], plan["interval_length"]
        amount = plan["amount"]
        if rng.random() < 0.2:
            step = price_step(plan["currency"])
            amount = max(step, round(amount * rng.uniform(0.7, 0.9) / step) * step)
        quantity = 1 if rng.random() < 0.85 else rng.randint(2, 5)
        created_dt = datetime.fromtimestamp(created, UTC)
        sub = {
            "handle": handle,
            "customer": customer,
            "plan": plan_handle,
            "plan_version": plan["version"],
            "state": state,
            "is_cancelled": False,
            "expires": None,
            "amount": amount,
            "quantity": quantity,
            "currency": plan["currency"],
            "created": fmt_ts(created),
            "activated": None,
            "start_date": None,
            "end_date": None,
            "current_period_start": None,
            "next_period_start": None,
            "in_trial": False,
            "trial_end": None,
            "expired_date": None,
            "expire_reason": None,
        }
        self.account.subscriptions[handle] = sub
        if state == "pending":
            start = self.anchor_dt + timedelta(days=rng.randint(1, 30))
            sub["start_date"] = sub["next_period_start"] = fmt_ts(start)
            return
        sub["activated"] = sub["start_date"] = sub["created"]
        billing_start = created_dt
        recent = created > self.anchor - 30 * 86400
        if rng.random() < (0.5 if recent else 0.1):
            trial_end = created_dt + timedelta(days=rng.choice((14, 30)))
            if state == "active" or trial_end < self.anchor_dt - timedelta(days=1):
                billing_start = trial_end
                sub["trial_end"] = fmt_ts(trial_end)
        if state == "active":
            until = self.anchor_dt
        else:
            low = int(billing_start.timestamp()) + 1
            until = datetime.fromtimestamp(self.moment(low, self.anchor), UTC)
        periods = period_count(billing_start, until, schedule, interval)
        if periods == 0:
            sub["in_trial"] = state == "active"
            sub["current_period_start"] = sub["created"]
            if state == "active":
                sub["next_period_start"] = fmt_ts(billing_start)
        else:
            current = period_start(billing_start, periods - 1, schedule, interval)
            sub["current_period_start"] = fmt_ts(current)
            if state == "active":
                following = period_start(billing_start, periods, schedule, interval)
                sub["next_period_start"] = fmt_ts(following)
        until_ts = fmt_ts(until)
        if state == "active" and cancel:
            sub["is_cancelled"] = True
            sub["expires"] = sub["end_date"] = sub["next_period_start"]
            low = int(parse_ts(sub["current_period_start"]).timestamp())
            moment = fmt_ts(self.moment(low, self.anchor))
            self.sub_marks.append((moment, "subscription_cancelled", handle))
        elif state == "expired":
            reason = rng.choice(EXPIRE_REASONS)
            sub["expire_reason"] = reason
            sub["expired_date"] = sub["expires"] = sub["end_date"] = until_ts
            if reason == "cancelled" or cancel:
                sub["is_cancelled"] = True
                self.sub_marks.append((until_ts, "subscription_cancelled", handle))
            self.sub_marks.append((until_ts, "subscription_expired", handle))
        elif state == "on_hold":
            self.sub_marks.append((until_ts, "subscription_on_hold", handle))
        if periods:
            self.billing.append((sub, billing_start, periods))

    # invoices ---------------------------------------------------------------

    def invoice_budget(self, total):
        """Invoices per subscription: a common cap, so the total hits ``total``."""
        counts = [row[2] for row in self.billing]
        if not counts:
            return []
        low, high = 0, max(counts)
        while low < high:
            cap = (low + high + 1) // 2
            if sum(min(cap, n) for n in counts) <= total:
                low = cap
            else:
                high = cap - 1
        shares = [min(low, n) for n in counts]
        spare = total - sum(shares)
        for pos, n in enumerate(counts):
            if spare <= 0:
                break
            if n > shares[pos]:
                shares[pos] += 1
                spare -= 1
        return shares

    def last_state(self, sub):
        rng = self.rng
        roll = rng.random()
        if sub["state"] == "expired" and sub["expire_reason"] == "dunning":
            return "failed" if roll < 0.5 else "cancelled"
        if sub["state"] == "on_hold":
            return ("dunning", "failed", "settled")[rng.randrange(3)]
        if sub["state"] == "active":
            for state, limit in (
                ("settled", 0.7),
                ("pending", 0.78),
                ("dunning", 0.85),
                ("authorized", 0.9),
                ("created", 0.95),
            ):
                if roll < limit:
                    return state
            return "failed"
        return "settled" if roll < 0.9 else "cancelled"

    def new_invoice(self, customer, sub, plan, created, inv_type, lines, due_days=0):
        invoice = {
            "id": self.hex(),
            "handle": None,
            "customer": customer,
            "subscription": sub,
            "plan": plan,
            "state": "created",
            "type": inv_type,
            "amount": 0,
            "amount_vat": 0,
            "amount_ex_vat": 0,
            "settled_amount": 0,
            "refunded_amount": 0,
            "credited_amount": 0,
            "currency": None,
            "number": None,
            "created": fmt_ts(created),
            "due": fmt_ts(created + due_days * 86400),
            "settled": None,
            "period_from": None,
            "period_to": None,
            "order_lines": lines,
            "transactions": [],
            "credit_notes": [],
        }
        invoice_totals(invoice)
        return invoice

    def settle(self, invoice, state):
        rng = self.rng
        created = int(parse_ts(invoice["created"]).timestamp())
        settled = None
        if state == "settled":
            settled = fmt_ts(self.moment(created, created + 5 * 86400))
        set_invoice_state(invoice, state, settled)
        if state == "settled" and rng.random() < 0.03:
            full = rng.random() < 0.5
            invoice["refunded_amount"] = (
                invoice["amount"] if full else invoice["amount"] // 2
            )

    def build_invoices(self):
        rng = self.rng
        total = self.sizes["invoices"]
        oneoff_target = round(total * 0.05) if total >= 20 else 0
        shares = self.invoice_budget(total - oneoff_target)
        rows = []
        for (sub, billing_start, periods), share in zip(
            self.billing, shares, strict=True
        ):
            plan = self.plan_at(sub["plan"], int(parse_ts(sub["created"]).timestamp()))
            vat, schedule = plan["vat"], plan["schedule_type"]
            if self.account.reverse_charge(sub["customer"]):
                vat = 0.0
            interval = plan["interval_length"]
            for index in range(periods - share, periods):
                start = period_start(billing_start, index, schedule, interval)
                end = period_start(billing_start, index + 1, schedule, interval)
                created = min(int(start.timestamp()), self.anchor - 1)
                stamp = fmt_ts(created)
                period = {"period_from": fmt_ts(start), "period_to": fmt_ts(end)}
                lines = [
                    order_line(
                        self.hex(),
                        plan["name"],
                        "plan",
                        sub["amount"],
                        sub["quantity"],
                        vat,
                        stamp,
                        origin_handle=sub["plan"],
                        **period,
                    )
                ]
                if rng.random() < 0.1:
                    unit = ADD_ON_PRICES.get(sub["currency"], 2500)
                    text = rng.choice(ADD_ONS)
                    lines.append(
                        order_line(
                            self.hex(), text, "add_on", unit, 1, vat, stamp, **period
                        )
                    )
                invoice = self.new_invoice(
                    sub["customer"], sub["handle"], sub["plan"], created, "s", lines
                )
                invoice["currency"] = sub["currency"]
                invoice["period_from"] = fmt_ts(start)
                invoice["period_to"] = fmt_ts(end)
                if index == periods - 1:
                    state = self.last_state(sub)
                else:
                    roll = rng.random()
                    state = (
                        "settled"
                        if roll < 0.93
                        else ("cancelled" if roll < 0.97 else "failed")
                    )
                self.settle(invoice, state)
                rows.append(invoice)
        rows.extend(self.build_one_offs(oneoff_target))
        self.cover_invoice_states(rows)
        rows.sort(key=lambda inv: (inv["created"], inv["id"]))
        for number, invoice in enumerate(rows, start=1):
            invoice["handle"] = f"inv-{number}"
            invoice["number"] = number
            self.account.invoices[invoice["id"]] = invoice
            self.account.invoice_ids[invoice["handle"]] = invoice["id"]
        History(self.books_rng, self.anchor, fmt_ts).build(rows)
        for invoice in rows:
            self.account.index_books(invoice)

    def build_one_offs(self, count):
        rng = self.rng
        customers = list(self.account.customers.values())
        rows = []
        currency = self.account.currency
        step = price_step(currency)
        for _ in range(count if customers else 0):
            customer = rng.choice(customers)
            low = int(parse_ts(customer["created"]).timestamp())
            created = self.moment(low, self.anchor)
            stamp = fmt_ts(created)
            vat = self.account.vat
            if self.account.reverse_charge(customer["handle"]):
                vat = 0.0
            lines = []
            for _line in range(rng.randint(1, 2)):
                unit = (
                    rng.choice(PRICES.get(currency, PRICES["EUR"])) // 2 // step * step
                    or step
                )
                lines.append(
                    order_line(
                        self.hex(),
                        rng.choice(ONE_OFFS),
                        "ondemand",
                        unit,
                        rng.randint(1, 3),
                        vat,
                        stamp,
                    )
                )
            inv_type = "co" if rng.random() < 0.8 else "ch"
            invoice = self.new_invoice(
                customer["handle"], None, None, created, inv_type, lines, due_days=14
            )
            invoice["currency"] = currency
            roll = rng.random()
            state = (
                "settled" if roll < 0.8 else ("pending" if roll < 0.9 else "created")
            )
            self.settle(invoice, state)
            rows.append(invoice)
        return rows

    def cover_invoice_states(self, rows):
        """Make sure every invoice state occurs at least once (given enough rows)."""
        if len(rows) < 2 * len(INVOICE_STATES):
            return
        for state in INVOICE_STATES:
            present = {}
            for pos, invoice in enumerate(rows):
                present.setdefault(invoice["state"], []).append(pos)
            if state in present:
                continue
            largest = max(present.values(), key=len)
            self.settle(rows[self.rng.choice(largest)], state)

    # finishing --------------------------------------------------------------

    def finish_customers(self, customer_rows):
        """Active counts, and deletion times after everything the customer had."""
        account = self.account
        latest = {}
        for sub in account.subscriptions.values():
            if sub["state"] == "active":
                account.customers[sub["customer"]]["active_subscriptions"] += 1
            stamp = sub["expired_date"] or sub["created"]
            latest[sub["customer"]] = max(latest.get(sub["customer"], ""), stamp)
        for invoice in account.invoices.values():
            stamp = max(invoice_moments(invoice))
            latest[invoice["customer"]] = max(
                latest.get(invoice["customer"], ""), stamp
            )
        for handle, created, deleted in customer_rows:
            if not deleted:
                continue
            customer = account.customers[handle]
            if customer["active_subscriptions"]:
                continue
            last = created
            if handle in latest:
                last = max(last, int(parse_ts(latest[handle]).timestamp()))
            moment = self.moment(last + 3600, last + 30 * 86400)
            customer["deleted"] = fmt_ts(max(moment, last))

    def build_events(self):
        """Event log for the generated history, oldest first."""
        rows = []
        for customer in self.account.customers.values():
            handle = customer["handle"]
            rows.append((customer["created"], "customer_created", handle, None, None))
            if customer["deleted"]:
                rows.append(
                    (customer["deleted"], "customer_deleted", handle, None, None)
                )
        subs = self.account.subscriptions
        for sub in subs.values():
            rows.append(
                (
                    sub["created"],
                    "subscription_created",
                    sub["customer"],
                    sub["handle"],
                    None,
                )
            )
        for moment, kind, handle in self.sub_marks:
            rows.append((moment, kind, subs[handle]["customer"], handle, None))
        for inv in self.account.invoices.values():
            rows.extend(invoice_event_rows(inv))
        order = {"created": 0}
        rows.sort(key=lambda row: (row[0], order.get(row[1].split("_")[-1], 1)))
        events = []
        for moment, kind, customer, subscription, invoice, *extra in rows:
            event = {
                "id": self.hex(),
                "event_type": kind,
                "customer": customer,
                "subscription": subscription,
                "invoice": invoice,
            }
            event.update(*extra)
            event["created"] = moment
            events.append(event)
        self.account.events = events


def invoice_moments(invoice):
    """Every time something happened to a generated invoice."""
    stamps = [invoice["created"], invoice["settled"] or ""]
    for transaction in invoice.get("transactions", ()):
        stamps.append(transaction["created"])
    for note in invoice.get("credit_notes", ()):
        stamps.append(note["created"])
    return stamps


def invoice_event_rows(inv):
    """(moment, type, customer, subscription, invoice handle, extra fields) of
    the events a generated invoice made: created, each settlement (also a
    partial one), each refund and each credit note; cancelled, failed, dunning
    and authorized at creation."""
    key = (inv["customer"], inv["subscription"], inv["handle"])
    rows = [(inv["created"], "invoice_created", *key)]
    refund_notes = {
        note["transaction"]: note["id"]
        for note in inv.get("credit_notes", ())
        if note["transaction"]
    }
    for transaction in inv.get("transactions", ()):
        if transaction["type"] == "settle":
            extra = {"transaction": transaction["id"]}
            rows.append((transaction["settled"], "invoice_settled", *key, extra))
        elif transaction["type"] == "refund":
            extra = {
                "transaction": transaction["id"],
                "credit_note": refund_notes.get(transaction["id"]),
            }
            rows.append((transaction["refunded"], "invoice_refund", *key, extra))
    for note in inv.get("credit_notes", ()):
        extra = {"credit_note": note["id"]}
        rows.append((note["created"], "invoice_credited", *key, extra))
    if inv["state"] in ("cancelled", "failed", "dunning", "authorized"):
        rows.append((inv["created"], f"invoice_{inv['state']}", *key))
    return rows

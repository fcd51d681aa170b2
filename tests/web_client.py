"""What Odoo's web client asks the server when a user opens a screen.

Tests call these instead of reading fields by hand, so that a field a view
shows to a user who may not read it fails the test as it fails the browser.
"""

import signal
from contextlib import contextmanager

from lxml import etree

RELATIONAL = ("many2one", "one2many", "many2many")


def view_specification(model, view_type):
    """The ``web_read`` specification of the user's ``view_type`` of ``model``.

    ``get_views`` returns the arch as the user gets it: nodes of groups the
    user is not in are already gone, as in the browser.
    """
    views = model.get_views([(False, view_type)])
    arch = etree.fromstring(views["views"][view_type]["arch"])
    return _fields_of(arch, model)


def _fields_of(node, model):
    spec = {}
    for child in node.iterchildren(tag=etree.Element):
        if child.tag != "field":
            spec.update(_fields_of(child, model))
            continue
        name = child.get("name")
        field = model._fields[name]
        if field.type not in RELATIONAL:
            spec[name] = {}
            continue
        comodel = model.env[field.comodel_name]
        subview = next(child.iterchildren("list", "form", "kanban"), None)
        subfields = _fields_of(subview, comodel) if subview is not None else {}
        spec[name] = {"fields": {"display_name": {}, **subfields}}
    return spec


def open_form(records, view_type="form"):
    """Read ``records`` as their form shows them to the environment's user.

    The form's title and breadcrumb are the record's ``display_name``, which
    the browser always asks for.
    """
    spec = {"display_name": {}, **view_specification(records, view_type)}
    return records.web_read(spec)


def open_list(model, domain=(), limit=80):
    """The first page of ``model``'s list, as the user's browser loads it."""
    return model.web_search_read(
        list(domain), view_specification(model, "list"), limit=limit
    )


class HangError(AssertionError):
    """The call did not return: the server would have held a worker forever."""


@contextmanager
def never_hangs(seconds=60):
    """Interrupt a call that loops: a hang fails the test instead of the suite.

    A guard, not a speed check: ``seconds`` is far above any honest answer,
    and only a call that would never return reaches it (SIGALRM interrupts
    Python code, which is where such a loop runs).
    """

    def interrupt(_signum, _frame):
        raise HangError(f"did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

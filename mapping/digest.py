"""A payload's digest: whether Billwerk's object changed since it was stored.

The sync stores it with each record and writes a record again only when the
digest of what Billwerk sends differs. It is computed for every object of
every page read (a first load of 100,000 objects, with their transactions and
credit notes, digests some 150,000), so it must cost little: ``marshal``
serialises a parsed payload in C, about four times faster than the canonical
JSON (``json.dumps`` with sorted keys) it replaces, which took 7 s of such a
load.

It depends on the values and on the order of the keys, as Billwerk sends them:
the same object read twice, through a list or alone, in compact or spaced JSON,
has the same digest. Should Billwerk reorder an object's fields, or a new
Python write ``marshal`` differently, each record is written once more, no
harm done. Format 2 writes no back-references (format 3 and later mark
objects by their reference count) and the same bytes for equal strings,
interned or not.
"""

import hashlib
import marshal

from .entities import MAPPING_VERSION

MARSHAL_FORMAT = 2
# The mapping's version is part of the digest: a new mapping rewrites every
# record once instead of leaving old copies half-filled.
_PREFIX = marshal.dumps(MAPPING_VERSION, MARSHAL_FORMAT)


def payload_digest(payload):
    """40 hex digits for a payload parsed from JSON (dicts, lists, text, numbers,
    true, false, null)."""
    data = _PREFIX + marshal.dumps(payload, MARSHAL_FORMAT)
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()

from odoo import fields, models


class BillwerkDocumentMixin(models.AbstractModel):
    """What the books need to know of a Billwerk document beyond its copy.

    Invoices, credit notes and transactions are posted or wait with a reason
    (``post_error``, on each model); a document of an invoice booked before
    posting started can instead be marked as booked elsewhere by an
    accountant, which the reconciliation with the ledger then explains.
    """

    _name = "billwerk.document.mixin"
    _description = "Billwerk document for the books"

    booked_elsewhere = fields.Boolean(
        readonly=True,
        copy=False,
        help="An accountant marked it as already in the books some other way: "
        "the connector never posts it.",
    )

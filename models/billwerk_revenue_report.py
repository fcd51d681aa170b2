from odoo import fields, models, tools


class BillwerkRevenueReport(models.Model):
    """Recognised and deferred revenue per month, plan and income account.

    Read from the recognition schedule (billwerk.revenue.share), in the
    company's currency: *recognised* is what the month's recognition entries
    move to income; *deferred at month end* is what invoices and credits
    booked by the month's last day leave for later months, which is the
    deferred revenue account's balance at that day for this Billwerk account.
    """

    _name = "billwerk.revenue.report"
    _description = "Billwerk revenue recognition report"
    _auto = False
    _order = "month desc, account_id"

    account_id = fields.Many2one("billwerk.account", readonly=True)
    billwerk_id = fields.Char(
        string="Billwerk account id",
        readonly=True,
        help="The Billwerk account whose invoices the rows come from: after a "
        "switch, the earlier account's schedules keep running here.",
    )
    company_id = fields.Many2one("res.company", readonly=True)
    company_currency_id = fields.Many2one(related="company_id.currency_id")
    month = fields.Date(readonly=True)
    plan_id = fields.Many2one("billwerk.plan", readonly=True)
    income_account_id = fields.Many2one(
        "account.account", string="Income account", readonly=True
    )
    recognised = fields.Monetary(
        string="Recognised revenue", currency_field="company_currency_id", readonly=True
    )
    deferred = fields.Monetary(
        string="Deferred at month end",
        currency_field="company_currency_id",
        readonly=True,
    )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            f"""
            CREATE VIEW {self._table} AS (
                WITH months AS (
                    SELECT account_id,
                           generate_series(
                               date_trunc('month', min(booked_on)),
                               max(month),
                               interval '1 month'
                           )::date AS month
                      FROM billwerk_revenue_share
                  GROUP BY account_id
                )
                SELECT row_number() OVER (
                           ORDER BY m.account_id, im.billwerk_account, m.month,
                                    s.plan_id, s.income_account_id
                       ) AS id,
                       m.account_id,
                       im.billwerk_account AS billwerk_id,
                       s.company_id,
                       m.month,
                       s.plan_id,
                       s.income_account_id,
                       COALESCE(SUM(s.balance) FILTER (WHERE s.month = m.month), 0)
                           AS recognised,
                       COALESCE(SUM(s.balance) FILTER (WHERE s.month > m.month), 0)
                           AS deferred
                  FROM months m
                  JOIN billwerk_revenue_share s
                    ON s.account_id = m.account_id
                   AND (s.month = m.month
                        OR (s.month > m.month
                            AND s.booked_on < m.month + interval '1 month'))
                  LEFT JOIN account_move im ON im.id = s.invoice_move_id
              GROUP BY m.account_id, im.billwerk_account, s.company_id, m.month,
                       s.plan_id, s.income_account_id
            )
            """
        )

from odoo import api, models

from .billwerk_posting import NO_DISTRIBUTION_MODELS


class AccountAnalyticDistributionModel(models.Model):
    _inherit = "account.analytic.distribution.model"

    @api.model
    def _get_applicable_models(self, vals):
        # Odoo looks for the analytic distribution of every new line with a
        # search of its own. A connector batch that found no distribution
        # model at all (in the same transaction, just before) knows the
        # answer of each: none.
        if self.env.context.get(NO_DISTRIBUTION_MODELS):
            return self.browse()
        return super()._get_applicable_models(vals)

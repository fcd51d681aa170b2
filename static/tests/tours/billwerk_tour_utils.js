/** @odoo-module */
/*
 * What the scheduled action's worker does in production, done by the tour:
 * tours run in one Odoo process whose scheduler is off, so a step calls the
 * scheduled action the way its "Run manually" button does. The screen then
 * follows through Odoo's bus, as it does in production.
 */
import {rpc} from "@web/core/network/rpc";

export function runScheduledAction(cronId, content) {
    return {
        content: content || "The scheduled action takes the queued run",
        trigger: ".o_form_view .o_billwerk_run_progress",
        run: async () => {
            await rpc("/web/dataset/call_kw/ir.cron/method_direct_trigger", {
                model: "ir.cron",
                method: "method_direct_trigger",
                args: [[cronId]],
                kwargs: {},
            });
        },
    };
}

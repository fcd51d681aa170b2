/** @odoo-module */
/*
 * Sync now as production runs it: the click only queues the run; each call
 * of the scheduled action reads what fits in its time (the test gives each
 * call one page) and the screen follows through the bus: queued, a progress
 * bar that moves, then the summary. tests/test_tour.py stores the facts.
 */
import {registry} from "@web/core/registry";
import {runScheduledAction} from "./billwerk_tour_utils";

function facts() {
    return JSON.parse(sessionStorage.getItem("billwerk_progress_tour") || "{}");
}

function progressAbove(percent) {
    // The progress bar widget writes its value as text, e.g. "37%".
    return {
        content: `The progress bar moved past ${percent} %`,
        trigger: ".o_form_view .o_billwerk_run_progress .o_progressbar",
        run: () => {
            const text = document.querySelector(
                ".o_form_view .o_billwerk_run_progress .o_progressbar_value"
            ).textContent;
            const value = parseFloat(text);
            if (!(value > percent)) {
                throw new Error(`progress ${text}, expected above ${percent} %`);
            }
        },
    };
}

registry.category("web_tour.tours").add("billwerk_progress_tour", {
    steps: () => {
        const {cron, invoices} = facts();
        return [
            {
                content: "Synchronize now",
                trigger: ".o_form_view button[name=action_sync_now]",
                run: "click",
            },
            {
                content: "The click answers at once: the run is queued",
                trigger: '.o_form_view .o_billwerk_run_progress:contains("Queued")',
            },
            runScheduledAction(cron, "A first scheduled call reads one page"),
            {
                content: "The screen follows without a reload: one call so far",
                trigger:
                    '.o_form_view .o_billwerk_run_progress:contains("next scheduled call (1 so far)")',
            },
            progressAbove(0),
            runScheduledAction(cron, "A second call reads the next page"),
            {
                content: "Two calls so far",
                trigger:
                    '.o_form_view .o_billwerk_run_progress:contains("next scheduled call (2 so far)")',
            },
            progressAbove(50),
            runScheduledAction(cron, "A third call reads the last page and ends the run"),
            {
                content: "The run is done: the panel gives way to the summary",
                trigger: `.o_form_view:not(:has(.o_billwerk_run_progress:visible)) button[name=action_open_invoices] .o_stat_value:contains("${invoices}")`,
            },
            {
                content: "Its status reads Done",
                trigger: '.o_form_view .o_field_widget[name=last_sync_state]:contains("Done")',
            },
        ];
    },
});

/** @odoo-module */
/*
 * An accountant's way through the account screen, as the issue describes it:
 * set a key, read the figures, drill down, switch keeping the data, see only
 * the new account in the lists and the old run under its own name, switch
 * back taking the kept data back, and switch again deleting the data.
 * The test (tests/test_tour.py) puts the sandbox's keys, names and figures
 * in sessionStorage before the tour starts.
 */
import {registry} from "@web/core/registry";
import {runScheduledAction} from "./billwerk_tour_utils";

// web_tour's stepUtils.showAppsMenuItem(), written out: Odoo 19 moved
// stepUtils (@web_tour/tour_service/tour_utils on 18, @web_tour/tour_utils on
// 19), and one tour file must load on both.
function showAppsMenuItem() {
    return {
        isActive: ["auto", "community", "desktop"],
        trigger: ".o_navbar_apps_menu button:enabled",
        tooltipPosition: "bottom",
        run: "click",
    };
}

function facts() {
    // Also called before the test stored them (odoo.isTourReady builds the
    // steps once): empty facts then, the real ones when the tour starts.
    const stored = JSON.parse(sessionStorage.getItem("billwerk_tour") || "{}");
    return {first: stored.first || {}, second: stored.second || {}, cron: stored.cron};
}

function setKey(key) {
    return [
        {
            content: "Open the Set API key dialog",
            trigger: ".o_form_view button[name=action_open_set_api_key]",
            run: "click",
        },
        {
            content: "Paste the key",
            trigger: ".modal .o_field_widget[name=api_key] input",
            run: `edit ${key}`,
        },
        {
            content: "Check and save",
            trigger: ".modal button[name=action_check_key]",
            run: "click",
        },
    ];
}

function syncNow(name, invoices) {
    return [
        {
            content: "The screen names the connected account",
            trigger: `.o_form_view .oe_title:contains("${name}")`,
        },
        {
            content: "Synchronize now",
            trigger: ".o_form_view button[name=action_sync_now]",
            run: "click",
        },
        {
            content: "The run waits for the scheduled action, and says so",
            trigger: '.o_form_view .o_billwerk_run_progress:contains("Queued")',
        },
        runScheduledAction(facts().cron),
        {
            content: "The figures show what was synchronized",
            trigger: `.o_form_view button[name=action_open_invoices] .o_stat_value:contains("${invoices}")`,
        },
    ];
}

function openMenu(xmlid) {
    return [
        {
            content: "Open the Financial menus",
            trigger: `.o_main_navbar [data-menu-xmlid="${xmlid.section}"]`,
            run: "click",
        },
        {
            content: `Open ${xmlid.item}`,
            trigger: `.dropdown-item[data-menu-xmlid="${xmlid.item}"]`,
            run: "click",
        },
    ];
}

const ACCOUNT_MENU = {
    section: "billwerk_connector.menu_financial_setup",
    item: "billwerk_connector.menu_billwerk_account",
};

registry.category("web_tour.tours").add("billwerk_account_tour", {
    steps: () => {
        const {first, second} = facts();
        return [
            showAppsMenuItem(),
            {
                content: "Open the Financial app",
                trigger: ".o_app[data-menu-xmlid='billwerk_connector.menu_financial_root']",
                run: "click",
            },
            ...openMenu(ACCOUNT_MENU),
            {
                content: "A fresh account screen asks for a key",
                trigger: ".o_form_view .alert-info:contains('Set API key')",
            },
            ...setKey(first.key),
            ...syncNow(first.name, first.invoices),
            {
                content: "Drill down into the invoices",
                trigger: ".o_form_view button[name=action_open_invoices]",
                run: "click",
            },
            {
                content: "The invoices are listed",
                trigger: ".o_list_view .o_data_row",
            },
            {
                content: "Back to the account screen",
                trigger: ".o_breadcrumb .o_back_button a, .breadcrumb-item a",
                run: "click",
            },
            ...setKey(second.key),
            {
                content: "The question names both accounts",
                trigger: `.modal .alert-warning:contains("${second.name}"):contains("${first.name}")`,
            },
            {
                content: "Keep the old data and switch (the default choice)",
                trigger: ".modal button.btn-primary[name=action_switch_keep_data]:contains('Keep the old data')",
                run: "click",
            },
            {
                content: "The first load of the new account is queued",
                trigger: ".o_form_view .o_billwerk_run_progress:contains('Queued')",
            },
            ...syncNow(second.name, second.invoices),
            ...openMenu({
                section: "billwerk_connector.menu_billwerk_data",
                item: "billwerk_connector.menu_billwerk_invoices",
            }),
            {
                content: "Only the current account's invoices are listed",
                trigger: `.o_searchview_facet:contains("Current account")`,
            },
            {
                content: "... under its name, none of the kept account",
                trigger: `.o_list_view:has(td[name=account_id]:contains("${second.name}")):not(:has(td[name=account_id]:contains("${first.name}")))`,
            },
            ...openMenu({
                section: "billwerk_connector.menu_financial_setup",
                item: "billwerk_connector.menu_billwerk_sync_runs",
            }),
            {
                content: "The first account's run keeps its name in the history",
                trigger: `.o_list_view td[name=billwerk_name]:contains("${first.name}")`,
            },
            ...openMenu(ACCOUNT_MENU),
            ...setKey(first.key),
            {
                content: "Switching back offers the kept data",
                trigger: ".modal div[name=take_back_kept_data] input:checked",
            },
            {
                content: "Keep the second account's data, take the first's back",
                trigger: ".modal button.btn-primary[name=action_switch_keep_data]",
                run: "click",
            },
            {
                content: "The kept figures are back at once, nothing loaded again",
                trigger: `.o_form_view:has(.oe_title:contains("${first.name}")) button[name=action_open_invoices] .o_stat_value:contains("${first.invoices}")`,
            },
            ...setKey(second.key),
            {
                content: "Delete the first account's data this time",
                trigger: ".modal button.btn-danger[name=action_switch_delete_data]",
                run: "click",
            },
            {
                content: "Confirm the deletion",
                trigger: ".modal:contains('cannot be undone') .modal-footer .btn-primary",
                run: "click",
            },
            {
                content: "The second account is back with its kept data",
                trigger: `.o_form_view:has(.oe_title:contains("${second.name}")) button[name=action_open_invoices] .o_stat_value:contains("${second.invoices}")`,
            },
        ];
    },
});

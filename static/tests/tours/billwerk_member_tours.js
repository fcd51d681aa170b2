/** @odoo-module */
/*
 * Two people's way through a connected account whose invoices are posted
 * (tests/test_tour.py prepares it and stores the facts in sessionStorage):
 * - a member of "Access Billwerk account" alone: the screen opens without the
 *   books, a handle typed in the invoices' search box finds its invoice, and
 *   a run of the history opens with its title;
 * - an accountant: each figure of the books opens its list, and the
 *   Accounting tab names the Billwerk account it posts.
 */
import {registry} from "@web/core/registry";

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
    return JSON.parse(sessionStorage.getItem("billwerk_member_tour") || "{}");
}

function openAccountScreen() {
    return [
        showAppsMenuItem(),
        {
            content: "Open the Financial app",
            trigger: ".o_app[data-menu-xmlid='billwerk_connector.menu_financial_root']",
            run: "click",
        },
        {
            content: "Open the Setup menu",
            trigger: '.o_main_navbar [data-menu-xmlid="billwerk_connector.menu_financial_setup"]',
            run: "click",
        },
        {
            content: "Open the Billwerk account",
            trigger: '.dropdown-item[data-menu-xmlid="billwerk_connector.menu_billwerk_account"]',
            run: "click",
        },
    ];
}

function backToAccount() {
    return {
        content: "Back to the account screen",
        trigger: ".o_breadcrumb .breadcrumb-item:first-child a",
        run: "click",
    };
}

registry.category("web_tour.tours").add("billwerk_member_tour", {
    steps: () => {
        const {name, handle} = facts();
        return [
            ...openAccountScreen(),
            {
                content: "The screen names the account and shows its figures",
                trigger: `.o_form_view .oe_title:contains("${name}")`,
            },
            {
                content: "No journal entries are read for a member: no books shown",
                trigger: ".o_form_view:not(:has([name=posted_invoice_count])):not(:has(.o_notebook))",
            },
            {
                content: "Open the invoices",
                trigger: ".o_form_view button[name=action_open_invoices]",
                run: "click",
            },
            {
                content: "Type an invoice's handle in the search box",
                trigger: ".o_searchview_input",
                run: `edit ${handle}`,
            },
            {
                content: "... and press Enter: it searches the handle",
                trigger: ".o_searchview_input",
                run: "press Enter",
            },
            {
                content: "The invoice is found",
                trigger: `.o_searchview_facet:contains("${handle}")`,
            },
            {
                content: "Open it",
                trigger: `.o_list_view .o_data_row td:contains("${handle}")`,
                run: "click",
            },
            {
                content: "Its form opens",
                trigger: `.o_form_view .oe_title:contains("${handle}")`,
            },
            backToAccount(),
            {
                content: "Open the synchronization history",
                trigger: ".o_form_view button[name=action_open_sync_runs]",
                run: "click",
            },
            {
                content: "The history names the kind of run",
                trigger: ".o_list_view td[name=mode]:contains('First load')",
                run: "click",
            },
            {
                content: "The run opens under its title",
                trigger: `.o_breadcrumb .active:contains("First load of ${name}")`,
            },
        ];
    },
});

registry.category("web_tour.tours").add("billwerk_accountant_tour", {
    steps: () => {
        const {name, posted} = facts();
        return [
            ...openAccountScreen(),
            {
                content: "The books' figures are shown",
                trigger: `.o_form_view button[name=action_open_posted_invoices]:contains("${posted}")`,
                run: "click",
            },
            {
                content: "The posted invoices are listed",
                trigger: ".o_breadcrumb .active:contains('Posted invoices')",
            },
            {
                content: "... as many as the figure said",
                trigger: `.o_pager_limit:contains("${posted}"), .o_list_view:has(.o_data_row)`,
            },
            backToAccount(),
            {
                content: "Open the Accounting tab",
                trigger: ".o_notebook a.nav-link:contains('Accounting')",
                run: "click",
            },
            {
                content: "It names the Billwerk account it posts",
                trigger: `.o_notebook div[name=billwerk_name]:contains("${name}")`,
            },
        ];
    },
});

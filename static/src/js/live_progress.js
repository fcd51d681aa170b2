/** @odoo-module **/
// The account screen follows a run without a reload: the server pushes a
// notice over Odoo's bus after each page or batch it commits (at most one a
// second), and this widget reloads the record, read with the user's rights.
// Behind a proxy that does not pass websockets the bus stays silent: while a
// run is queued or running, the widget then also reloads every few seconds.
import { Component, onMounted, onWillUnmount } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const NOTICE = "billwerk_sync_progress";
const POLL_MS = 3000;
const ACTIVE = ["queued", "running"];

export class BillwerkLiveProgress extends Component {
    static props = { ...standardWidgetProps };
    static template = "billwerk_connector.LiveProgress";

    setup() {
        const bus = useService("bus_service");
        const reload = () => {
            const record = this.props.record;
            // Never over what the user is typing.
            if (!record.dirty) {
                record.load();
            }
        };
        const onNotice = ({ account_id }) => {
            if (account_id === this.props.record.resId) {
                reload();
            }
        };
        const poll = () => {
            if (ACTIVE.includes(this.props.record.data.last_sync_state)) {
                reload();
            }
        };
        let timer;
        onMounted(() => {
            bus.subscribe(NOTICE, onNotice);
            // The notices come on the user's own channel: make sure this tab
            // listens (a no-op where Discuss already started the bus).
            bus.start();
            timer = browser.setInterval(poll, POLL_MS);
        });
        onWillUnmount(() => {
            bus.unsubscribe(NOTICE, onNotice);
            browser.clearInterval(timer);
        });
    }
}

registry.category("view_widgets").add("billwerk_live_progress", {
    component: BillwerkLiveProgress,
});

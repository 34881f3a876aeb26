"""Alerts: the rules (`rules`, with what they read and return in `findings`), the lifecycle of an alert — open,
acknowledge, snooze, resolve — (`lifecycle`, `ack`), the alert listings (`listing`), and notifications through
apprise with per-channel state (`notify`, `claims`, `channels`, `deliver`).

May import: the shared leaves, `storage`, `queries`, `limits`, `access`. Imported by `worker`, `cli`, the pages.
This package is a public facade: `core.alerts.check_alerts`, `resolve_alert`, `acknowledge_alert`, `list_alerts`,
`active_alerts` keep their import path.
"""

from core.alerts.lifecycle import (  # noqa: F401  (the facade's public names)
    AlertNotFound,
    AlertNotOpen,
    acknowledge_alert,
    check_alerts,
    condition_holds,
    open_alert,
    resolve_alert,
)
from core.alerts.listing import active_alerts, alert_dict, list_alerts  # noqa: F401

package alerts

import "strings"

// pagerDutyEvent reports whether a message is shaped as PagerDuty's incident events reach AWS (an
// EventBridge event from PagerDuty's partner event source, "detail-type": "PagerDuty Webhook"), or
// as a PagerDuty webhook body. Such events are read only from the events queue that only
// EventBridge may send to (PAGERDUTY_EVENTS_QUEUE_URL): on the alarm queue, where any publisher to
// the topic can put any JSON, one is a forgery or a misrouted rule, and is refused as bad input.
func pagerDutyEvent(obj map[string]any) bool {
	if dt, ok := obj["detail-type"].(string); ok && strings.HasPrefix(dt, "PagerDuty") {
		return true
	}
	if src, ok := obj["source"].(string); ok && strings.HasPrefix(src, "aws.partner/pagerduty.com") {
		return true
	}
	if _, ok := obj["detail"].(map[string]any); ok {
		if _, ok := obj["detail-type"]; ok {
			return true // some other EventBridge event: no alarm either
		}
	}
	if ev, ok := obj["event"].(map[string]any); ok {
		if t, ok := ev["event_type"].(string); ok && strings.HasPrefix(t, "incident.") {
			return true // a webhook v3 body
		}
	}
	return false
}

// notAnAlarm is the problem reported for a PagerDuty event on the alarm queue.
const notAnAlarm = "this is a PagerDuty incident event (EventBridge or webhook), not an alarm: dispatch reads those only from PAGERDUTY_EVENTS_QUEUE_URL, and changes nothing for one on the alarm queue"

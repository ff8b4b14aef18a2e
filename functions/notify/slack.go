package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dropcast/dropcast/shared/events"
)

// SlackMessage is a Block Kit message for a finished run: file, pipeline,
// status, counts, duration, the failure reason and a link to the run.
func SlackMessage(ev events.Event, statusURL string) map[string]any {
	icon, verb := ":white_check_mark:", "succeeded"
	if ev.Type == events.RunFailed {
		icon, verb = ":x:", "failed"
	}
	title := fmt.Sprintf("%s dropcast run %s: %s", icon, verb, ev.Source)
	fields := []map[string]any{
		mrkdwn("*Pipeline*\n" + ev.Pipeline),
		mrkdwn("*Run*\n`" + ev.RunID + "`"),
	}
	if ev.DurationMS > 0 {
		fields = append(fields, mrkdwn("*Duration*\n"+(time.Duration(ev.DurationMS)*time.Millisecond).Round(time.Millisecond).String()))
	}
	if len(ev.Counters) > 0 {
		keys := make([]string, 0, len(ev.Counters))
		for k := range ev.Counters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %d\n", k, ev.Counters[k])
		}
		fields = append(fields, mrkdwn("*Rows*\n"+b.String()))
	}
	blocks := []map[string]any{
		{"type": "section", "text": mrkdwn("*" + title + "*")},
		{"type": "section", "fields": fields},
	}
	if ev.Error != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(fmt.Sprintf("*Failed in %s*\n```%s```", ev.Step, ev.Error))})
	}
	link := ev.Record
	if statusURL != "" {
		link = strings.TrimSuffix(statusURL, "/") + "/runs/" + ev.RunID
	}
	if link != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{mrkdwn("<" + link + "|Run record>")}})
	}
	return map[string]any{"text": title, "blocks": blocks}
}

func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

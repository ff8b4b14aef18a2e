package notify

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dropcast/dropcast/shared/events"
)

// MaxReason is how much of a failure reason a Slack message quotes (a
// section's text may hold 3000 characters).
const MaxReason = 2000

// SlackMessage is a Block Kit message for a finished run: the file, the
// pipeline, the status, the row counts, the duration, the failure's step and
// reason, where the results are, and a link to the run's status page (or its
// record when no status page is configured). Text from the run is escaped, so
// a file name cannot inject links or mentions.
func SlackMessage(ev events.Event, statusURL string) map[string]any {
	icon, verb := ":white_check_mark:", "succeeded"
	if ev.Type == events.RunFailed {
		icon, verb = ":x:", "failed"
	}
	title := fmt.Sprintf("%s dropcast run %s: %s", icon, verb, escape(ev.Source))
	fields := []map[string]any{
		mrkdwn("*Pipeline*\n" + escape(ev.Pipeline)),
		mrkdwn("*Status*\n" + escape(ev.Status)),
		mrkdwn("*Run*\n`" + escape(ev.RunID) + "`"),
	}
	if ev.DurationMS > 0 {
		fields = append(fields, mrkdwn("*Duration*\n"+(time.Duration(ev.DurationMS)*time.Millisecond).Round(time.Millisecond).String()))
	}
	if len(ev.Counters) > 0 {
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(ev.Counters)) {
			fmt.Fprintf(&b, "%s: %d\n", escape(k), ev.Counters[k])
		}
		fields = append(fields, mrkdwn("*Rows*\n"+b.String()))
	}
	blocks := []map[string]any{
		{"type": "section", "text": mrkdwn("*" + title + "*")},
		{"type": "section", "fields": fields},
	}
	if ev.Type == events.RunFailed {
		reason := ev.Error
		if reason == "" {
			reason = "(no reason recorded)"
		}
		head := "*Failed in " + escape(ev.Step) + "*"
		if ev.Attempts > 1 {
			head += fmt.Sprintf(" after %d attempts", ev.Attempts)
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(head + "\n```" + escape(truncate(reason, MaxReason)) + "```")})
	}
	if ev.Type == events.RunSucceeded {
		var where []string
		for _, k := range []string{"results", "results_table"} {
			if v := ev.Outputs[k]; v != "" {
				where = append(where, "`"+escape(v)+"`")
			}
		}
		if len(where) > 0 {
			blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn("*Results*\n" + strings.Join(where, "\n"))})
		}
	}
	link, label := ev.Record, "Run record"
	if statusURL != "" {
		link, label = strings.TrimSuffix(statusURL, "/")+"/runs/"+ev.RunID, "Run status"
	}
	if link != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{mrkdwn("<" + escape(link) + "|" + label + ">")}})
	}
	return map[string]any{"text": title, "blocks": blocks}
}

func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

// escape makes s literal in Slack mrkdwn: &, < and > are its control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n bytes on a character boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " …(truncated)"
}

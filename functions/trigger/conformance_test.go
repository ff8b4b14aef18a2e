package trigger

import (
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/conformance"
)

// TestConformanceScheduleTime feeds every RFC 3339 form of one scheduled
// instant that Cloud Scheduler's X-CloudScheduler-ScheduleTime may take to
// the trigger: each names the same minute, whenever the attempt (or its
// retry) arrives.
func TestConformanceScheduleTime(t *testing.T) {
	f := conformance.Load(t, "scheduler-schedule-time")
	var forms []string
	for line := range strings.Lines(string(f.MustFile(t, "schedule-times.txt"))) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			forms = append(forms, line)
		}
	}
	want, err := time.Parse(time.RFC3339, forms[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range forms {
		for _, now := range []time.Time{want.Add(3 * time.Second), want.Add(17 * time.Minute)} { // first attempt, a retry
			got, err := scheduledTime("", v, now)
			if err != nil || !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("X-CloudScheduler-ScheduleTime %q at %v: %v, %v; want %v UTC", v, now, got, err, want)
			}
		}
	}
	// Not RFC 3339: refused, not taken for "now".
	for _, v := range []string{"Sun, 26 Apr 2026 06:00:00 GMT", "1777183200", "2026-04-26 06:00:00"} {
		if _, err := scheduledTime("", v, want); err == nil {
			t.Errorf("X-CloudScheduler-ScheduleTime %q accepted", v)
		}
	}
}

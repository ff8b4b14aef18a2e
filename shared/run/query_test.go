package run

import (
	"strings"
	"testing"
	"time"
)

func TestFilterApply(t *testing.T) {
	t0 := time.Date(2026, 4, 26, 0, 0, 0, 0, time.UTC)
	mk := func(id, pipeline string, st Status, hoursAgo int) *Run {
		return &Run{ID: id, Pipeline: pipeline, Status: st, CreatedAt: t0.Add(-time.Duration(hoursAgo) * time.Hour)}
	}
	runs := []*Run{
		mk("a", "p", Succeeded, 30), mk("b", "p", Failed, 2), mk("c", "q", Running, 1),
		mk("d", "p", Succeeded, 2), mk("e", "p-x", Succeeded, 5),
	}
	ids := func(rs []*Run) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "c b d e a"}, // newest first; equal times by ID
		{Filter{Pipeline: "p"}, "b d a"},
		{Filter{Status: Succeeded}, "d e a"},
		{Filter{Since: t0.Add(-5 * time.Hour)}, "c b d e"},
		{Filter{Until: t0.Add(-2 * time.Hour)}, "e a"},
		{Filter{Limit: 2}, "c b"},
	} {
		if got := ids(tc.f.Apply(runs)); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
	if runs[0].ID != "a" {
		t.Error("Apply reordered its input")
	}
}

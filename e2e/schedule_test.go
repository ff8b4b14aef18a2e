package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/trigger"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// A schedule that predicts yesterday's loaded purchases every morning.
const morning = `
schedules:
  - name: morning
    cron: "0 6 * * *"
    time_zone: UTC
    query: "SELECT * FROM sales.purchases WHERE _PARTITIONDATE = '{date}'"
`

// fire calls the trigger function as Cloud Scheduler does.
func fire(t *testing.T, s *localstack.Stack, scheduled time.Time) trigger.Response {
	t.Helper()
	body, _ := json.Marshal(trigger.Request{Pipeline: "purchases", Schedule: "morning"})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/trigger", bytes.NewReader(body))
	req.Header.Set("X-CloudScheduler-ScheduleTime", scheduled.Format(time.RFC3339))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("trigger answered %d", resp.StatusCode)
	}
	var out trigger.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScheduledTriggerDeliveredTwiceStartsOneRun(t *testing.T) {
	t.Parallel()
	spec := append(bytes.Clone(sample.Spec), morning...)
	s := mustStack(t, localstack.Options{Specs: map[string][]byte{sample.SpecName: spec}})
	if r := dropAndWait(t, s, sampleObject(), sample.CSV); r.Status != run.Succeeded {
		t.Fatalf("file run: %s %+v", r.Status, r.Error)
	}

	at := time.Date(2026, 4, 26, 6, 0, 0, 0, time.UTC)
	first, second := fire(t, s, at), fire(t, s, at.Add(20*time.Second))
	if !first.Created || second.Created || first.RunID != second.RunID {
		t.Fatalf("triggers answered %+v and %+v, want one run", first, second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := s.Wait(ctx, first.RunID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Succeeded || r.Schedule != "morning" || r.Steps[0].Name != run.Export {
		t.Fatalf("scheduled run: %s %+v steps %v", r.Status, r.Error, r.Steps)
	}
	if r.Counters[run.RowsIn] != sampleClean || r.Counters[run.RowsPredicted] != sampleClean {
		t.Fatalf("counters %v", r.Counters)
	}
	header, rows := results(t, s, r)
	if len(rows) != sampleClean || !slices.Contains(header, "prediction") {
		t.Fatalf("results: %d rows, header %v", len(rows), header)
	}
	if !strings.Contains(r.Outputs["results"], "dt=2026-04-26/") {
		t.Fatalf("results at %s", r.Outputs["results"])
	}
	runs, err := s.App.Runs.List(ctx, "")
	if err != nil || len(runs) != 2 {
		t.Fatalf("%d runs (%v), want the file's and one scheduled", len(runs), err)
	}
}

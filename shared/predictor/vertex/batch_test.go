package vertex

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/predictor"
)

func TestBatchEndToEnd(t *testing.T) {
	e := newEnv(t, vertexemu.Options{JobLatency: 100 * time.Millisecond, RowsPerFile: 3})
	body, rows := sample()
	e.put(t, "clean/run-1/part-0001.csv", body)
	ctx := context.Background()
	job, err := e.b.StartBatch(ctx, predictor.BatchRequest{
		Key: "run-1-attempt-1", Model: e.model,
		InputURIs: []string{"gs://data/clean/run-1/part-*.csv"}, OutputPrefix: "gs://data/predictions/run-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	var st predictor.BatchStatus
	eventually(t, "batch job", func() bool {
		if st, err = e.b.PollBatch(ctx, job); err != nil {
			t.Fatal(err)
		}
		return st.Done
	})
	if st.Err != nil || st.State != "JOB_STATE_SUCCEEDED" {
		t.Fatalf("status %+v", st)
	}
	if !strings.HasPrefix(st.OutputDir, "gs://data/predictions/run-1/prediction-demo-returns-") {
		t.Fatalf("output dir %q", st.OutputDir)
	}
	got := map[string]predictor.Prediction{}
	errorRows, err := predictor.ReadAll(ctx, e.b, predictor.Output{Dir: st.OutputDir, Input: strings.Split(header, ",")}, func(p *predictor.Row) error {
		got[p.RowKey] = p.Prediction
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if errorRows != 1 || len(got) != 4 {
		t.Fatalf("read %d predictions and %d error rows, want 4 and 1", len(got), errorRows)
	}
	for _, row := range rows[:4] {
		w := want(t, row)
		p, ok := got[row[8]]
		if !ok {
			t.Fatalf("no prediction for row %s", row[8])
		}
		if p.Label != w.Label || math.Abs(p.Score-w.Scores[w.Label]) > 1e-12 || math.Abs(p.Scores["true"]-w.Scores["true"]) > 1e-12 {
			t.Errorf("row %s: got %+v, want %+v", row[8], p, w)
		}
	}
}

func TestStartBatchIsIdempotentEvenAfterAFailure(t *testing.T) {
	e := newEnv(t, vertexemu.Options{JobLatency: 100 * time.Millisecond})
	body, _ := sample()
	e.put(t, "in.csv", body)
	ctx := context.Background()
	req := predictor.BatchRequest{Key: "k1", Model: e.model, InputURIs: []string{"gs://data/in.csv"}, OutputPrefix: "gs://data/out"}
	first, err := e.b.StartBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.b.StartBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || e.emu.BatchJobs() != 1 {
		t.Fatalf("two starts with one key: %s, %s, %d jobs", first, second, e.emu.BatchJobs())
	}

	e.emu.SetFaults(vertexemu.Faults{FailJobs: 1})
	req.Key = "k2"
	failedJob, err := e.b.StartBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var st predictor.BatchStatus
	eventually(t, "failing job", func() bool {
		if st, err = e.b.PollBatch(ctx, failedJob); err != nil {
			t.Fatal(err)
		}
		return st.Done
	})
	if st.Err == nil || st.State != "JOB_STATE_FAILED" || !strings.Contains(st.Err.Error(), "injected failure") {
		t.Fatalf("failed job status %+v", st)
	}
	retry, err := e.b.StartBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if retry != failedJob || e.emu.BatchJobs() != 2 {
		t.Fatalf("a start after the key's job failed made %s (jobs %d), want the failed job", retry, e.emu.BatchJobs())
	}
}

func TestStartBatchRejectsBadRequests(t *testing.T) {
	e := newEnv(t, vertexemu.Options{})
	ctx := context.Background()
	for name, req := range map[string]predictor.BatchRequest{
		"no key":    {Model: e.model, InputURIs: []string{"gs://data/x.csv"}, OutputPrefix: "gs://data/out"},
		"no input":  {Key: "k", Model: e.model, OutputPrefix: "gs://data/out"},
		"bad model": {Key: "k", Model: "projects/x", InputURIs: []string{"gs://data/x.csv"}, OutputPrefix: "gs://data/out"},
		"no output": {Key: "k", Model: e.model, InputURIs: []string{"gs://data/x.csv"}},
	} {
		if _, err := e.b.StartBatch(ctx, req); err == nil {
			t.Errorf("%s: StartBatch succeeded", name)
		}
	}
	if _, err := e.b.StartBatch(ctx, predictor.BatchRequest{Key: "k", Model: e.model, BigQuerySource: "bq://p.d.t", OutputPrefix: "gs://data/out"}); err == nil ||
		!strings.Contains(err.Error(), "FailedPrecondition") {
		t.Errorf("BigQuery source on an emulator without a reader: %v", err)
	}
}

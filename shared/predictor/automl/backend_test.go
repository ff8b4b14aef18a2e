package automl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/storage"
	"github.com/dropcast/dropcast/shared/emulator/automlemu"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/predictor"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const header = "date,store_id,item_id,category,price,quantity,promo,note,dropcast_row"

type fixture struct {
	emu   *automlemu.Server
	gcs   *storage.Client
	b     *Backend
	model string
}

func newFixture(t *testing.T, opts automlemu.Options, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	gc := gcsemutest.Start(t, "b")
	opts.Storage = gc
	opts.Models = map[string]model.Predictor{"m1": model.Demo()}
	emu, err := automlemu.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	cfg.Storage = gc
	b, err := New(ctx, cfg, option.WithEndpoint(emu.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &fixture{emu: emu, gcs: gc, b: b, model: emu.ModelName("m1")}
}

// demoRow is a valid row number i of the demo layout.
func demoRow(i int) []string {
	cats := []string{"apparel", "electronics", "grocery", "home", "toys"}
	return []string{"2024-05-01", strconv.Itoa(i%5 + 1), fmt.Sprintf("SKU-%05d", i), cats[i%5],
		strconv.FormatFloat(5+float64(i*7%90), 'f', 2, 64), strconv.Itoa(i%6 + 1), strconv.FormatBool(i%2 == 0), "", strconv.Itoa(i + 2)}
}

func demoRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = demoRow(i)
	}
	return rows
}

// want is the demo model's prediction of rec.
func want(t *testing.T, rec []string) model.Prediction {
	t.Helper()
	row := map[string]string{}
	for i, h := range strings.Split(header, ",") {
		row[h] = rec[i]
	}
	p, err := model.Demo().Predict(row)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) putCSV(t *testing.T, object string, rows [][]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header + "\n")
	for _, r := range rows {
		b.WriteString(strings.Join(r, ",") + "\n")
	}
	w := f.gcs.Bucket("b").Object(object).NewWriter(context.Background())
	io.WriteString(w, b.String())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// pollBatch polls until done, once per 10 ms, as callers do once per invocation.
func (f *fixture) pollBatch(t *testing.T, job string) predictor.BatchStatus {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, err := f.b.PollBatch(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			return st
		}
		if st.State != "RUNNING" {
			t.Fatalf("state %q before done", st.State)
		}
	}
	t.Fatalf("batch %s not done in time", job)
	return predictor.BatchStatus{}
}

func (f *fixture) pollOp(t *testing.T, op string) error {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		done, err := f.b.PollOperation(context.Background(), op)
		if done {
			return err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("operation %s not done in time", op)
	return nil
}

func TestBatchEndToEnd(t *testing.T) {
	f := newFixture(t, automlemu.Options{JobLatency: 40 * time.Millisecond, RowsPerFile: 7}, Config{})
	ctx := context.Background()
	rows := demoRows(20)
	f.putCSV(t, "clean/part-1.csv", rows[:12])
	f.putCSV(t, "clean/part-2.csv", append(rows[12:], []string{"2024-05-01", "1", "SKU-9", "toys", "free", "1", "true", "", "77"}))
	req := predictor.BatchRequest{Key: "run-1-a1", Model: f.model, InputURIs: []string{"gs://b/clean/part-*.csv"}, OutputPrefix: "gs://b/predictions"}
	job, err := f.b.StartBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.b.StartBatch(ctx, req)
	if err != nil || again != job {
		t.Fatalf("second StartBatch = %q, %v; want %q", again, err, job)
	}
	if f.emu.BatchJobs() != 1 {
		t.Fatalf("BatchJobs = %d, want 1", f.emu.BatchJobs())
	}
	st := f.pollBatch(t, job)
	if st.Err != nil || st.State != "SUCCEEDED" || !strings.HasPrefix(st.OutputDir, "gs://b/predictions/run-1-a1/prediction-model_m1-") {
		t.Fatalf("status = %+v", st)
	}
	got := map[string]predictor.Prediction{}
	errRows, err := predictor.ReadAll(ctx, f.b, predictor.Output{Dir: st.OutputDir, Input: strings.Split(header, ",")}, func(p *predictor.Row) error {
		got[p.RowKey] = p.Prediction
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if errRows != 1 || len(got) != len(rows) {
		t.Fatalf("read %d predictions and %d error rows, want %d and 1", len(got), errRows, len(rows))
	}
	for _, r := range rows {
		w, p := want(t, r), got[r[8]]
		if p.Label != w.Label || p.Score != w.Scores[w.Label] || p.Scores["true"] != w.Scores["true"] {
			t.Fatalf("row %s: got %+v, want %+v", r[8], p, w)
		}
	}
	if again, err := f.b.StartBatch(ctx, req); err != nil || again != job {
		t.Fatalf("StartBatch after done = %q, %v", again, err)
	}
}

func TestStartBatchAdoptsOperationOfCrashedClaimer(t *testing.T) {
	// The orphan must still be running at the first StartBatch below.
	f := newFixture(t, automlemu.Options{JobLatency: 300 * time.Millisecond}, Config{})
	ctx := context.Background()
	f.putCSV(t, "clean/x.csv", demoRows(3))
	req := predictor.BatchRequest{Key: "k", Model: f.model, InputURIs: []string{"gs://b/clean/x.csv"}, OutputPrefix: "gs://b/out/"}
	// A caller claimed the key and started the job, then died before recording it.
	h := f.gcs.Bucket("b").Object("out/k/" + markerName)
	if _, err := writeMarker(ctx, h.If(storage.Conditions{DoesNotExist: true}), marker{Key: "k", Model: f.model, ClaimedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	in := &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: req.InputURIs}}}
	orphan, err := f.b.callBatchPredict(ctx, batchStart{key: "k", model: f.model, input: in, output: "gs://b/out/k"})
	if err != nil {
		t.Fatal(err)
	}
	// While the orphan has not reported its output directory, it could be
	// another key's job with the same input: StartBatch asks for a retry.
	if _, err := f.b.StartBatch(ctx, req); err == nil || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("StartBatch before the orphan reports its output: %v", err)
	}
	f.pollBatch(t, orphan)
	job, err := f.b.StartBatch(ctx, req)
	if err != nil || job != orphan {
		t.Fatalf("StartBatch = %q, %v; want the orphan %q", job, err, orphan)
	}
	m, _, err := readMarker(ctx, h)
	if err != nil || m.Operation != orphan {
		t.Fatalf("marker = %+v, %v", m, err)
	}
	if f.emu.BatchJobs() != 1 {
		t.Fatalf("BatchJobs = %d", f.emu.BatchJobs())
	}

	// A fresh claim with no operation: wait for the claimer, then take over.
	h2 := f.gcs.Bucket("b").Object("out/k2/" + markerName)
	if _, err := writeMarker(ctx, h2.If(storage.Conditions{DoesNotExist: true}), marker{Key: "k2", Model: f.model, ClaimedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	req.Key = "k2"
	if _, err := f.b.StartBatch(ctx, req); err == nil || !strings.Contains(err.Error(), "being started") {
		t.Fatalf("fresh foreign claim: %v", err)
	}
	f.b.cfg.ClaimTimeout = time.Millisecond
	// The orphan of k has the same input but writes under out/k, not out/k2.
	f.pollBatch(t, orphan)
	job2, err := f.b.StartBatch(ctx, req)
	if err != nil || job2 == orphan || f.emu.BatchJobs() != 2 {
		t.Fatalf("take over stale claim: %q, %v (jobs %d)", job2, err, f.emu.BatchJobs())
	}
}

func TestBatchFailure(t *testing.T) {
	f := newFixture(t, automlemu.Options{}, Config{})
	ctx := context.Background()
	f.putCSV(t, "clean/x.csv", demoRows(2))
	f.emu.SetFaults(automlemu.Faults{FailBatch: 1})
	job, err := f.b.StartBatch(ctx, predictor.BatchRequest{Key: "k", Model: f.model, InputURIs: []string{"gs://b/clean/x.csv"}, OutputPrefix: "gs://b/out"})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.pollBatch(t, job); st.Err == nil || st.State != "FAILED" || st.OutputDir != "" {
		t.Fatalf("failed batch status = %+v", st)
	}
	_, err = f.b.StartBatch(ctx, predictor.BatchRequest{Key: "bq", Model: f.model, BigQuerySource: "bq://p.d.t", OutputPrefix: "gs://b/out"})
	if err == nil || !strings.Contains(err.Error(), "FailedPrecondition") {
		t.Fatalf("bigquery input without emulator hook: %v", err)
	}
	// The failed start released its claim, so a retry may start.
	if m, gen, err := readMarker(ctx, f.gcs.Bucket("b").Object("out/bq/"+markerName)); err != nil || gen != 0 {
		t.Fatalf("claim left behind: %+v, %v", m, err)
	}
}

func TestDeployPredictUndeploy(t *testing.T) {
	f := newFixture(t, automlemu.Options{DeployLatency: 30 * time.Millisecond, PredictBaseLatency: time.Millisecond}, Config{Concurrency: 4})
	ctx := context.Background()
	h := strings.Split(header, ",")
	rows := demoRows(9)
	if _, err := f.b.Predict(ctx, f.model, h, rows); err == nil || !strings.Contains(err.Error(), "FailedPrecondition") {
		t.Fatalf("predict undeployed: %v", err)
	}
	op, err := f.b.Deploy(ctx, f.model)
	if err != nil || op == "" {
		t.Fatalf("Deploy = %q, %v", op, err)
	}
	if again, err := f.b.Deploy(ctx, f.model); err != nil || again != op {
		t.Fatalf("Deploy while deploying = %q, %v; want %q", again, err, op)
	}
	if _, err := f.b.Undeploy(ctx, f.model); err == nil {
		t.Fatal("Undeploy while deploying succeeded")
	}
	if err := f.pollOp(t, op); err != nil {
		t.Fatal(err)
	}
	if again, err := f.b.Deploy(ctx, f.model); err != nil || again != "" {
		t.Fatalf("Deploy when deployed = %q, %v", again, err)
	}
	calls := f.emu.PredictCalls()
	preds, err := f.b.Predict(ctx, f.model, h, rows)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.emu.PredictCalls() - calls; n != int64(len(rows)) {
		t.Fatalf("%d Predict calls for %d rows", n, len(rows))
	}
	for i, r := range rows {
		w := want(t, r)
		if preds[i].RowKey != r[8] || preds[i].Label != w.Label || preds[i].Score != float64(float32(w.Scores[w.Label])) {
			t.Fatalf("row %d: %+v, want %+v", i, preds[i], w)
		}
	}

	dir := "gs://b/online/run-1"
	if err := f.b.WriteOutput(ctx, predictor.Output{Dir: dir, Input: h}, 1, rows, preds); err != nil {
		t.Fatal(err)
	}
	var back []predictor.Prediction
	errRows, err := predictor.ReadAll(ctx, f.b, predictor.Output{Dir: dir, Input: h}, func(p *predictor.Row) error { back = append(back, p.Prediction); return nil })
	if err != nil || errRows != 0 || len(back) != len(rows) {
		t.Fatalf("ReadAll: %d preds, %d errors, %v", len(back), errRows, err)
	}
	for i := range back {
		if back[i].RowKey != preds[i].RowKey || back[i].Label != preds[i].Label || back[i].Score != preds[i].Score {
			t.Fatalf("round trip row %d: %+v, want %+v", i, back[i], preds[i])
		}
	}

	f.emu.SetFaults(automlemu.Faults{QuotaErrorRate: 1})
	if _, err := f.b.Predict(ctx, f.model, h, rows); !errors.Is(err, predictor.ErrQuota) {
		t.Fatalf("quota: %v, want ErrQuota", err)
	}
	f.emu.SetFaults(automlemu.Faults{})
	bad := [][]string{{"2024-05-01", "1", "SKU-1", "toys", "cheap", "1", "true", "", "5"}}
	if _, err := f.b.Predict(ctx, f.model, h, bad); err == nil || errors.Is(err, predictor.ErrQuota) || !strings.Contains(err.Error(), "price") {
		t.Fatalf("price not a number: %v", err)
	}

	uop, err := f.b.Undeploy(ctx, f.model)
	if err != nil || uop == "" {
		t.Fatalf("Undeploy = %q, %v", uop, err)
	}
	if err := f.pollOp(t, uop); err != nil {
		t.Fatal(err)
	}
	if f.emu.DeployedModels() != 0 || f.emu.DeployedTime("m1") <= 0 {
		t.Fatalf("after undeploy: %d deployed, deployed for %v", f.emu.DeployedModels(), f.emu.DeployedTime("m1"))
	}
	if again, err := f.b.Undeploy(ctx, f.model); err != nil || again != "" {
		t.Fatalf("Undeploy when undeployed = %q, %v", again, err)
	}
}

func TestFailedDeployIsReported(t *testing.T) {
	f := newFixture(t, automlemu.Options{}, Config{})
	f.emu.SetFaults(automlemu.Faults{FailDeploy: 1})
	op, err := f.b.Deploy(context.Background(), f.model)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.pollOp(t, op); err == nil {
		t.Fatal("failed deploy polled without error")
	}
}

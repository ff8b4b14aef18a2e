package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// The sample has 480 data rows; 6 break the spec's rules.
const (
	sampleRows     = 480
	sampleRejected = 6
	sampleClean    = sampleRows - sampleRejected
)

func TestSampleRunsEndToEnd(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	want := map[string]int64{run.RowsIn: sampleRows, run.RowsClean: sampleClean, run.RowsRejected: sampleRejected, run.RowsLoaded: sampleClean, run.RowsPredicted: sampleClean, run.RowsResults: sampleClean}
	for k, v := range want {
		if r.Counters[k] != v {
			t.Errorf("counter %s = %d, want %d", k, r.Counters[k], v)
		}
	}
	for _, st := range r.Steps {
		if st.Status != run.StepDone || st.Attempts < 1 {
			t.Errorf("step %s: %s after %d attempts", st.Name, st.Status, st.Attempts)
		}
	}
	header, rows := results(t, s, r)
	if len(rows) != sampleClean {
		t.Fatalf("results have %d rows, want %d", len(rows), sampleClean)
	}
	pred, score := slices.Index(header, "prediction"), slices.Index(header, "score")
	for _, row := range rows {
		if row[pred] != "true" && row[pred] != "false" || row[score] == "" {
			t.Fatalf("row without a prediction: %v", row)
		}
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases` WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')"); n != sampleClean {
		t.Errorf("purchases partition holds %d rows, want %d", n, sampleClean)
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchase_predictions`"); n != sampleClean {
		t.Errorf("results table holds %d rows, want %d", n, sampleClean)
	}
	rejects := string(readObject(t, s, r.Outputs["rejects"]+"part-00000.csv"))
	recs, err := csv.NewReader(strings.NewReader(rejects)).ReadAll()
	if err != nil || len(recs) != 1+sampleRejected || !slices.Equal(recs[0], []string{"line", "column", "reason", "record"}) {
		t.Errorf("rejects file: %d records (%v), want a header and %d:\n%s", len(recs), err, sampleRejected, rejects)
	}
	if !strings.Contains(rejects, `21,price,"NUMERIC: ""n/a"" is not a decimal number"`) {
		t.Errorf("rejects file does not name line 21's bad price:\n%s", rejects)
	}
	// The original object is untouched.
	if string(readObject(t, s, "gs://"+localstack.InboxBucket+"/"+sampleObject())) != string(sample.CSV) {
		t.Error("the source object changed")
	}
}

func TestDuplicateEventsAndTasksLeaveOneRunAndSameResults(t *testing.T) {
	t.Parallel()
	ref := mustStack(t, localstack.Options{})
	refRun := dropAndWait(t, ref, sampleObject(), sample.CSV)

	// Every task is delivered twice, some of them while the first is running.
	s := mustStack(t, localstack.Options{TaskFaults: tasksemu.Faults{Seed: 7, DuplicateRate: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id, err := s.Drop(ctx, sampleObject(), sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	// The storage notification arrives twice more, as Pub/Sub may deliver it.
	attrs, err := s.Storage.Bucket(localstack.InboxBucket).Object(sampleObject()).Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub := s.PubSub.Client().Publisher("dropcast-inbox-notifications")
	defer pub.Stop()
	for range 2 {
		data, _ := json.Marshal(map[string]any{"bucket": attrs.Bucket, "name": attrs.Name, "generation": attrs.Generation})
		res := pub.Publish(ctx, &pubsub.Message{Data: data, Attributes: map[string]string{
			"eventType": "OBJECT_FINALIZE", "bucketId": attrs.Bucket, "objectId": attrs.Name,
			"objectGeneration": strconv.FormatInt(attrs.Generation, 10), "payloadFormat": "JSON_API_V1",
		}})
		if _, err := res.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Wait(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	if err := s.Tasks.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	runs, err := s.App.Runs.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("%d runs for one upload", len(runs))
	}
	if st := s.Tasks.Stats(); st.InjectedDuplicates == 0 {
		t.Fatal("no duplicate task was delivered")
	}
	h1, rows1 := results(t, ref, refRun)
	h2, rows2 := results(t, s, r)
	if !slices.Equal(comparable(h1, rows1), comparable(h2, rows2)) {
		t.Fatal("results with duplicate deliveries differ from a clean run's")
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchases`"); n != sampleClean {
		t.Errorf("purchases table holds %d rows, want %d", n, sampleClean)
	}
	for _, st := range r.Steps {
		if st.Status != run.StepDone {
			t.Errorf("step %s: %s", st.Name, st.Status)
		}
	}
}

func TestTinyBudgetCompletesThroughSelfRequeue(t *testing.T) {
	t.Parallel()
	data := bigSample(40) // 19,200 rows
	ref := mustStack(t, localstack.Options{})
	refRun := dropAndWait(t, ref, sampleObject(), data)

	s := mustStack(t, localstack.Options{Configure: func(c *config.Config) {
		c.SafetyMargin = c.StepTimeout - 2*time.Millisecond // a 2ms budget per invocation
	}})
	r := dropAndWait(t, s, sampleObject(), data)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	if seg := r.StepState(run.Preprocess).Segments; seg < 2 {
		t.Fatalf("preprocess ran in %d extra segments; the budget forced none", seg)
	}
	if r.Counters[run.RowsClean] != 40*sampleClean || r.Counters[run.RowsRejected] != 40*sampleRejected {
		t.Fatalf("counters %v", r.Counters)
	}
	h1, rows1 := results(t, ref, refRun)
	h2, rows2 := results(t, s, r)
	if !slices.Equal(comparable(h1, rows1), comparable(h2, rows2)) {
		t.Fatal("results under a tiny budget differ from an unconstrained run's")
	}
}

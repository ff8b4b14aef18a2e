package vertexemu

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestListFilterAndFailedAndCancelledJobs(t *testing.T) {
	e := newEnv(t, Options{JobLatency: 300 * time.Millisecond})
	e.put(t, "gs://in/a.csv", purchasesHeader+`"2024-01-02","1","SKU-1","apparel","99.50","1","true",,"2"`+"\n")
	ctx := context.Background()
	e.srv.SetFaults(Faults{FailJobs: 1})
	failed, err := e.jobs.CreateBatchPredictionJob(ctx, csvJob(e, "key-a", "gs://in/a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := e.jobs.CreateBatchPredictionJob(ctx, csvJob(e, "key-b", "gs://in/a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	it := e.jobs.ListBatchPredictionJobs(ctx, &aiplatformpb.ListBatchPredictionJobsRequest{Parent: e.parent(), Filter: `display_name="key-b"`})
	var names []string
	for {
		j, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, j.Name)
	}
	if len(names) != 1 || names[0] != cancelled.Name {
		t.Fatalf("filtered list = %v, want [%s]", names, cancelled.Name)
	}
	if err := e.jobs.CancelBatchPredictionJob(ctx, &aiplatformpb.CancelBatchPredictionJobRequest{Name: cancelled.Name}); err != nil {
		t.Fatal(err)
	}
	if j := e.waitJob(t, cancelled.Name); j.State != aiplatformpb.JobState_JOB_STATE_CANCELLED || j.Error.GetCode() != int32(codes.Canceled) {
		t.Errorf("cancelled job: %s %v", j.State, j.Error)
	}
	j := e.waitJob(t, failed.Name)
	if j.State != aiplatformpb.JobState_JOB_STATE_FAILED || !strings.Contains(j.Error.GetMessage(), "injected") {
		t.Errorf("failed job: %s %v", j.State, j.Error)
	}
	err = e.jobs.CancelBatchPredictionJob(ctx, &aiplatformpb.CancelBatchPredictionJobRequest{Name: failed.Name})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("cancel finished job: %v", err)
	}
	_, err = e.jobs.ListBatchPredictionJobs(ctx, &aiplatformpb.ListBatchPredictionJobsRequest{Parent: e.parent(), Filter: `labels.x="y"`}).Next()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("unsupported filter: %v", err)
	}
}

func TestJobInputErrors(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	// A missing input fails the job, not the call.
	created, err := e.jobs.CreateBatchPredictionJob(ctx, csvJob(e, "missing", "gs://in/nothing-*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if j := e.waitJob(t, created.Name); j.State != aiplatformpb.JobState_JOB_STATE_FAILED || !strings.Contains(j.Error.GetMessage(), "matches no objects") {
		t.Errorf("missing input: %s %v", j.State, j.Error)
	}
	req := csvJob(e, "bq", "gs://in/x.csv")
	req.BatchPredictionJob.InputConfig = &aiplatformpb.BatchPredictionJob_InputConfig{
		InstancesFormat: "bigquery",
		Source:          &aiplatformpb.BatchPredictionJob_InputConfig_BigquerySource{BigquerySource: &aiplatformpb.BigQuerySource{InputUri: "bq://p.d.t"}},
	}
	if _, err := e.jobs.CreateBatchPredictionJob(ctx, req); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "BigQuery reader") {
		t.Errorf("bigquery without reader: %v", err)
	}
	req = csvJob(e, "nomodel", "gs://in/x.csv")
	req.BatchPredictionJob.Model = e.parent() + "/models/nope"
	if _, err := e.jobs.CreateBatchPredictionJob(ctx, req); status.Code(err) != codes.NotFound {
		t.Errorf("unknown model: %v", err)
	}
}

func TestBigQueryInputThroughReader(t *testing.T) {
	var asked string
	e := newEnv(t, Options{BigQuery: func(_ context.Context, uri string) ([]string, [][]string, error) {
		asked = uri
		return []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note", "dropcast_row"},
			[][]string{{"2024-01-02", "1", "SKU-1", "home", "20", "2", "false", "", "2"}}, nil
	}})
	req := csvJob(e, "bq", "gs://in/x.csv")
	req.BatchPredictionJob.InputConfig = &aiplatformpb.BatchPredictionJob_InputConfig{
		InstancesFormat: "bigquery",
		Source:          &aiplatformpb.BatchPredictionJob_InputConfig_BigquerySource{BigquerySource: &aiplatformpb.BigQuerySource{InputUri: "bq://p.d.t"}},
	}
	created, err := e.jobs.CreateBatchPredictionJob(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	j := e.waitJob(t, created.Name)
	if j.State != aiplatformpb.JobState_JOB_STATE_SUCCEEDED || j.CompletionStats.SuccessfulCount != 1 || asked != "bq://p.d.t" {
		t.Fatalf("bigquery job: %s %v %v asked %q", j.State, j.Error, j.CompletionStats, asked)
	}
	if out := e.get(t, j.OutputInfo.GetGcsOutputDirectory()+"/predictions_1.csv"); !strings.Contains(out, ",returned_false_score,returned_true_score\n") {
		t.Fatalf("predictions: %q", out)
	}
}

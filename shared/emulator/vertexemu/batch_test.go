package vertexemu

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dropcast/dropcast/shared/model"
)

func TestBatchJobWritesPredictionsAndErrors(t *testing.T) {
	e := newEnv(t, Options{JobLatency: 150 * time.Millisecond, RowsPerFile: 2})
	e.put(t, "gs://in/clean/part-1.csv", purchasesHeader+
		"2024-01-02,1,SKU-1,apparel,99.50,1,true,\"gift, wrapped\",2\n"+
		"2024-01-03,2,SKU-2,grocery,3.20,4,false,,3\n")
	// Same columns in another order, one bad row (no price).
	e.put(t, "gs://in/clean/part-2.csv", "_row,date,store_id,item_id,category,price,quantity,promo,note\n"+
		"4,2024-01-04,3,SKU-3,electronics,450.00,1,false,x\n"+
		"5,2024-01-05,3,SKU-4,toys,,1,false,x\n")
	e.put(t, "gs://in/other/skip.csv", purchasesHeader)

	ctx := context.Background()
	created, err := e.jobs.CreateBatchPredictionJob(ctx, csvJob(e, "run-1", "gs://in/clean/part-*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if created.State != aiplatformpb.JobState_JOB_STATE_PENDING || created.GetOutputInfo().GetGcsOutputDirectory() != "" {
		t.Fatalf("created job: state %s output %v", created.State, created.OutputInfo)
	}
	j := e.waitJob(t, created.Name)
	if j.State != aiplatformpb.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("state %s error %v", j.State, j.Error)
	}
	if got := j.EndTime.AsTime().Sub(j.CreateTime.AsTime()); got < 150*time.Millisecond {
		t.Errorf("job took %v, want >= JobLatency", got)
	}
	if s := j.CompletionStats; s.SuccessfulCount != 3 || s.FailedCount != 1 {
		t.Errorf("completion stats %v, want 3 ok 1 failed", s)
	}
	dir := j.GetOutputInfo().GetGcsOutputDirectory()
	wantDir := "gs://out/runs/r1/prediction-demo-returns-" + j.CreateTime.AsTime().UTC().Format("2006_01_02T15_04_05") + "_"
	if !strings.HasPrefix(dir, wantDir) || !strings.HasSuffix(dir, "Z") || len(dir) != len(wantDir)+4 {
		t.Fatalf("output dir %q, want %sNNNZ", dir, wantDir)
	}

	m := model.Demo()
	var rows [][]string
	for _, f := range []string{"predictions_0001.csv", "predictions_0002.csv"} {
		recs, err := csv.NewReader(strings.NewReader(e.get(t, dir+"/"+f))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(recs[0], ","); got+"\n" != strings.TrimSuffix(purchasesHeader, "\n")+",predicted_returned\n" {
			t.Fatalf("%s header %q", f, got)
		}
		rows = append(rows, recs[1:]...)
	}
	if len(rows) != 3 {
		t.Fatalf("%d prediction rows, want 3", len(rows))
	}
	header := strings.Split(strings.TrimSpace(purchasesHeader), ",")
	for _, rec := range rows {
		values := map[string]string{}
		for i, col := range header {
			values[col] = rec[i]
		}
		want, err := m.Predict(values)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Classes []string  `json:"classes"`
			Scores  []float64 `json:"scores"`
		}
		if err := json.Unmarshal([]byte(rec[len(header)]), &got); err != nil {
			t.Fatalf("row %s: prediction %q: %v", values["_row"], rec[len(header)], err)
		}
		if strings.Join(got.Classes, ",") != "false,true" || math.Abs(got.Scores[1]-want.Scores["true"]) > 1e-12 {
			t.Errorf("row %s: got %+v, want scores %v", values["_row"], got, want.Scores)
		}
	}
	if rows[0][7] != "gift, wrapped" {
		t.Errorf("note not carried through: %q", rows[0][7])
	}

	errs, err := csv.NewReader(strings.NewReader(e.get(t, dir+"/errors_0001.csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || errs[0][len(errs[0])-1] != "error" || errs[1][8] != "5" {
		t.Fatalf("errors file %q", errs)
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(errs[1][9]), &st); err != nil || st.Code != int(codes.InvalidArgument) || !strings.Contains(st.Message, `"price"`) {
		t.Fatalf("error cell %q (%v)", errs[1][9], err)
	}
}

func TestListFilterAndFailedAndCancelledJobs(t *testing.T) {
	e := newEnv(t, Options{JobLatency: 300 * time.Millisecond})
	e.put(t, "gs://in/a.csv", purchasesHeader+"2024-01-02,1,SKU-1,apparel,99.50,1,true,,2\n")
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
		return strings.Split(strings.TrimSpace(purchasesHeader), ","),
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
	if out := e.get(t, j.OutputInfo.GetGcsOutputDirectory()+"/predictions_0001.csv"); !strings.Contains(out, `{""classes"":[""false"",""true""]`) {
		t.Fatalf("predictions: %q", out)
	}
}

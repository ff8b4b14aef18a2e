package vertexemu

import (
	"context"
	"encoding/csv"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/model/modeltest"
)

// modelEnv is an emulator serving the given models, with e.modelRef the
// first ID.
func modelEnv(t *testing.T, ids []string, models ...model.Predictor) *env {
	t.Helper()
	byID := map[string]model.Predictor{}
	for i, id := range ids {
		byID[id] = models[i]
	}
	e := newEnv(t, Options{Models: byID})
	e.modelRef = e.srv.ModelName(ids[0])
	return e
}

// deploy deploys model id on a new endpoint and returns the endpoint.
func deploy(t *testing.T, e *env, id string) string {
	t.Helper()
	ctx := context.Background()
	ep := createEndpoint(t, e, "ep-"+id)
	op, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{Endpoint: ep,
		DeployedModel: &aiplatformpb.DeployedModel{Model: e.srv.ModelName(id), PredictionResources: dedicated()}, TrafficSplit: map[string]int32{"0": 100}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestConformanceBatchOutputRegression runs the fixture's input through a
// regression model of target revenue and checks the answer has the
// documented columns — every input column, then predicted_revenue — with
// the input returned as it was and the model's value in predicted_revenue.
func TestConformanceBatchOutputRegression(t *testing.T) {
	f := conformance.Load(t, "vertex-batch-output-regression")
	m := modeltest.Formula{TargetColumn: "revenue", Num: "quantity", Cat: "item_id"}
	e := modelEnv(t, []string{"revenue"}, m)
	j := runFixtureJob(t, e, map[string]string{"gs://in/clean/part-1.csv": string(f.MustFile(t, "input.csv"))}, "gs://in/clean/part-*")
	if j.State != aiplatformpb.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job %s: %v", j.State, j.Error)
	}
	doc := parseCSV(t, string(f.MustFile(t, "predictions_1.csv")))
	input := parseCSV(t, string(f.MustFile(t, "input.csv")))
	got := readAll(t, e, j.GetOutputInfo().GetGcsOutputDirectory()+"/predictions_1.csv")
	if !slices.Equal(got[0], doc[0]) {
		t.Fatalf("header %q, want %q", got[0], doc[0])
	}
	if len(got) != len(input) {
		t.Fatalf("%d rows, want %d", len(got)-1, len(input)-1)
	}
	for r := 1; r < len(got); r++ {
		if !slices.Equal(got[r][:len(input[r])], input[r]) {
			t.Errorf("row %d = %q, want the input %q first", r, got[r], input[r])
		}
		row := map[string]string{}
		for c, col := range input[0] {
			row[col] = input[r][c]
		}
		want, _ := m.Predict(row)
		if v, err := strconv.ParseFloat(got[r][len(got[r])-1], 64); err != nil || v != want.Value {
			t.Errorf("row %d predicted_revenue = %q, want %v", r, got[r][len(got[r])-1], want.Value)
		}
	}
}

// TestBatchOutputMultiClass checks a three-class model's batch output has
// one <target>_<class>_score column per class, in the model's class order,
// holding the model's scores.
func TestBatchOutputMultiClass(t *testing.T) {
	e := modelEnv(t, []string{"species"}, modeltest.Species)
	body := `"x","kind","dropcast_row"` + "\n" + `"1.5","ab","2"` + "\n" + `"-3","abcd","3"` + "\n"
	j := runFixtureJob(t, e, map[string]string{"gs://in/p.csv": body}, "gs://in/p.csv")
	if j.State != aiplatformpb.JobState_JOB_STATE_SUCCEEDED || j.GetCompletionStats().GetSuccessfulCount() != 2 {
		t.Fatalf("job %s %v, stats %v", j.State, j.Error, j.GetCompletionStats())
	}
	got := readAll(t, e, j.GetOutputInfo().GetGcsOutputDirectory()+"/predictions_1.csv")
	want := []string{"x", "kind", "dropcast_row", "species_setosa_score", "species_versicolor_score", "species_virginica_score"}
	if !slices.Equal(got[0], want) {
		t.Fatalf("header %q, want %q", got[0], want)
	}
	for r, in := range []map[string]string{{"x": "1.5", "kind": "ab"}, {"x": "-3", "kind": "abcd"}} {
		p, _ := modeltest.Species.Predict(in)
		for i, class := range modeltest.Species.Classes() {
			if v, err := strconv.ParseFloat(got[r+1][3+i], 64); err != nil || math.Abs(v-p.Scores[class]) > 1e-12 {
				t.Errorf("row %d %s score %q, want %v", r+1, class, got[r+1][3+i], p.Scores[class])
			}
		}
	}
}

// TestOnlineMultiClassAndRegression checks online answers of a
// three-class model ({classes, scores}, every class in the model's order)
// and of a regression model ({value, lower_bound, upper_bound}).
func TestOnlineMultiClassAndRegression(t *testing.T) {
	conformance.Load(t, "vertex-online-prediction")
	e := modelEnv(t, []string{"species", "price"}, modeltest.Species, modeltest.Price)
	ctx := context.Background()
	row := map[string]string{"x": "0.5", "kind": "abc"}
	inst := instance(t, map[string]any{"x": "0.5", "kind": "abc", "note": "extra"})

	resp, err := e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: deploy(t, e, "species"), Instances: []*structpb.Value{inst}})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetPredictions()[0].GetStructValue().AsMap()
	want, _ := modeltest.Species.Predict(row)
	classes, _ := got["classes"].([]any)
	scores, _ := got["scores"].([]any)
	if len(got) != 2 || len(classes) != 3 || len(scores) != 3 {
		t.Fatalf("prediction %v, want {classes, scores} of three classes", got)
	}
	for i, class := range modeltest.Species.Classes() {
		if classes[i] != class || math.Abs(scores[i].(float64)-want.Scores[class]) > 1e-12 {
			t.Errorf("class %d = %v %v, want %s %v", i, classes[i], scores[i], class, want.Scores[class])
		}
	}

	resp, err = e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: deploy(t, e, "price"), Instances: []*structpb.Value{inst}})
	if err != nil {
		t.Fatal(err)
	}
	got = resp.GetPredictions()[0].GetStructValue().AsMap()
	wantValue, _ := modeltest.Price.Predict(row)
	if len(got) != 3 || got["value"] != wantValue.Value || got["lower_bound"] != wantValue.Value || got["upper_bound"] != wantValue.Value {
		t.Fatalf("prediction %v, want {value, lower_bound, upper_bound} of %v", got, wantValue.Value)
	}
}

// TestConformanceInputMissingColumns checks a batch job and an online
// request whose input lacks a column the model reads are refused with
// INVALID_ARGUMENT naming the column.
func TestConformanceInputMissingColumns(t *testing.T) {
	f := conformance.Load(t, "vertex-input-missing-columns")
	if cols := strings.Join(modeltest.Species.Columns(), " "); cols != strings.TrimSpace(string(f.MustFile(t, "model.txt"))) {
		t.Fatalf("test model reads %s, the fixture's %s", cols, f.MustFile(t, "model.txt"))
	}
	missing := strings.TrimSpace(string(f.MustFile(t, "missing.txt")))
	e := modelEnv(t, []string{"species"}, modeltest.Species)
	j := runFixtureJob(t, e, map[string]string{"gs://in/p.csv": string(f.MustFile(t, "input.csv"))}, "gs://in/p.csv")
	if j.State != aiplatformpb.JobState_JOB_STATE_FAILED || j.GetError().GetCode() != int32(codes.InvalidArgument) ||
		!strings.Contains(j.GetError().GetMessage(), "missing column(s) "+missing+" ") {
		t.Fatalf("job %s %v, want FAILED with INVALID_ARGUMENT naming %s", j.State, j.GetError(), missing)
	}
	inst := instance(t, map[string]any{"x": "1.5", "note": "a"})
	_, err := e.predict.Predict(context.Background(), &aiplatformpb.PredictRequest{Endpoint: deploy(t, e, "species"), Instances: []*structpb.Value{inst}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "missing column(s) "+missing+" ") {
		t.Fatalf("online: %v, want INVALID_ARGUMENT naming %s", err, missing)
	}
}

func parseCSV(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

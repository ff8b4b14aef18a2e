package vertexemu

import (
	"context"
	"encoding/csv"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/model/modeltest"
)

// runFixtureJob runs a batch job of the demo model (target "returned") on
// files and returns the finished job.
func runFixtureJob(t *testing.T, e *env, files map[string]string, uris ...string) *aiplatformpb.BatchPredictionJob {
	t.Helper()
	for uri, body := range files {
		e.put(t, uri, body)
	}
	created, err := e.jobs.CreateBatchPredictionJob(context.Background(), csvJob(e, "fixture", uris...))
	if err != nil {
		t.Fatal(err)
	}
	return e.waitJob(t, created.Name)
}

func readAll(t *testing.T, e *env, uri string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(e.get(t, uri))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", uri, err)
	}
	return recs
}

// TestConformanceBatchOutputClassification runs the fixture's input through
// a job and checks the answer has the documented shape of the fixture's
// predictions_1.csv: the same columns (every input column and one
// <target>_<class>_score per class, in any order), the input values
// returned as they were, and a numeric score per class.
func TestConformanceBatchOutputClassification(t *testing.T) {
	f := conformance.Load(t, "vertex-batch-output-classification")
	e := newEnv(t, Options{})
	j := runFixtureJob(t, e, map[string]string{"gs://in/clean/part-1.csv": string(f.MustFile(t, "input.csv"))}, "gs://in/clean/part-*")
	if j.State != aiplatformpb.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job %s: %v", j.State, j.Error)
	}
	doc, err := csv.NewReader(strings.NewReader(string(f.MustFile(t, "predictions_1.csv")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	input, err := csv.NewReader(strings.NewReader(string(f.MustFile(t, "input.csv")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, e, j.GetOutputInfo().GetGcsOutputDirectory()+"/predictions_1.csv")
	if !slices.Equal(slices.Sorted(slices.Values(got[0])), slices.Sorted(slices.Values(doc[0]))) {
		t.Fatalf("header %q, want the columns of %q", got[0], doc[0])
	}
	if len(got) != len(input) {
		t.Fatalf("%d rows, want one per input row (%d)", len(got)-1, len(input)-1)
	}
	for r := 1; r < len(got); r++ {
		var sum float64
		for c, name := range got[0] {
			if in := slices.Index(input[0], name); in >= 0 {
				if got[r][c] != input[r][in] {
					t.Errorf("row %d column %s = %q, want the input's %q", r, name, got[r][c], input[r][in])
				}
				continue
			}
			v, err := strconv.ParseFloat(got[r][c], 64)
			if err != nil || v < 0 || v > 1 {
				t.Errorf("row %d score %s = %q, want a number in [0, 1]", r, name, got[r][c])
			}
			sum += v
		}
		if sum < 0.999 || sum > 1.001 {
			t.Errorf("row %d: scores add up to %v", r, sum)
		}
	}
}

// TestConformanceBatchOutputFiles checks the documented file names:
// predictions_1.csv, predictions_2.csv, ... and errors_1.csv, each with a
// header, the failed rows followed by an error holding a code and message.
func TestConformanceBatchOutputFiles(t *testing.T) {
	conformance.Load(t, "vertex-batch-output-files")
	e := newEnv(t, Options{RowsPerFile: 2})
	body := purchasesHeader +
		`"2024-01-02","1","SKU-1","apparel","99.50","1","true",,"2"` + "\n" +
		`"2024-01-03","2","SKU-2","grocery","3.20","4","false",,"3"` + "\n" +
		`"2024-01-04","3","SKU-3","toys","12.00","1","false",,"4"` + "\n" +
		`"2024-01-05","3","SKU-4","toys","cheap","1","false",,"5"` + "\n" // price is not a number: an error row
	j := runFixtureJob(t, e, map[string]string{"gs://in/a.csv": body}, "gs://in/a.csv")
	dir := j.GetOutputInfo().GetGcsOutputDirectory()
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(dir, "gs://"), "/")
	var names []string
	for _, obj := range e.list(t, bucket, prefix+"/") {
		names = append(names, path.Base(obj))
	}
	if want := []string{"errors_1.csv", "predictions_1.csv", "predictions_2.csv"}; !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	errs := readAll(t, e, dir+"/errors_1.csv")
	if len(errs) != 2 || errs[0][len(errs[0])-1] != ErrorColumn || errs[1][8] != "5" {
		t.Fatalf("errors file %q", errs)
	}
	if cell := errs[1][len(errs[1])-1]; !strings.Contains(cell, `"code":3`) || !strings.Contains(cell, `"message":`) {
		t.Errorf("error cell %q: want a google.rpc.Status of code and message", cell)
	}
}

// TestConformanceBatchOutputDir checks the directory's documented name,
// prediction-<model display name>-<create time as YYYY-MM-DDThh:mm:ss.sssZ>,
// below the output prefix, and that it is the job's create time.
func TestConformanceBatchOutputDir(t *testing.T) {
	f := conformance.Load(t, "vertex-batch-output-dir")
	pattern := strings.TrimSpace(string(f.MustFile(t, "pattern.txt")))
	e := newEnv(t, Options{})
	j := runFixtureJob(t, e, map[string]string{"gs://in/a.csv": purchasesHeader}, "gs://in/a.csv")
	dir := j.GetOutputInfo().GetGcsOutputDirectory()
	re := regexp.MustCompile(strings.Replace(pattern, "MODEL", regexp.QuoteMeta("demo-returns"), 1))
	if !strings.HasPrefix(dir, "gs://out/runs/r1/") || !re.MatchString(path.Base(dir)) {
		t.Fatalf("output directory %q, want gs://out/runs/r1/ and a name matching %s", dir, re)
	}
	stamp := strings.TrimPrefix(path.Base(dir), "prediction-demo-returns-")
	if at, err := time.Parse(time.RFC3339Nano, stamp); err != nil || !at.Equal(j.GetCreateTime().AsTime().Truncate(time.Millisecond)) {
		t.Errorf("timestamp %q (%v), want the create time %v", stamp, err, j.GetCreateTime().AsTime())
	}
}

// TestConformanceCSVInput checks the emulator takes the documented input
// form (quoted strings, a row key without a leading underscore, a wildcard
// URI) and fails a job whose input breaks a documented rule.
func TestConformanceCSVInput(t *testing.T) {
	f := conformance.Load(t, "vertex-csv-input")
	// A model of the columns good.csv holds: Vertex AI refuses input that
	// lacks one (fixture vertex-input-missing-columns).
	e := modelEnv(t, []string{"demo-returns"}, modeltest.Formula{TargetColumn: "returned", ClassNames: []string{"false", "true"}, Num: "price", Cat: "category"})
	good := runFixtureJob(t, e, map[string]string{"gs://in/good/part-1.csv": string(f.MustFile(t, "good.csv"))}, "gs://in/good/part-*")
	if good.State != aiplatformpb.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("documented input: job %s %v", good.State, good.Error)
	}
	bad := runFixtureJob(t, e, map[string]string{"gs://in/bad.csv": string(f.MustFile(t, "bad.csv"))}, "gs://in/bad.csv")
	if bad.State != aiplatformpb.JobState_JOB_STATE_FAILED || bad.GetError().GetCode() != int32(codes.InvalidArgument) {
		t.Fatalf("input breaking the rules: job %s %v, want FAILED with INVALID_ARGUMENT", bad.State, bad.Error)
	}
	for _, body := range []string{
		`"_row","price"` + "\n" + `"2","1"` + "\n",         // a column name beginning with _
		`"category","price"` + "\n" + `apparel,"1"` + "\n", // a string not in quotes
	} {
		j := runFixtureJob(t, e, map[string]string{"gs://in/one.csv": body}, "gs://in/one.csv")
		if j.State != aiplatformpb.JobState_JOB_STATE_FAILED {
			t.Errorf("input %q: job %s, want FAILED", body, j.State)
		}
	}
}

// TestConformanceResourceNames names the project by ID in every request
// and checks every name the emulator answers with carries the number.
func TestConformanceResourceNames(t *testing.T) {
	conformance.Load(t, "vertex-resource-names")
	e := newEnv(t, Options{})
	ctx := context.Background()
	byID := "projects/" + e.srv.Project() + "/locations/" + e.srv.Location()
	byNumber := "projects/" + e.srv.ProjectNumber() + "/locations/" + e.srv.Location()
	if e.srv.ProjectNumber() == e.srv.Project() || strings.Trim(e.srv.ProjectNumber(), "0123456789") != "" {
		t.Fatalf("project number %q", e.srv.ProjectNumber())
	}
	check := func(what, name string) {
		t.Helper()
		if !strings.HasPrefix(name, byNumber+"/") {
			t.Errorf("%s %q, want it under %s", what, name, byNumber)
		}
	}
	m, err := e.models.GetModel(ctx, &aiplatformpb.GetModelRequest{Name: byID + "/models/demo-returns"})
	if err != nil {
		t.Fatal(err)
	}
	check("model", m.GetName())
	op, err := e.eps.CreateEndpoint(ctx, &aiplatformpb.CreateEndpointRequest{Parent: byID, EndpointId: "ep", Endpoint: &aiplatformpb.Endpoint{DisplayName: "ep"}})
	if err != nil {
		t.Fatal(err)
	}
	check("create endpoint operation", op.Name())
	ep, err := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: byID + "/endpoints/ep"})
	if err != nil {
		t.Fatal(err)
	}
	check("endpoint", ep.GetName())
	dop, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{
		Endpoint:      byID + "/endpoints/ep",
		DeployedModel: &aiplatformpb.DeployedModel{Model: byID + "/models/demo-returns", PredictionResources: dedicated()},
		TrafficSplit:  map[string]int32{"0": 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	check("deploy operation", dop.Name())
	if _, err := dop.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	ep, _ = e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: byID + "/endpoints/ep"})
	check("deployed model", ep.GetDeployedModels()[0].GetModel())
	req := csvJob(e, "names", "gs://in/a.csv")
	req.Parent, req.BatchPredictionJob.Model = byID, byID+"/models/demo-returns"
	e.put(t, "gs://in/a.csv", purchasesHeader)
	j, err := e.jobs.CreateBatchPredictionJob(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	check("batch job", j.GetName())
	check("batch job's model", j.GetModel())
}

// TestConformanceUndeployTraffic plays the fixture's cases: an endpoint's
// traffic, an undeploy request, and whether the model is undeployed.
func TestConformanceUndeployTraffic(t *testing.T) {
	f := conformance.Load(t, "vertex-undeploy-traffic")
	for _, line := range strings.Split(strings.TrimSpace(string(f.MustFile(t, "cases.txt"))), "\n") {
		fields := strings.Fields(line)
		traffic, undeploy, split, want := parseSplit(fields[0]), strings.TrimPrefix(fields[1], "undeploy="), strings.TrimPrefix(fields[2], "split="), fields[3]
		t.Run(line, func(t *testing.T) {
			e := newEnv(t, Options{})
			ctx := context.Background()
			epName := e.parent() + "/endpoints/ep"
			if _, err := e.eps.CreateEndpoint(ctx, &aiplatformpb.CreateEndpointRequest{Parent: e.parent(), EndpointId: "ep", Endpoint: &aiplatformpb.Endpoint{DisplayName: "ep"}}); err != nil {
				t.Fatal(err)
			}
			// Deploy one model per ID in the case, the last with the case's split.
			ids := slices.Sorted(maps.Keys(traffic))
			actual := map[string]string{} // the case's ID -> the deployed model's ID
			for i, id := range ids {
				req := &aiplatformpb.DeployModelRequest{Endpoint: epName, DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()}}
				if i == len(ids)-1 {
					req.TrafficSplit = map[string]int32{}
					for other, pct := range traffic {
						key := actual[other]
						if other == id {
							key = "0"
						}
						req.TrafficSplit[key] = pct
					}
				}
				op, err := e.eps.DeployModel(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				dm, err := op.Wait(ctx)
				if err != nil {
					t.Fatal(err)
				}
				actual[id] = dm.GetDeployedModel().GetId()
			}
			req := &aiplatformpb.UndeployModelRequest{Endpoint: epName, DeployedModelId: actual[undeploy]}
			if split != "-" {
				req.TrafficSplit = map[string]int32{}
				for id, pct := range parseSplit(split) {
					req.TrafficSplit[actual[id]] = pct
				}
			}
			op, err := e.eps.UndeployModel(ctx, req)
			switch want {
			case "refused":
				if status.Code(err) != codes.FailedPrecondition {
					t.Fatalf("undeploy: %v, want FAILED_PRECONDITION", err)
				}
				return
			case "undeployed":
				if err != nil {
					t.Fatal(err)
				}
				if _, err := op.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ep, err := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
			if err != nil {
				t.Fatal(err)
			}
			if len(ep.GetDeployedModels()) != len(ids)-1 {
				t.Fatalf("%d models left, want %d", len(ep.GetDeployedModels()), len(ids)-1)
			}
			if len(ids) == 1 && len(ep.GetTrafficSplit()) != 0 {
				t.Errorf("the last model's undeploy left traffic %v, want none", ep.GetTrafficSplit())
			}
			if _, ok := ep.GetTrafficSplit()[actual[undeploy]]; ok {
				t.Errorf("traffic %v still names the undeployed model", ep.GetTrafficSplit())
			}
		})
	}
}

// parseSplit reads "1=50,2=50".
func parseSplit(s string) map[string]int32 {
	out := map[string]int32{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.Atoi(v)
		out[k] = int32(n)
	}
	return out
}

// TestConformanceDeployTraffic deploys without a traffic split (the model
// gets no traffic and online predictions fail) and with {"0": 100}.
func TestConformanceDeployTraffic(t *testing.T) {
	conformance.Load(t, "vertex-deploy-traffic")
	e := newEnv(t, Options{})
	ctx := context.Background()
	epName := e.parent() + "/endpoints/ep"
	if _, err := e.eps.CreateEndpoint(ctx, &aiplatformpb.CreateEndpointRequest{Parent: e.parent(), EndpointId: "ep", Endpoint: &aiplatformpb.Endpoint{DisplayName: "ep"}}); err != nil {
		t.Fatal(err)
	}
	deploy := func(split map[string]int32) string {
		op, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{Endpoint: epName, DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()}, TrafficSplit: split})
		if err != nil {
			t.Fatal(err)
		}
		dm, err := op.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return dm.GetDeployedModel().GetId()
	}
	deploy(nil)
	ep, _ := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if len(ep.GetTrafficSplit()) != 0 {
		t.Fatalf("a deploy without traffic_split set the split %v", ep.GetTrafficSplit())
	}
	inst := onlineInstance(t)
	if _, err := e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: epName, Instances: inst}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("predict with no traffic assigned: %v", err)
	}
	second := deploy(map[string]int32{"0": 100})
	ep, _ = e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if !maps.Equal(ep.GetTrafficSplit(), map[string]int32{second: 100}) {
		t.Fatalf("traffic %v, want all to %s", ep.GetTrafficSplit(), second)
	}
	resp, err := e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: epName, Instances: inst})
	if err != nil || resp.GetDeployedModelId() != second {
		t.Fatalf("predict: %v %v, want served by %s", resp, err, second)
	}
	if _, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{Endpoint: epName, DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()}, TrafficSplit: map[string]int32{"0": 60}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a split adding up to 60: %v, want INVALID_ARGUMENT", err)
	}
}

// onlineInstance is one instance of the demo model's columns.
func onlineInstance(t *testing.T) []*structpb.Value {
	t.Helper()
	return []*structpb.Value{instance(t, map[string]any{"date": "2024-01-02", "store_id": "2", "item_id": "SKU-1", "category": "apparel", "price": "120", "quantity": "1", "promo": "true", "note": ""})}
}

// TestConformanceOnlinePrediction checks an online prediction answers the
// documented TabularClassificationPredictionResult: every class of the
// model with its score, the N-th score for the N-th class.
func TestConformanceOnlinePrediction(t *testing.T) {
	conformance.Load(t, "vertex-online-prediction")
	e := newEnv(t, Options{})
	ctx := context.Background()
	epName := e.parent() + "/endpoints/ep"
	if _, err := e.eps.CreateEndpoint(ctx, &aiplatformpb.CreateEndpointRequest{Parent: e.parent(), EndpointId: "ep", Endpoint: &aiplatformpb.Endpoint{DisplayName: "ep"}}); err != nil {
		t.Fatal(err)
	}
	op, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{Endpoint: epName, DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()}, TrafficSplit: map[string]int32{"0": 100}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: epName, Instances: onlineInstance(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetPredictions()[0].GetStructValue().AsMap()
	classes, _ := got["classes"].([]any)
	scores, _ := got["scores"].([]any)
	if len(got) != 2 || len(classes) != 2 || len(scores) != 2 {
		t.Fatalf("prediction %v, want {classes, scores} of the model's two classes", got)
	}
}

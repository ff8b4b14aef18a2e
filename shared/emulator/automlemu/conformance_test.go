package automlemu

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/model/modeltest"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// These tests check the emulator against the documented forms in
// shared/conformance/fixtures/automl-*.txtar.

// lines are the non-empty lines of a fixture file.
func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// listOps lists the operations under parent matching filter.
func (f *fixture) listOps(ctx context.Context, parent, filter string) ([]*longrunningpb.Operation, error) {
	var ops []*longrunningpb.Operation
	it := f.models.LROClient.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent, Filter: filter})
	for {
		o, err := it.Next()
		if err == iterator.Done {
			return ops, nil
		}
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
}

func gcsBatch(model string, uris []string, prefix string) *automlpb.BatchPredictRequest {
	return &automlpb.BatchPredictRequest{
		Name:         model,
		InputConfig:  &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: uris}}},
		OutputConfig: &automlpb.BatchPredictOutputConfig{Destination: &automlpb.BatchPredictOutputConfig_GcsDestination{GcsDestination: &automlpb.GcsDestination{OutputUriPrefix: prefix}}},
	}
}

// TestConformanceResourceNamesProjectNumber: a request names the project by
// ID (or number); every name the service answers with carries the number.
func TestConformanceResourceNamesProjectNumber(t *testing.T) {
	fx := conformance.Load(t, "automl-resource-names-project-number")
	req := lines(fx.MustFile(t, "deploy-request.txt"))[0]
	op := &longrunningpb.Operation{}
	if err := protojson.Unmarshal(fx.MustFile(t, "operation.json"), op); err != nil {
		t.Fatal(err)
	}
	// The documented request names the project by ID; the answer by number.
	reqProject := regexp.MustCompile(`/projects/([^/]+)/locations/([^/]+)/models/`).FindStringSubmatch(req)
	ansProject := regexp.MustCompile(`^projects/([0-9]+)/locations/([^/]+)/operations/[^/]+$`).FindStringSubmatch(op.GetName())
	if reqProject == nil || ansProject == nil || reqProject[1] == ansProject[1] {
		t.Fatalf("fixture: request %q, answer %q", req, op.GetName())
	}
	project, location := reqProject[1], reqProject[2]

	f := newFixture(t, Options{Project: project, Location: location, DeployLatency: 20 * time.Millisecond})
	ctx := context.Background()
	num := f.srv.ProjectNumber()
	if !regexp.MustCompile(`^[0-9]{12}$`).MatchString(num) || num == project {
		t.Fatalf("ProjectNumber = %q", num)
	}
	again, err := Start(Options{Project: project})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.ProjectNumber() != num {
		t.Fatalf("project number not deterministic: %s, then %s", num, again.ProjectNumber())
	}
	byID := "projects/" + project + "/locations/" + location + "/models/m1"
	byNumber := "projects/" + num + "/locations/" + location + "/models/m1"
	if f.srv.ModelName("m1") != byID {
		t.Fatalf("ModelName = %q, want the form a user writes, %q", f.srv.ModelName("m1"), byID)
	}
	answered := regexp.MustCompile(`^projects/` + num + `/locations/` + location + `/`)
	for _, name := range []string{byID, byNumber} {
		m, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name})
		if err != nil {
			t.Fatalf("GetModel %s: %v", name, err)
		}
		if m.GetName() != byNumber {
			t.Fatalf("GetModel %s answered name %q, want %q", name, m.GetName(), byNumber)
		}
		specs := append(m.GetTablesModelMetadata().GetInputFeatureColumnSpecs(), m.GetTablesModelMetadata().GetTargetColumnSpec())
		for _, s := range specs {
			if !answered.MatchString(s.GetName()) {
				t.Fatalf("column spec name %q does not carry the project number", s.GetName())
			}
		}
	}
	if _, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: "projects/other/locations/" + location + "/models/m1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("another project: %v, want NotFound", err)
	}
	it := f.models.ListModels(ctx, &automlpb.ListModelsRequest{Parent: "projects/" + project + "/locations/" + location})
	if m, err := it.Next(); err != nil || m.GetName() != byNumber {
		t.Fatalf("ListModels = %v, %v", m, err)
	}

	dop, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: byID})
	if err != nil {
		t.Fatal(err)
	}
	if !answered.MatchString(dop.Name()) || !strings.Contains(dop.Name(), "/operations/") {
		t.Fatalf("operation name %q does not carry the project number", dop.Name())
	}
	// The operation is found by either form of its name, and a worksOn
	// filter names the model in either form.
	idOp := strings.Replace(dop.Name(), "projects/"+num+"/", "projects/"+project+"/", 1)
	if got, err := f.models.LROClient.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: idOp}); err != nil || got.GetName() != dop.Name() {
		t.Fatalf("GetOperation %s = %v, %v", idOp, got, err)
	}
	for _, parent := range []string{"projects/" + project + "/locations/" + location, "projects/" + num + "/locations/" + location} {
		for _, model := range []string{byID, byNumber} {
			ops, err := f.listOps(ctx, parent, "worksOn = "+model)
			if err != nil || len(ops) != 1 || ops[0].GetName() != dop.Name() {
				t.Fatalf("ListOperations %s worksOn %s = %v, %v", parent, model, ops, err)
			}
		}
	}
	f.await(t, dop.Name())
}

// TestConformanceGcsSourceFullObjectPath: input_uris are full object paths
// of up to 2000 characters; a wildcard is refused, naming the URI.
func TestConformanceGcsSourceFullObjectPath(t *testing.T) {
	fx := conformance.Load(t, "automl-gcs-source-full-object-path")
	f := newFixture(t, Options{})
	ctx := context.Background()
	// The emulator's Cloud Storage has bucket b: the documented forms move there.
	inB := func(uri string) string { return strings.Replace(uri, "gs://bucket/", "gs://b/", 1) }
	for _, uri := range lines(fx.MustFile(t, "refused.txt")) {
		uri = inB(uri)
		_, err := f.pred.BatchPredict(ctx, gcsBatch(f.srv.ModelName("m1"), []string{uri}, "gs://b/out"))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), uri) {
			t.Fatalf("BatchPredict %s: %v, want InvalidArgument naming the URI", uri, err)
		}
	}
	long := "gs://b/" + strings.Repeat("x", 2001-len("gs://b/"))
	if _, err := f.pred.BatchPredict(ctx, gcsBatch(f.srv.ModelName("m1"), []string{long}, "gs://b/out")); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a 2001-character URI: %v, want InvalidArgument", err)
	}
	for _, uri := range lines(fx.MustFile(t, "accepted.txt")) {
		uri = inB(uri)
		_, object, _ := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/")
		f.put(t, object, header+"\n"+strings.Join(demoRow(1), ",")+"\n")
		op, err := f.pred.BatchPredict(ctx, gcsBatch(f.srv.ModelName("m1"), []string{uri}, "gs://b/out"))
		if err != nil {
			t.Fatalf("BatchPredict %s: %v", uri, err)
		}
		if done := f.await(t, op.Name()); done.GetError() != nil {
			t.Fatalf("BatchPredict %s failed: %v", uri, done.GetError())
		}
	}
}

// TestConformanceTablesBatchInputCSV: the first file's first row is the
// header; a later file's first row is a header only when it equals it.
func TestConformanceTablesBatchInputCSV(t *testing.T) {
	fx := conformance.Load(t, "automl-tables-batch-input-csv")
	// A model of the fixture's columns, so that every row is predicted.
	f := newFixture(t, Options{Models: map[string]model.Predictor{"m1": modeltest.Formula{TargetColumn: "returned", ClassNames: []string{"false", "true"}, Num: "Id", Cat: "First Name"}}})
	ctx := context.Background()
	names := []string{"first.csv", "second-with-header.csv", "third-without-header.csv"}
	var uris []string
	for _, n := range names {
		f.put(t, "in/"+n, string(fx.MustFile(t, n)))
		uris = append(uris, "gs://b/in/"+n)
	}
	op, err := f.pred.BatchPredict(ctx, gcsBatch(f.srv.ModelName("m1"), uris, "gs://b/out"))
	if err != nil {
		t.Fatal(err)
	}
	done := f.await(t, op.Name())
	if done.GetError() != nil {
		t.Fatal(done.GetError())
	}
	meta := &automlpb.OperationMetadata{}
	if err := done.GetMetadata().UnmarshalTo(meta); err != nil {
		t.Fatal(err)
	}
	dir := meta.GetBatchPredictDetails().GetOutputInfo().GetGcsOutputDirectory()
	// Each data row is one tables_1.csv row, each header none.
	recs := f.readCSV(t, dir+"/tables_1.csv")
	if got, want := strings.Join(recs[0], ","), "Id,First Name,Last Name,returned_false_score,returned_true_score"; got != want {
		t.Fatalf("predictions header %q, want %q", got, want)
	}
	var ids []string
	for _, r := range recs[1:] {
		ids = append(ids, r[0])
	}
	if got := strings.Join(ids, ","); got != "1,2,3" {
		t.Fatalf("predicted rows have ids %s, want 1,2,3 (the second file's header skipped, the third's first row kept)", got)
	}
}

// TestConformanceOperationsFilter: the filter grammar is operation_id, done
// and worksOn with = or !=; anything else is INVALID_ARGUMENT.
func TestConformanceOperationsFilter(t *testing.T) {
	fx := conformance.Load(t, "automl-operations-filter")
	f := newFixture(t, Options{Project: "my-project", DeployLatency: time.Hour})
	ctx := context.Background()
	parent := f.srv.Parent()
	for _, filter := range lines(fx.MustFile(t, "accepted.txt")) {
		if _, err := f.listOps(ctx, parent, filter); err != nil {
			t.Errorf("documented filter %q: %v", filter, err)
		}
	}
	for _, filter := range lines(fx.MustFile(t, "refused.txt")) {
		if _, err := f.listOps(ctx, parent, filter); status.Code(err) != codes.InvalidArgument {
			t.Errorf("undocumented filter %q: %v, want InvalidArgument", filter, err)
		}
	}
	// The form production sends, naming a model that has an operation running.
	model := f.srv.ModelName("m1")
	dop, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: model})
	if err != nil {
		t.Fatal(err)
	}
	doc := lines(fx.MustFile(t, "production.txt"))[0]
	field, value, _ := strings.Cut(doc, " = ")
	id := dop.Name()[strings.LastIndex(dop.Name(), "/")+1:]
	for filter, want := range map[string]int{
		field + " = " + model:   1,
		field + " != " + model:  0,
		field + " = " + value:   0,
		"done=true":             0,
		"done=false":            1,
		"operation_id = " + id:  1,
		"operation_id != " + id: 0,
		field + " = " + strings.TrimSuffix(model, "/models/m1") + "/models/m2": 0,
	} {
		ops, err := f.listOps(ctx, parent, filter)
		if err != nil || len(ops) != want {
			t.Errorf("filter %q: %d operations (%v), want %d", filter, len(ops), err, want)
		}
	}
}

// TestConformanceDeployNoEffect: deploying a deployed model, or undeploying
// an undeployed one, ends with an empty response and changes nothing.
func TestConformanceDeployNoEffect(t *testing.T) {
	fx := conformance.Load(t, "automl-deploy-no-effect")
	stateOf := func(file string) automlpb.Model_DeploymentState {
		m := &automlpb.Model{}
		if err := protojson.Unmarshal(fx.MustFile(t, file), m); err != nil {
			t.Fatal(err)
		}
		return m.GetDeploymentState()
	}
	deployed, undeployed := stateOf("deployed.json"), stateOf("undeployed.json")
	f := newFixture(t, Options{DeployLatency: 10 * time.Millisecond})
	ctx := context.Background()
	name := f.srv.ModelName("m1")
	state := func() automlpb.Model_DeploymentState {
		m, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return m.GetDeploymentState()
	}
	run := func(deploy bool) {
		t.Helper()
		var op string
		if deploy {
			o, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			op = o.Name()
		} else {
			o, err := f.models.UndeployModel(ctx, &automlpb.UndeployModelRequest{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			op = o.Name()
		}
		done := f.await(t, op)
		if done.GetError() != nil || done.GetResponse() == nil {
			t.Fatalf("operation %s ended with %v", op, done.GetResult())
		}
	}
	if state() != undeployed {
		t.Fatalf("a new model is %v, want %v", state(), undeployed)
	}
	run(false) // undeploy an undeployed model: no effect
	if state() != undeployed || f.srv.DeployedModels() != 0 {
		t.Fatalf("after undeploying an undeployed model: %v", state())
	}
	run(true)
	run(true) // deploy a deployed model: no effect
	if state() != deployed || f.srv.DeployedModels() != 1 {
		t.Fatalf("after deploying twice: %v, %d deployed", state(), f.srv.DeployedModels())
	}
	run(false)
	if state() != undeployed || f.srv.DeployedModels() != 0 {
		t.Fatalf("after undeploying: %v", state())
	}
}

// TestConformanceBatchOutputDirectory: the output directory is
// <prefix>/prediction-<model display name>-<timestamp of the call>, reported
// in the operation metadata, with a BatchPredictResult response.
func TestConformanceBatchOutputDirectory(t *testing.T) {
	fx := conformance.Load(t, "automl-batch-output-directory")
	format := lines(fx.MustFile(t, "timestamp-format.txt"))[0]
	// The documented format, as a Go layout and as a pattern.
	layout := strings.NewReplacer("YYYY", "2006", "MM", "01", "DD", "02", "hh", "15", "mm", "04", "sss", "000", "ss", "05").Replace(format)
	pattern := strings.NewReplacer("YYYY", `\d{4}`, "MM", `\d{2}`, "DD", `\d{2}`, "hh", `\d{2}`, "mm", `\d{2}`, "sss", `\d{3}`, "ss", `\d{2}`, ".", `\.`).Replace(format)
	dirName := lines(fx.MustFile(t, "directory-name.txt"))[0]
	want := regexp.MustCompile("^gs://b/directory/" + strings.NewReplacer("<model-display-name>", "demo", "<timestamp-of-prediction-call>", "("+pattern+")").Replace(dirName) + "$")

	f := newFixture(t, Options{JobLatency: 10 * time.Millisecond})
	ctx := context.Background()
	f.put(t, "in/x.csv", header+"\n"+strings.Join(demoRow(1), ",")+"\n")
	before := time.Now().UTC().Truncate(time.Millisecond)
	op, err := f.pred.BatchPredict(ctx, gcsBatch(f.srv.ModelName("m1"), []string{"gs://b/in/x.csv"}, "gs://b/directory"))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	done := f.await(t, op.Name())
	meta := &automlpb.OperationMetadata{}
	if err := done.GetMetadata().UnmarshalTo(meta); err != nil {
		t.Fatal(err)
	}
	dir := meta.GetBatchPredictDetails().GetOutputInfo().GetGcsOutputDirectory()
	m := want.FindStringSubmatch(dir)
	if m == nil {
		t.Fatalf("gcs_output_directory %q does not match %s", dir, want)
	}
	ts, err := time.Parse(layout, m[1])
	if err != nil || ts.Before(before) || ts.After(after) {
		t.Fatalf("timestamp %s (%v) is not the time of the call, between %v and %v", m[1], err, before, after)
	}
	if !done.GetResponse().MessageIs(&automlpb.BatchPredictResult{}) {
		t.Fatalf("response %v, want a BatchPredictResult", done.GetResponse())
	}
	recs := f.readCSV(t, dir+"/tables_1.csv")
	if len(recs) != 2 {
		t.Fatalf("tables_1.csv = %v", recs)
	}
}

package automlemu

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	automl "cloud.google.com/go/automl/apiv1beta1"
	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/storage"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/model"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

const header = "date,store_id,item_id,category,price,quantity,promo,note,_row"

// fixture is an emulator with the demo model "m1", a GCS emulator and real clients.
type fixture struct {
	srv    *Server
	gcs    *storage.Client
	models *automl.Client
	pred   *automl.PredictionClient
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	gc := gcsemutest.Start(t, "b")
	opts.Storage = gc
	if opts.Models == nil {
		opts.Models = map[string]model.Predictor{"m1": model.Demo()}
		opts.DisplayNames = map[string]string{"m1": "demo"}
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	co := []option.ClientOption{option.WithEndpoint(s.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	mc, err := automl.NewClient(ctx, co...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	pc, err := automl.NewPredictionClient(ctx, co...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &fixture{srv: s, gcs: gc, models: mc, pred: pc}
}

// await polls an operation with GetOperation until it is done.
func (f *fixture) await(t *testing.T, name string) *longrunningpb.Operation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		op, err := f.models.LROClient.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if op.GetDone() {
			return op
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("operation %s not done in time", name)
	return nil
}

func (f *fixture) put(t *testing.T, object, body string) {
	t.Helper()
	w := f.gcs.Bucket("b").Object(object).NewWriter(context.Background())
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) readCSV(t *testing.T, uri string) [][]string {
	t.Helper()
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.gcs.Bucket(bucket).Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	defer r.Close()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// demoRow is a valid row number i of the demo layout.
func demoRow(i int) []string {
	cats := []string{"apparel", "electronics", "grocery", "home", "toys"}
	return []string{"2024-05-01", strconv.Itoa(i%5 + 1), fmt.Sprintf("SKU-%05d", i), cats[i%5],
		strconv.FormatFloat(5+float64(i*7%90), 'f', 2, 64), strconv.Itoa(i%6 + 1), strconv.FormatBool(i%2 == 0), "", strconv.Itoa(i + 2)}
}

func asMap(rec []string) map[string]string {
	m := map[string]string{}
	for i, h := range strings.Split(header, ",") {
		m[h] = rec[i]
	}
	return m
}

func TestModelDeployPredictUndeploy(t *testing.T) {
	f := newFixture(t, Options{DeployLatency: 30 * time.Millisecond})
	ctx := context.Background()
	name := f.srv.ModelName("m1")
	m, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range m.GetTablesModelMetadata().GetInputFeatureColumnSpecs() {
		cols = append(cols, c.GetDisplayName())
	}
	if got, want := strings.Join(cols, ","), strings.Join(model.Demo().Columns(), ","); got != want {
		t.Fatalf("feature columns = %s, want %s", got, want)
	}
	it := f.models.ListModels(ctx, &automlpb.ListModelsRequest{Parent: f.srv.Parent()})
	if listed, err := it.Next(); err != nil || listed.GetName() != m.GetName() || listed.GetDisplayName() != "demo" {
		t.Fatalf("ListModels = %v, %v", listed, err)
	}
	if m.GetDeploymentState() != automlpb.Model_UNDEPLOYED || m.GetTablesModelMetadata().GetTargetColumnSpec().GetDisplayName() != "returned" {
		t.Fatalf("model = %v", m)
	}

	rec := demoRow(3)
	row := asMap(rec)
	var vals []*structpb.Value
	for _, c := range cols {
		vals = append(vals, structpb.NewStringValue(row[c]))
	}
	req := &automlpb.PredictRequest{Name: name, Payload: &automlpb.ExamplePayload{Payload: &automlpb.ExamplePayload_Row{Row: &automlpb.Row{Values: vals}}}}
	if _, err := f.pred.Predict(ctx, req); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("predict undeployed: %v, want FailedPrecondition", err)
	}

	dop, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: name}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second deploy while running: %v", err)
	}
	if op := f.await(t, dop.Name()); op.GetError() != nil {
		t.Fatal(op.GetError())
	}
	if err := dop.Poll(ctx); err != nil || !dop.Done() {
		t.Fatalf("client Poll: done=%v err=%v", dop.Done(), err)
	}
	if f.srv.DeployedModels() != 1 {
		t.Fatalf("DeployedModels = %d", f.srv.DeployedModels())
	}
	resp, err := f.pred.Predict(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := model.Demo().Predict(row)
	top := resp.GetPayload()[0].GetTables()
	if top.GetValue().GetStringValue() != want.Label || float64(top.GetScore()) != float64(float32(want.Scores[want.Label])) || len(resp.GetPayload()) != 2 {
		t.Fatalf("predict = %v, want %+v", resp.GetPayload(), want)
	}
	if f.srv.PredictCalls() != 2 || f.srv.PredictRows() != 1 {
		t.Fatalf("calls=%d rows=%d, want 2 and 1", f.srv.PredictCalls(), f.srv.PredictRows())
	}

	f.srv.SetFaults(Faults{QuotaErrorRate: 1})
	if _, err := f.pred.Predict(ctx, req); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("quota fault: %v", err)
	}
	f.srv.SetFaults(Faults{})

	uop, err := f.models.UndeployModel(ctx, &automlpb.UndeployModelRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	f.await(t, uop.Name())
	if f.srv.DeployedModels() != 0 || f.srv.DeployedTime("m1") <= 0 {
		t.Fatalf("after undeploy: deployed=%d time=%v", f.srv.DeployedModels(), f.srv.DeployedTime("m1"))
	}
	frozen := f.srv.DeployedTime("m1")
	time.Sleep(5 * time.Millisecond)
	if f.srv.DeployedTime("m1") != frozen {
		t.Fatal("DeployedTime grows while undeployed")
	}
}

func TestDeployFault(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.SetFaults(Faults{FailDeploy: 1})
	op, err := f.models.DeployModel(context.Background(), &automlpb.DeployModelRequest{Name: f.srv.ModelName("m1")})
	if err != nil {
		t.Fatal(err)
	}
	if done := f.await(t, op.Name()); done.GetError().GetCode() != int32(codes.Internal) {
		t.Fatalf("failed deploy: %v", done.GetResult())
	}
	if f.srv.DeployedModels() != 0 {
		t.Fatal("a failed deploy deployed the model")
	}
}

func TestBatchPredictGCS(t *testing.T) {
	f := newFixture(t, Options{JobLatency: 50 * time.Millisecond, RowsPerFile: 4})
	ctx := context.Background()
	var want []map[string]string
	for part := range 2 {
		var b strings.Builder
		b.WriteString(header + "\n")
		for i := part * 5; i < part*5+5; i++ {
			rec := demoRow(i)
			want = append(want, asMap(rec))
			b.WriteString(strings.Join(rec, ",") + "\n")
		}
		if part == 1 {
			b.WriteString("2024-05-01,9,SKU-1,toys,cheap,1,true,,99\n") // price is not a number
		}
		f.put(t, fmt.Sprintf("in/clean-%d.csv", part), b.String())
	}
	f.put(t, "in/other.txt", "not,csv\n")
	req := &automlpb.BatchPredictRequest{
		Name:         f.srv.ModelName("m1"),
		InputConfig:  &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: []string{"gs://b/in/clean-0.csv", "gs://b/in/clean-1.csv"}}}},
		OutputConfig: &automlpb.BatchPredictOutputConfig{Destination: &automlpb.BatchPredictOutputConfig_GcsDestination{GcsDestination: &automlpb.GcsDestination{OutputUriPrefix: "gs://b/out"}}},
	}
	op, err := f.pred.BatchPredict(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := f.models.LROClient.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()}); first.GetDone() {
		t.Fatal("batch done before JobLatency")
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
	if !regexp.MustCompile(`^gs://b/out/prediction-demo-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(dir) {
		t.Fatalf("output dir %q", dir)
	}
	if got := meta.GetBatchPredictDetails().GetInputConfig().GetGcsSource().GetInputUris(); len(got) != 2 || got[1] != "gs://b/in/clean-1.csv" {
		t.Fatalf("metadata input = %v", got)
	}
	var got [][]string
	for _, name := range []string{"tables_1.csv", "tables_2.csv", "tables_3.csv"} {
		recs := f.readCSV(t, dir+"/"+name)
		if h := strings.Join(recs[0], ","); h != header+",returned_false_score,returned_true_score" {
			t.Fatalf("%s header %s", name, h)
		}
		got = append(got, recs[1:]...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d predicted rows, want %d", len(got), len(want))
	}
	m := model.Demo()
	for i, rec := range got {
		p, err := m.Predict(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if rec[8] != want[i]["_row"] || rec[10] != strconv.FormatFloat(p.Scores["true"], 'g', -1, 64) {
			t.Fatalf("row %d = %v, want _row %s true score %v", i, rec, want[i]["_row"], p.Scores["true"])
		}
	}
	errs := f.readCSV(t, dir+"/errors_1.csv")
	if len(errs) != 2 || errs[0][9] != "errors_returned" || errs[1][8] != "99" || !strings.Contains(errs[1][9], "price") {
		t.Fatalf("errors file = %v", errs)
	}
	res, err := op.Poll(ctx)
	if err != nil || res == nil {
		t.Fatalf("client Poll: %v %v", res, err)
	}
}

func TestBatchFailures(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	out := &automlpb.BatchPredictOutputConfig{Destination: &automlpb.BatchPredictOutputConfig_GcsDestination{GcsDestination: &automlpb.GcsDestination{OutputUriPrefix: "gs://b/out"}}}
	_, err := f.pred.BatchPredict(ctx, &automlpb.BatchPredictRequest{Name: f.srv.ModelName("m1"), OutputConfig: out,
		InputConfig: &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_BigquerySource{BigquerySource: &automlpb.BigQuerySource{InputUri: "bq://p.d.t"}}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("bigquery without hook: %v", err)
	}
	f.put(t, "in/x.csv", header+"\n"+strings.Join(demoRow(1), ",")+"\n")
	gcsIn := &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: []string{"gs://b/in/x.csv"}}}}
	f.srv.SetFaults(Faults{FailBatch: 1})
	op, err := f.pred.BatchPredict(ctx, &automlpb.BatchPredictRequest{Name: f.srv.ModelName("m1"), InputConfig: gcsIn, OutputConfig: out})
	if err != nil {
		t.Fatal(err)
	}
	if done := f.await(t, op.Name()); done.GetError().GetCode() != int32(codes.Internal) {
		t.Fatalf("injected failure: %v", done.GetResult())
	}
	if _, err := op.Poll(ctx); err == nil {
		t.Fatal("client Poll of a failed batch returned no error")
	}
	missing := &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: []string{"gs://b/nothing/x.csv"}}}}
	op, err = f.pred.BatchPredict(ctx, &automlpb.BatchPredictRequest{Name: f.srv.ModelName("m1"), InputConfig: missing, OutputConfig: out})
	if err != nil {
		t.Fatal(err)
	}
	if done := f.await(t, op.Name()); done.GetError().GetCode() != int32(codes.InvalidArgument) {
		t.Fatalf("no input files: %v", done.GetResult())
	}
	if _, err := f.pred.BatchPredict(ctx, &automlpb.BatchPredictRequest{Name: f.srv.Parent() + "/models/nope", InputConfig: gcsIn, OutputConfig: out}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestListOperationsFilter(t *testing.T) {
	f := newFixture(t, Options{DeployLatency: time.Hour})
	ctx := context.Background()
	name := f.srv.ModelName("m1")
	op, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	list := func(filter string) []string {
		t.Helper()
		var names []string
		it := f.models.LROClient.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: f.srv.Parent(), Filter: filter})
		for {
			o, err := it.Next()
			if err == iterator.Done {
				return names
			}
			if err != nil {
				t.Fatalf("filter %q: %v", filter, err)
			}
			names = append(names, o.GetName())
		}
	}
	if got := list("worksOn = " + name); len(got) != 1 || got[0] != op.Name() {
		t.Fatalf("ops on model = %v", got)
	}
	if got := list("done = false"); len(got) != 1 || got[0] != op.Name() {
		t.Fatalf("running ops = %v", got)
	}
	if got := list("done=true"); len(got) != 0 {
		t.Fatalf("done ops = %v", got)
	}
	if got := list("worksOn != " + name); len(got) != 0 {
		t.Fatalf("ops not on model = %v", got)
	}
	id := op.Name()[strings.LastIndex(op.Name(), "/")+1:]
	if got := list("operation_id = " + id); len(got) != 1 {
		t.Fatalf("by id = %v", got)
	}
	if err := f.models.LROClient.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.Name()}); err != nil {
		t.Fatal(err)
	}
	if got := list("done = true"); len(got) != 1 {
		t.Fatalf("after cancel, done ops = %v", got)
	}
	it := f.models.LROClient.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: f.srv.Parent(), Filter: "color = red"})
	if _, err := it.Next(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestBatchPredictBigQueryHook(t *testing.T) {
	var asked string
	rows := [][]string{demoRow(0), demoRow(1)}
	f := newFixture(t, Options{BigQuery: func(_ context.Context, uri string) ([]string, [][]string, error) {
		asked = uri
		return strings.Split(header, ","), rows, nil
	}})
	ctx := context.Background()
	op, err := f.pred.BatchPredict(ctx, &automlpb.BatchPredictRequest{
		Name:         f.srv.ModelName("m1"),
		InputConfig:  &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_BigquerySource{BigquerySource: &automlpb.BigQuerySource{InputUri: "bq://p.d.t"}}},
		OutputConfig: &automlpb.BatchPredictOutputConfig{Destination: &automlpb.BatchPredictOutputConfig_GcsDestination{GcsDestination: &automlpb.GcsDestination{OutputUriPrefix: "gs://b/bq/"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := f.await(t, op.Name())
	meta := &automlpb.OperationMetadata{}
	if err := done.GetMetadata().UnmarshalTo(meta); err != nil || done.GetError() != nil {
		t.Fatal(err, done.GetError())
	}
	recs := f.readCSV(t, meta.GetBatchPredictDetails().GetOutputInfo().GetGcsOutputDirectory()+"/tables_1.csv")
	if asked != "bq://p.d.t" || len(recs) != 3 || recs[2][8] != rows[1][8] {
		t.Fatalf("hook asked %q; output %v", asked, recs)
	}
}

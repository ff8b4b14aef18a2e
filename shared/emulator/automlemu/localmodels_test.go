package automlemu

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/model/modeltest"
)

func localModelsFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixture(t, Options{
		DeployLatency: time.Millisecond, JobLatency: time.Millisecond,
		Models:       map[string]model.Predictor{"species": modeltest.Species, "price": modeltest.Price},
		DisplayNames: map[string]string{"species": "species", "price": "price"},
	})
}

// batch runs a GCS batch prediction of model id on body and returns the
// finished operation's output directory, or its error.
func (f *fixture) batch(t *testing.T, id, body string) (string, error) {
	t.Helper()
	f.put(t, "in/"+id+".csv", body)
	op, err := f.pred.BatchPredict(context.Background(), &automlpb.BatchPredictRequest{
		Name:         f.srv.ModelName(id),
		InputConfig:  &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: []string{"gs://b/in/" + id + ".csv"}}}},
		OutputConfig: &automlpb.BatchPredictOutputConfig{Destination: &automlpb.BatchPredictOutputConfig_GcsDestination{GcsDestination: &automlpb.GcsDestination{OutputUriPrefix: "gs://b/out"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := f.await(t, op.Name())
	if e := done.GetError(); e != nil {
		return "", fmt.Errorf("code %d: %s", e.GetCode(), e.GetMessage())
	}
	meta := &automlpb.OperationMetadata{}
	if err := done.GetMetadata().UnmarshalTo(meta); err != nil {
		t.Fatal(err)
	}
	return meta.GetBatchPredictDetails().GetOutputInfo().GetGcsOutputDirectory(), nil
}

// TestConformanceTablesBatchOutputColumns checks tables_1.csv of a
// three-class model and of a regression model has the fixture's columns:
// the input's, then <target>_<value>_score per class or predicted_<target>,
// holding the model's predictions.
func TestConformanceTablesBatchOutputColumns(t *testing.T) {
	fx := conformance.Load(t, "automl-tables-batch-output-columns")
	f := localModelsFixture(t)
	for _, id := range []string{"species", "price"} {
		kind := map[string]string{"species": "classification", "price": "regression"}[id]
		doc := parse(t, string(fx.MustFile(t, kind+"/tables_1.csv")))
		var in strings.Builder
		for _, rec := range doc {
			in.WriteString(strings.Join(rec[:3], ",") + "\n")
		}
		dir, err := f.batch(t, id, in.String())
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		got := f.readCSV(t, dir+"/tables_1.csv")
		if !slices.Equal(got[0], doc[0]) {
			t.Fatalf("%s header %q, want %q", id, got[0], doc[0])
		}
		m := f.srv.st.models[id].m
		for r := 1; r < len(got); r++ {
			p, _ := m.Predict(map[string]string{"x": doc[r][0], "kind": doc[r][1]})
			want := []float64{p.Value}
			if m.Task() == model.Classification {
				want = nil
				for _, c := range m.Classes() {
					want = append(want, p.Scores[c])
				}
			}
			for i, w := range want {
				if v, err := strconv.ParseFloat(got[r][3+i], 64); err != nil || math.Abs(v-w) > 1e-12 {
					t.Errorf("%s row %d column %s = %q, want %v", id, r, got[0][3+i], got[r][3+i], w)
				}
			}
		}
	}
}

// TestBatchInputMissingColumns checks a batch prediction whose input lacks
// a model column fails with INVALID_ARGUMENT naming it.
func TestBatchInputMissingColumns(t *testing.T) {
	f := localModelsFixture(t)
	_, err := f.batch(t, "species", "x,note,dropcast_row\n1.5,a,2\n")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("code %d:", codes.InvalidArgument)) || !strings.Contains(err.Error(), "missing column(s) kind ") {
		t.Fatalf("batch without kind: %v, want INVALID_ARGUMENT naming kind", err)
	}
}

// TestConformanceTablesOnlinePrediction checks online answers have the
// fixture's form: a classifier's one payload per class with a CATEGORY
// value and score; a regression's one payload with a number value, a
// prediction_interval and no score. The regression model's target column
// is FLOAT64.
func TestConformanceTablesOnlinePrediction(t *testing.T) {
	fx := conformance.Load(t, "automl-tables-online-prediction")
	f := localModelsFixture(t)
	ctx := context.Background()
	row := &automlpb.Row{Values: []*structpb.Value{structpb.NewNumberValue(0.5), structpb.NewStringValue("abc")}}
	for _, id := range []string{"species", "price"} {
		name := f.srv.ModelName(id)
		op, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		f.await(t, op.Name())
		resp, err := f.pred.Predict(ctx, &automlpb.PredictRequest{Name: name, Payload: &automlpb.ExamplePayload{Payload: &automlpb.ExamplePayload_Row{Row: row}}})
		if err != nil {
			t.Fatal(err)
		}
		doc := &automlpb.PredictResponse{}
		file := map[string]string{"species": "classification.json", "price": "regression.json"}[id]
		if err := protojson.Unmarshal(fx.MustFile(t, file), doc); err != nil {
			t.Fatal(err)
		}
		if len(resp.GetPayload()) != len(doc.GetPayload()) {
			t.Fatalf("%s: %d payloads, the fixture %d", id, len(resp.GetPayload()), len(doc.GetPayload()))
		}
		want, _ := f.srv.st.models[id].m.Predict(map[string]string{"x": "0.5", "kind": "abc"})
		for _, a := range resp.GetPayload() {
			tab := a.GetTables()
			switch id {
			case "species":
				class := tab.GetValue().GetStringValue()
				if math.Abs(float64(tab.GetScore())-want.Scores[class]) > 1e-6 || tab.GetPredictionInterval() != nil {
					t.Errorf("class %q score %v, want %v and no interval", class, tab.GetScore(), want.Scores[class])
				}
			case "price":
				v, ok := tab.GetValue().GetKind().(*structpb.Value_NumberValue)
				if !ok || v.NumberValue != want.Value || tab.GetScore() != 0 || tab.GetPredictionInterval() == nil {
					t.Errorf("regression payload %v, want value %v with an interval and no score", tab, want.Value)
				}
			}
		}
		m, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		wantType := map[string]automlpb.TypeCode{"species": automlpb.TypeCode_CATEGORY, "price": automlpb.TypeCode_FLOAT64}[id]
		if got := m.GetTablesModelMetadata().GetTargetColumnSpec().GetDataType().GetTypeCode(); got != wantType {
			t.Errorf("%s target type %v, want %v", id, got, wantType)
		}
	}
}

func parse(t *testing.T, s string) [][]string {
	t.Helper()
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.Split(line, ","))
	}
	return out
}

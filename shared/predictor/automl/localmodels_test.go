package automl

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/predictor"
)

// onlineFake is an AutoML service with one Tables model whose target has
// the given type, answering every Predict with answer.
type onlineFake struct {
	automlpb.UnimplementedAutoMlServer
	automlpb.UnimplementedPredictionServiceServer
	target automlpb.TypeCode
	answer *automlpb.PredictResponse
}

func (f *onlineFake) GetModel(_ context.Context, req *automlpb.GetModelRequest) (*automlpb.Model, error) {
	return &automlpb.Model{Name: req.GetName(), ModelMetadata: &automlpb.Model_TablesModelMetadata{TablesModelMetadata: &automlpb.TablesModelMetadata{
		TargetColumnSpec:        &automlpb.ColumnSpec{DisplayName: "y", DataType: &automlpb.DataType{TypeCode: f.target}},
		InputFeatureColumnSpecs: []*automlpb.ColumnSpec{{Name: "c/1", DisplayName: "x", DataType: &automlpb.DataType{TypeCode: automlpb.TypeCode_FLOAT64}}},
	}}}, nil
}

func (f *onlineFake) Predict(context.Context, *automlpb.PredictRequest) (*automlpb.PredictResponse, error) {
	return f.answer, nil
}

// predictWith runs the backend's online Predict of one row against f.
func predictWith(t *testing.T, f *onlineFake) predictor.Prediction {
	t.Helper()
	b := serve(t, f, nil)
	preds, err := b.Predict(context.Background(), "projects/p/locations/us-central1/models/m", []string{"x", "dropcast_row"}, [][]string{{"1.5", "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 1 || preds[0].RowKey != "7" {
		t.Fatalf("predictions %+v, want one for row 7", preds)
	}
	return preds[0]
}

// TestConformanceTablesOnlinePrediction feeds the documented answers of a
// three-class classifier and of a regression model (FLOAT64 target) to the
// backend's online Predict: the label is the top class with its score, or
// the predicted number with no scores.
func TestConformanceTablesOnlinePrediction(t *testing.T) {
	fx := conformance.Load(t, "automl-tables-online-prediction")
	var lines []string
	for _, c := range []struct {
		file   string
		target automlpb.TypeCode
	}{{"classification.json", automlpb.TypeCode_CATEGORY}, {"regression.json", automlpb.TypeCode_FLOAT64}} {
		answer := &automlpb.PredictResponse{}
		if err := protojson.Unmarshal(fx.MustFile(t, c.file), answer); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		p := predictWith(t, &onlineFake{target: c.target, answer: answer})
		if c.target == automlpb.TypeCode_FLOAT64 && p.Scores != nil {
			t.Errorf("regression prediction has scores %v", p.Scores)
		}
		// Scores travel as float32: print them at that precision.
		lines = append(lines, p.Label+" "+strconv.FormatFloat(p.Score, 'f', -1, 32))
	}
	if want := strings.TrimSpace(string(fx.MustFile(t, "expected.txt"))); strings.Join(lines, "\n") != want {
		t.Fatalf("read\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

// TestConformanceTablesBatchOutputColumns reads the documented tables_1.csv
// of a three-class model and of a regression model with ListOutput and
// OpenOutput.
func TestConformanceTablesBatchOutputColumns(t *testing.T) {
	fx := conformance.Load(t, "automl-tables-batch-output-columns")
	f := &fake{}
	b := startFake(t, f)
	ctx := context.Background()
	var lines []string
	for _, c := range []struct{ dir, target string }{{"classification", "species"}, {"regression", "price"}} {
		w := b.cfg.Storage.Bucket("b").Object("out/" + c.dir + "/tables_1.csv").NewWriter(ctx)
		w.Write(fx.MustFile(t, c.dir+"/tables_1.csv"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out := predictor.Output{Dir: "gs://b/out/" + c.dir, Input: []string{"x", "kind", "dropcast_row"}, Target: c.target}
		files, err := b.ListOutput(ctx, out)
		if err != nil || len(files.Predictions) != 1 {
			t.Fatalf("%s: files %v, %v", c.dir, files, err)
		}
		r, err := b.OpenOutput(ctx, out, files.Predictions[0])
		if err != nil {
			t.Fatal(err)
		}
		for {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", c.dir, err)
			}
			lines = append(lines, row.RowKey+" "+row.Label+" "+strconv.FormatFloat(row.Score, 'f', -1, 64))
		}
		r.Close()
	}
	if want := strings.TrimSpace(string(fx.MustFile(t, "expected.txt"))); strings.Join(lines, "\n") != want {
		t.Fatalf("read\n%s\nwant\n%s", strings.Join(lines, "\n"), want)
	}
}

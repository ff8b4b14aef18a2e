package vertex

import (
	"context"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/predictor"
)

func TestWriteOutputReadsBackLikeBatchOutput(t *testing.T) {
	e := newEnv(t, vertexemu.Options{})
	ctx := context.Background()
	_, rows := sample()
	hdr := strings.Split(header, ",")
	var preds []predictor.Prediction
	for _, row := range rows[:4] {
		w := want(t, row)
		preds = append(preds, predictor.Prediction{RowKey: row[8], Label: w.Label, Score: w.Scores[w.Label], Scores: w.Scores})
	}
	dir := "gs://data/online/run-7"
	if err := e.b.WriteOutput(ctx, dir, 2, hdr, rows[2:4], preds[2:4]); err != nil {
		t.Fatal(err)
	}
	if err := e.b.WriteOutput(ctx, dir, 1, hdr, rows[:2], preds[:2]); err != nil {
		t.Fatal(err)
	}
	e.put(t, "online/run-7/nested/predictions_0001.csv", "not,read\n")
	var got []predictor.Prediction
	errorRows, err := e.b.ReadOutput(ctx, dir, func(p predictor.Prediction) error {
		got = append(got, p)
		return nil
	})
	if err != nil || errorRows != 0 {
		t.Fatalf("read: %d error rows, %v", errorRows, err)
	}
	if len(got) != 4 {
		t.Fatalf("read %d predictions, want 4", len(got))
	}
	for i, p := range got {
		w := preds[i]
		if p.RowKey != w.RowKey || p.Label != w.Label || p.Score != w.Score || p.Scores["false"] != w.Scores["false"] {
			t.Errorf("prediction %d: got %+v, want %+v", i, p, w)
		}
	}
	if err := e.b.WriteOutput(ctx, dir, 3, hdr, rows[:2], preds[:1]); err == nil {
		t.Error("rows and predictions of different lengths were written")
	}
}

func TestReadOutputParsesRegressionAndErrors(t *testing.T) {
	e := newEnv(t, vertexemu.Options{})
	e.put(t, "job/predictions_0001.csv", "_row,x,predicted_y\n2,a,\"{\"\"value\"\":1.5}\"\n3,b,2.25\n")
	e.put(t, "job/errors_0001.csv", "_row,x,error\n4,c,\"{\"\"code\"\":3,\"\"message\"\":\"\"bad\"\"}\"\n5,d,\"{\"\"code\"\":3}\"\n")
	var got []string
	n, err := e.b.ReadOutput(context.Background(), "gs://data/job/", func(p predictor.Prediction) error {
		got = append(got, p.RowKey+"="+p.Label)
		return nil
	})
	if err != nil || n != 2 || strings.Join(got, " ") != "2=1.5 3=2.25" {
		t.Fatalf("got %v, %d error rows, %v", got, n, err)
	}
}

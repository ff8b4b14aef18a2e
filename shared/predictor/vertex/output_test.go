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
	if err := e.b.WriteOutput(ctx, predictor.Output{Dir: dir, Input: hdr}, 2, rows[2:4], preds[2:4]); err != nil {
		t.Fatal(err)
	}
	if err := e.b.WriteOutput(ctx, predictor.Output{Dir: dir, Input: hdr}, 1, rows[:2], preds[:2]); err != nil {
		t.Fatal(err)
	}
	e.put(t, "online/run-7/nested/predictions_0001.csv", "not,read\n")
	var got []predictor.Prediction
	errorRows, err := predictor.ReadAll(ctx, e.b, predictor.Output{Dir: dir, Input: hdr}, func(p *predictor.Row) error {
		got = append(got, p.Prediction)
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
	if err := e.b.WriteOutput(ctx, predictor.Output{Dir: dir, Input: hdr}, 3, rows[:2], preds[:1]); err == nil {
		t.Error("rows and predictions of different lengths were written")
	}
}

package tabular

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/predictor"
)

func TestParseInfersTheTarget(t *testing.T) {
	for _, c := range []struct{ header, input, target, classes string }{
		{"a,credit_score,_row,returned_false_score,returned_true_score", "a,credit_score,_row", "", "false true"},
		{"a,_row,is_late_true_score,is_late_trust_score", "a,_row", "", "true trust"},
		{"a,_row,t_risk_low_score,t_risk_high_score", "a,_row", "t", "risk_low risk_high"},
		{"a,_row,predicted_price", "a,_row", "", ""},
	} {
		cols, err := Parse(strings.Split(c.header, ","), strings.Split(c.input, ","), "_row", c.target)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.header, err)
			continue
		}
		if got := strings.Join(cols.Classes(), " "); got != c.classes {
			t.Errorf("Parse(%s) classes %q, want %q", c.header, got, c.classes)
		}
	}
	for _, c := range []struct{ header, input string }{
		{"a,_row,x_yes_score", "a,_row"},                    // one score column: no telling target from class
		{"a,_row", "a,_row"},                                // no prediction column
		{"a,_row,returned_true_score,extra", "a,_row"},      // a column that is no prediction
		{"a,returned_true_score,returned_false_score", "a"}, // no row key
	} {
		if _, err := Parse(strings.Split(c.header, ","), strings.Split(c.input, ","), "_row", ""); err == nil {
			t.Errorf("Parse(%s) succeeded", c.header)
		}
	}
}

func TestListAndOpenReadEachRowsInputValuesInTheInputsOrder(t *testing.T) {
	ctx := context.Background()
	gcs := gcsemutest.Start(t, "b")
	put := func(name, data string) {
		w := gcs.Bucket("b").Object(name).NewWriter(ctx)
		w.Write([]byte(data))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("out/predictions_2.csv", "b,dropcast_row,a,t_x_score,t_y_score\nb3,3,a3,0.1,0.9\n")
	put("out/predictions_1.csv", "b,dropcast_row,a,t_x_score,t_y_score\n\"b,2\",2,a2,0.7,0.3\n")
	put("out/predictions_3.csv", "b,dropcast_row,a,t_x_score,t_y_score\nb4,4,a4,0.5,0.5\n")
	put("out/errors_1.csv", "b,dropcast_row,a,error\nb5,5,a5,x\nb6,6,a6,y\n")
	out := predictor.Output{Dir: "gs://b/out/", Input: []string{"a", "b", "dropcast_row"}}

	files, err := List(ctx, gcs, out, "predictions_")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gs://b/out/predictions_1.csv", "gs://b/out/predictions_2.csv", "gs://b/out/predictions_3.csv"}; !slices.Equal(files.Predictions, want) || len(files.Errors) != 1 {
		t.Fatalf("listed %+v", files)
	}
	r, err := Open(ctx, gcs, out, files.Predictions[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !slices.Equal(r.Classes(), []string{"x", "y"}) {
		t.Errorf("classes %v", r.Classes())
	}
	row, err := r.Next()
	if err != nil || !slices.Equal(row.Input, []string{"a2", "b,2", "2"}) || row.RowKey != "2" || row.Label != "x" || row.Score != 0.7 {
		t.Fatalf("row %+v, %v", row, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last row: %v", err)
	}
	if n, err := CountRows(ctx, gcs, files.Errors[0]); n != 2 || err != nil {
		t.Errorf("CountRows = %d, %v", n, err)
	}

	// With the online mode's count, only files 1..Files; a gap is an error.
	out.Files = 2
	if files, err := List(ctx, gcs, out, "predictions_"); err != nil || len(files.Predictions) != 2 {
		t.Errorf("Files 2: %+v, %v", files, err)
	}
	out.Files = 4
	if _, err := List(ctx, gcs, out, "predictions_"); err == nil {
		t.Error("Files 4 of 3 listed")
	}
	out.Files = 0
	out.Input = []string{"a", "c", "dropcast_row"}
	if _, err := Open(ctx, gcs, out, files.Predictions[0]); err == nil {
		t.Error("opened a file without the input column c")
	}
}

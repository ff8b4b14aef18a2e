package postprocess

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/spec"
)

// pipeline is the sample spec with results section replaced by section.
func pipeline(t *testing.T, section string) *spec.Pipeline {
	t.Helper()
	src := string(sample.Spec)
	i := strings.Index(src, "\nresults:\n")
	p, err := spec.Parse("p.yaml", []byte(src[:i+1]+section))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const transform = `results:
  table: sales.purchase_predictions
  columns:
    - name: note
    - name: store_id
      as: store
    - name: price
  round: 3
  scores: all
  neutralize_formulas: true
`

func TestLayoutHeaderAndSchemaAgree(t *testing.T) {
	l, err := NewLayout(pipeline(t, transform), []string{"false", "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"note", "store", "price", "prediction", "score", "score_false", "score_true", "run_id", "source_file", "model", "predicted_at", "source_line"}
	if !slices.Equal(l.Header(), want) {
		t.Fatalf("header %v, want %v", l.Header(), want)
	}
	sch := l.Schema()
	types := map[string]bigquery.FieldType{
		"note": bigquery.StringFieldType, "store": bigquery.IntegerFieldType, "price": bigquery.NumericFieldType,
		"score_true": bigquery.FloatFieldType, "predicted_at": bigquery.TimestampFieldType, "source_line": bigquery.IntegerFieldType,
	}
	for i, f := range sch {
		if f.Name != want[i] {
			t.Errorf("schema field %d is %s, header says %s", i, f.Name, want[i])
		}
		if ty, ok := types[f.Name]; ok && f.Type != ty {
			t.Errorf("%s: %s, want %s", f.Name, f.Type, ty)
		}
		if f.Required != slices.Contains([]string{"run_id", "source_file", "model", "predicted_at", "source_line"}, f.Name) {
			t.Errorf("%s: required %v", f.Name, f.Required)
		}
	}
}

func TestLayoutDefaultsToEverySpecColumnAndTopScore(t *testing.T) {
	l, err := NewLayout(pipeline(t, "results:\n  table: d.t\n"), []string{"false", "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note", "prediction", "score", "run_id", "source_file", "model", "predicted_at", "source_line"}
	if !slices.Equal(l.Header(), want) {
		t.Fatalf("header %v, want %v", l.Header(), want)
	}
}

func TestScoreColumnsOfCollidingClassesAreAPermanentError(t *testing.T) {
	if got := ScoreColumn("high-risk é"); got != "score_high_risk__" {
		t.Errorf("ScoreColumn = %q", got)
	}
	_, err := NewLayout(pipeline(t, transform), []string{"a-b", "a_b"})
	var je *joinError
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "score_a_b") {
		t.Fatalf("err = %v, want a joinError naming score_a_b", err)
	}
}

func TestRowsAreRoundedNeutralizedAndNullWhereAbsent(t *testing.T) {
	l, err := NewLayout(pipeline(t, transform), []string{"false", "true"})
	if err != nil {
		t.Fatal(err)
	}
	input := []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note", "dropcast_row"}
	b, err := l.builder(input, metadata{"run-1", "gs://in/=x.csv", "projects/p/locations/l/models/m", "2026-04-26 12:00:00.000000 UTC"})
	if err != nil {
		t.Fatal(err)
	}
	r7 := &predictor.Row{
		Input:      []string{"2026-04-26", "-3", "SKU-1", "home", "-1.50", "1", "true", "=HYPERLINK(\"x\")", "7"},
		Prediction: predictor.Prediction{RowKey: "7", Label: "true", Score: 0.87654, Scores: map[string]float64{"true": 0.87654, "false": 0.12346}},
	}
	got := slices.Clone(b.build(r7))
	want := []string{`'=HYPERLINK("x")`, "-3", "-1.50", "true", "0.877", "0.123", "0.877", "run-1", "gs://in/=x.csv", "projects/p/locations/l/models/m", "2026-04-26 12:00:00.000000 UTC", "7"}
	if !slices.Equal(got, want) {
		t.Errorf("row\n got %q\nwant %q", got, want)
	}
	r8 := &predictor.Row{ // regression: no scores
		Input:      []string{"2026-04-26", "1", "SKU-2", "home", "2", "1", "false", "@SUM(A1)", "8"},
		Prediction: predictor.Prediction{RowKey: "8", Label: "-0.5"},
	}
	got = b.build(r8)
	want = []string{"'@SUM(A1)", "1", "2", "-0.5", "", "", "", "run-1", "gs://in/=x.csv", "projects/p/locations/l/models/m", "2026-04-26 12:00:00.000000 UTC", "8"}
	if !slices.Equal(got, want) {
		t.Errorf("regression row\n got %q\nwant %q", got, want)
	}
	r9 := &predictor.Row{ // a class the file has no score for: NULL
		Input:      r7.Input,
		Prediction: predictor.Prediction{RowKey: "9", Label: "true", Score: 0.5, Scores: map[string]float64{"true": 0.5}},
	}
	if got := b.build(r9); got[5] != "" || got[6] != "0.500" {
		t.Errorf("row with one class's score: %q", got)
	}
}

func TestRowsKeepCellsWhenNotNeutralizing(t *testing.T) {
	l, err := NewLayout(pipeline(t, "results:\n  columns: [{name: note}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.builder([]string{"note", "dropcast_row"}, metadata{"r", "s", "m", "t"})
	if err != nil {
		t.Fatal(err)
	}
	got := b.build(&predictor.Row{Input: []string{"=1+2", "3"}, Prediction: predictor.Prediction{RowKey: "3", Label: "x", Score: 0.123456789, Scores: map[string]float64{"x": 0.123456789}}})
	if want := []string{"=1+2", "x", "0.123456789", "r", "s", "m", "t", "3"}; !slices.Equal(got, want) {
		t.Errorf("row %q, want %q", got, want)
	}
	if _, err := l.builder([]string{"dropcast_row"}, metadata{}); err == nil {
		t.Error("a builder for rows without the note column")
	}
}

func TestNeutralize(t *testing.T) {
	cases := map[string]string{
		"=1+2": "'=1+2", "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)",
		"\t=1": "'\t=1", "\r=1": "'\r=1",
		"-3": "-3", "+1.5": "+1.5", "-0.25e-3": "-0.25e-3", "-.5": "-.5",
		"-": "'-", "+": "'+", "-e5": "'-e5", "-1e": "'-1e", "-Inf": "'-Inf",
		"": "", "plain": "plain", "a=b": "a=b", "1-2": "1-2",
	}
	for in, want := range cases {
		if got := Neutralize(in); got != want {
			t.Errorf("Neutralize(%q) = %q, want %q", in, got, want)
		}
	}
}

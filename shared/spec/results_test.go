package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/sample"
)

// withResults is the sample spec with its results section replaced by section.
func withResults(t *testing.T, section string) []byte {
	t.Helper()
	i := strings.Index(string(sample.Spec), "\nresults:\n")
	if i < 0 {
		t.Fatal("the sample spec has no results section")
	}
	return []byte(string(sample.Spec)[:i+1] + section)
}

func TestResultsDefaults(t *testing.T) {
	p, err := Parse("p.yaml", sample.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range p.Results.Columns {
		if c.As != "" {
			t.Errorf("default column %s renamed to %s", c.Name, c.As)
		}
		names = append(names, c.Output())
	}
	want := []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note"}
	if !slices.Equal(names, want) {
		t.Errorf("default results columns %v, want every spec column %v", names, want)
	}
	if p.Results.Scores != ScoresTop || p.Results.Round != nil || p.Results.NeutralizeFormulas {
		t.Errorf("defaults: scores %q, round %v, neutralize %v", p.Results.Scores, p.Results.Round, p.Results.NeutralizeFormulas)
	}
}

func TestResultsTransformParses(t *testing.T) {
	p, err := Parse("p.yaml", withResults(t, `results:
  table: sales.purchase_predictions
  columns:
    - name: price
    - name: store_id
      as: store
  round: 4
  scores: all
  neutralize_formulas: true
`))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Results
	if !slices.Equal(r.Columns, []ResultColumn{{Name: "price"}, {Name: "store_id", As: "store"}}) {
		t.Errorf("columns %+v", r.Columns)
	}
	if r.Columns[1].Output() != "store" || r.Round == nil || *r.Round != 4 || r.Scores != ScoresAll || !r.NeutralizeFormulas {
		t.Errorf("parsed %+v", r)
	}
}

func TestResultsEmptyColumnListKeepsNone(t *testing.T) {
	p, err := Parse("p.yaml", withResults(t, "results:\n  columns: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Results.Columns == nil || len(p.Results.Columns) != 0 {
		t.Errorf("columns: [] became %+v, want an empty selection", p.Results.Columns)
	}
}

func TestResultsProblemsHavePathsAndLines(t *testing.T) {
	src := withResults(t, `results:
  columns:
    - name: price
    - name: nope
    - name: store_id
      as: 9lives
    - name: item_id
      as: price
    - name: category
      as: Model
    - name: quantity
      as: score_qty
  scores: some
  round: 16
`)
	_, err := Parse("bad.yaml", src)
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *Error", err)
	}
	base := strings.Count(string(src[:strings.Index(string(src), "\nresults:\n")+1]), "\n")
	want := map[string]int{
		"results.columns[1].name": base + 4,
		"results.columns[2].as":   base + 6,
		"results.columns[3].as":   base + 8,
		"results.columns[4].as":   base + 10,
		"results.scores":          base + 13,
		"results.round":           base + 14,
	}
	got := map[string]LocatedProblem{}
	for _, p := range se.Problems {
		got[p.Path] = p
	}
	for path, line := range want {
		if got[path].Line != line {
			t.Errorf("%s: line %d, want %d (all: %v)", path, got[path].Line, line, se.Problems)
		}
	}
	if len(se.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(se.Problems), len(want), se.Problems)
	}
	for path, part := range map[string]string{
		"results.columns[1].name": `"nope" is not a column`,
		"results.columns[2].as":   "not a BigQuery column name",
		"results.columns[3].as":   "the name of results.columns[0]",
		"results.columns[4].as":   "metadata column",
	} {
		if !strings.Contains(got[path].Message, part) {
			t.Errorf("%s: %q does not say %q", path, got[path].Message, part)
		}
	}
}

func TestResultsScoreColumnsAreReservedForScoresAll(t *testing.T) {
	section := "results:\n  columns:\n    - name: price\n      as: score_price\n"
	if _, err := Parse("top.yaml", withResults(t, section)); err != nil {
		t.Errorf("scores: top: %v", err)
	}
	_, err := Parse("all.yaml", withResults(t, section+"  scores: all\n"))
	if err == nil || !strings.Contains(err.Error(), "results.columns[0].as") {
		t.Errorf("scores: all with a score_ column: err = %v", err)
	}
}

func TestResultsDefaultColumnsClashingWithMetadataAreReported(t *testing.T) {
	src := strings.Replace(string(sample.Spec), "  - name: note\n", "  - name: model\n", 1)
	_, err := Parse("clash.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `results.columns[7].name: "model" is already a metadata column`) {
		t.Fatalf("err = %v", err)
	}
	fixed := src + "  columns:\n    - name: model\n      as: model_name\n"
	if _, err := Parse("fixed.yaml", []byte(fixed)); err != nil {
		t.Fatalf("renamed: %v", err)
	}
}

package spec

import (
	"errors"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/sample"
)

func TestSampleSpecParses(t *testing.T) {
	p, err := Parse("purchases.yaml", sample.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "purchases" || p.Destination.WriteMode != ReplacePartition || p.Predict.Backend != Vertex || p.Predict.Mode != Batch {
		t.Fatalf("parsed %+v", p)
	}
	if p.Results.Prefix != "results/purchases/" {
		t.Fatalf("default results prefix %q", p.Results.Prefix)
	}
}

func TestMatchObject(t *testing.T) {
	p, err := Parse("p.yaml", sample.Spec)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"incoming/20260426-120000.csv":    "20260426",
		"incoming/20260426-120000.csv.gz": "20260426",
		"incoming/20260230-120000.csv":    "", // no such day
		"incoming/report.csv":             "",
		"archive/20260426-120000.csv":     "",
		"incoming/../20260426-120000.csv": "",
	}
	for obj, want := range cases {
		date, ok := p.MatchObject(obj)
		if ok != (want != "") || date != want {
			t.Errorf("%s: got %q %v, want %q", obj, date, ok, want)
		}
	}
}

func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	src := `name: Bad_Name
match: '(unclosed'
columns:
  - name: a
    type: INT64
  - name: a
    type: TEXT
destination:
  table: onlyonepart
  write_mode: upsert
predict:
  backend: sagemaker
  model: m
`
	_, err := Parse("bad.yaml", []byte(src))
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]int{
		"name": 1, "match": 2, "columns[1].name": 6, "columns[1].type": 7,
		"destination.table": 9, "destination.write_mode": 10, "predict.backend": 12, "predict.model": 13,
	}
	got := map[string]int{}
	for _, p := range se.Problems {
		got[p.Path] = p.Line
	}
	for path, line := range want {
		if got[path] != line {
			t.Errorf("%s: line %d, want %d (all: %v)", path, got[path], line, se.Problems)
		}
	}
	if !strings.Contains(err.Error(), "bad.yaml:12: predict.backend:") {
		t.Errorf("message does not name file and line:\n%v", err)
	}
}

func TestUnknownFieldIsReportedWithLine(t *testing.T) {
	src := strings.Replace(string(sample.Spec), "predict:\n", "predict:\n  modle: typo\n", 1)
	_, err := Parse("typo.yaml", []byte(src))
	var se *Error
	if !errors.As(err, &se) || se.Problems[0].Line == 0 || !strings.Contains(se.Problems[0].Message, "modle") {
		t.Fatalf("err = %v", err)
	}
}

func TestSetRejectsDuplicateNames(t *testing.T) {
	_, err := ParseSet(map[string][]byte{"a.yaml": sample.Spec, "b.yaml": sample.Spec})
	if err == nil || !strings.Contains(err.Error(), `pipeline name "purchases" is also used`) {
		t.Fatalf("err = %v", err)
	}
}

func TestEmptySpec(t *testing.T) {
	if _, err := Parse("empty.yaml", nil); err == nil {
		t.Fatal("an empty spec parsed")
	}
}

func TestSetRejectsPipelinesWithTheSameMatch(t *testing.T) {
	other := strings.Replace(string(sample.Spec), "name: purchases", "name: orders", 1)
	_, err := ParseSet(map[string][]byte{"a.yaml": sample.Spec, "b.yaml": []byte(other)})
	if err == nil || !strings.Contains(err.Error(), "same match pattern") {
		t.Fatalf("err = %v", err)
	}
	other = strings.Replace(other, `match: '^incoming/`, `match: '^orders/`, 1)
	set, err := ParseSet(map[string][]byte{"a.yaml": sample.Spec, "b.yaml": []byte(other)})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Matching("orders/20260426-120000.csv"); len(got) != 1 || got[0] != "orders" {
		t.Fatalf("Matching = %v", got)
	}
}

package model

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/model/internal/sample"
)

// The training set's size and seed, as in internal/regen.
const (
	trainRows = 2000
	trainSeed = 20240101
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBundledDataIsRegenerable(t *testing.T) {
	var buf bytes.Buffer
	if err := sample.Generate(&buf, trainRows, trainSeed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), readFile(t, "data/train.csv")) {
		t.Fatal("data/train.csv differs from the generator's output; run go generate ./shared/model/")
	}
}

func TestRetrainEqualsCommittedModel(t *testing.T) {
	got, err := Train(bytes.NewReader(readFile(t, "data/train.csv")))
	if err != nil {
		t.Fatal(err)
	}
	want := Demo()
	if got.TargetColumn != want.TargetColumn || strings.Join(got.ClassNames, ",") != strings.Join(want.ClassNames, ",") {
		t.Fatalf("target/classes = %s %v, want %s %v", got.TargetColumn, got.ClassNames, want.TargetColumn, want.ClassNames)
	}
	if len(got.Features) != len(want.Features) {
		t.Fatalf("%d features, want %d", len(got.Features), len(want.Features))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }
	if !near(got.Bias, want.Bias) {
		t.Errorf("bias = %v, want %v", got.Bias, want.Bias)
	}
	for i, g := range got.Features {
		w := want.Features[i]
		if g.Column != w.Column || g.Transform != w.Transform || g.Value != w.Value ||
			!near(g.Mean, w.Mean) || !near(g.Scale, w.Scale) || !near(g.Weight, w.Weight) {
			t.Errorf("feature %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestConverged checks that more iterations would not move the model: the
// gradient of the regularised loss at the committed weights is ~0.
func TestConverged(t *testing.T) {
	m := Demo()
	rows, err := readTraining(bytes.NewReader(readFile(t, "data/train.csv")))
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, len(m.Features))
	var gb float64
	for _, row := range rows {
		x, err := m.vector(row.values)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := m.Predict(row.values)
		e := p.Scores["true"] - row.y
		for j, v := range x {
			grad[j] += e * v
		}
		gb += e
	}
	n := float64(len(rows))
	if math.Abs(gb/n) > 1e-6 {
		t.Errorf("bias gradient %g", gb/n)
	}
	for j, f := range m.Features {
		if g := grad[j]/n + l2*f.Weight; math.Abs(g) > 1e-6 {
			t.Errorf("feature %d (%s=%s) gradient %g", j, f.Column, f.Value, g)
		}
	}
}

// TestHeldOutAccuracy trains on the first 80% of the bundled data and scores
// the rest: the model must clearly beat always predicting the majority class.
func TestHeldOutAccuracy(t *testing.T) {
	recs, err := csv.NewReader(bytes.NewReader(readFile(t, "data/train.csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header, body := recs[0], recs[1:]
	cut := len(body) * 8 / 10
	var train bytes.Buffer
	w := csv.NewWriter(&train)
	w.Write(header)
	w.WriteAll(body[:cut])
	m, err := Train(&train)
	if err != nil {
		t.Fatal(err)
	}
	var correct, positives int
	test := body[cut:]
	for _, rec := range test {
		row := map[string]string{}
		for i, col := range header {
			row[col] = rec[i]
		}
		want := row["returned"]
		delete(row, "returned")
		p, err := m.Predict(row)
		if err != nil {
			t.Fatal(err)
		}
		if p.Label == want {
			correct++
		}
		if want == "true" {
			positives++
		}
	}
	n := float64(len(test))
	acc := float64(correct) / n
	baseline := math.Max(float64(positives), n-float64(positives)) / n
	t.Logf("held-out accuracy %.3f, majority baseline %.3f, n=%d", acc, baseline, len(test))
	if acc < baseline+0.04 {
		t.Fatalf("held-out accuracy %.3f does not clearly beat the majority baseline %.3f", acc, baseline)
	}
}

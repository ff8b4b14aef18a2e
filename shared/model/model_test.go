package model

import (
	"bytes"
	"maps"
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
	trained, err := Train(bytes.NewReader(readFile(t, "data/train.csv")), DemoTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, want := trained.Model, Demo()
	if got.TargetColumn != want.TargetColumn || strings.Join(got.ClassNames, ",") != strings.Join(want.ClassNames, ",") || got.Kind != want.Kind {
		t.Fatalf("task/target/classes = %s %s %v, want %s %s %v", got.Kind, got.TargetColumn, got.ClassNames, want.Kind, want.TargetColumn, want.ClassNames)
	}
	if len(got.Features) != len(want.Features) {
		t.Fatalf("%d features, want %d", len(got.Features), len(want.Features))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }
	if !near(got.Bias[0], want.Bias[0]) {
		t.Errorf("bias = %v, want %v", got.Bias, want.Bias)
	}
	for i, g := range got.Features {
		w := want.Features[i]
		if g.Column != w.Column || g.Transform != w.Transform || g.Value != w.Value ||
			!near(g.Mean, w.Mean) || !near(g.Scale, w.Scale) || !near(g.Weights[0], w.Weights[0]) {
			t.Errorf("feature %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestDemoContract pins what the sample pipeline and the e2e tests rely on:
// the demo's target, classes and input columns.
func TestDemoContract(t *testing.T) {
	m := Demo()
	if m.Task() != Classification || m.Target() != "returned" || strings.Join(m.Classes(), ",") != "false,true" {
		t.Fatalf("task %s target %q classes %v", m.Task(), m.Target(), m.Classes())
	}
	if got := strings.Join(m.Columns(), ","); got != "store_id,category,price,quantity,promo" {
		t.Fatalf("columns %s", got)
	}
	if got := strings.Join(m.NumericColumns(), ","); got != "price,quantity" {
		t.Fatalf("numeric columns %s", got)
	}
}

// demoTrainingRows are the rows the demo model was fitted on and those it
// was scored on, as Train splits them.
func demoTrainingRows(t *testing.T) (train, test []dataRow) {
	t.Helper()
	_, rows, err := readCSV(bytes.NewReader(readFile(t, "data/train.csv")), "data/train.csv")
	if err != nil {
		t.Fatal(err)
	}
	return split(rows, DefaultHoldOut, DefaultSeed)
}

// TestConverged checks that more Newton steps would not move the model: the
// gradient of the regularised loss at the committed weights, on the rows it
// was fitted on, is ~0.
func TestConverged(t *testing.T) {
	m := Demo()
	train, _ := demoTrainingRows(t)
	xs, ys, err := design(m, train, "data/train.csv")
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, len(m.Features))
	var gb float64
	for i, x := range xs {
		p := sigmoid(m.linear(x)[0])
		e := p - ys[i]
		for j, v := range x {
			grad[j] += e * v
		}
		gb += e
	}
	n := float64(len(xs))
	if math.Abs(gb/n) > 1e-9 {
		t.Errorf("bias gradient %g", gb/n)
	}
	for j, f := range m.Features {
		if g := grad[j]/n + DefaultL2*f.Weights[0]; math.Abs(g) > 1e-9 {
			t.Errorf("feature %d (%s=%s) gradient %g", j, f.Column, f.Value, g)
		}
	}
}

// TestHeldOutAccuracy scores the demo on the rows Train held out, counted
// here from the rows themselves: it must clearly beat always predicting the
// training rows' majority class, and match what training recorded.
func TestHeldOutAccuracy(t *testing.T) {
	m := Demo()
	train, test := demoTrainingRows(t)
	var trainPositives int
	for _, row := range train {
		if row.values["returned"] == "true" {
			trainPositives++
		}
	}
	majority := "false"
	if 2*trainPositives > len(train) {
		majority = "true"
	}
	var correct, baseline int
	for _, row := range test {
		want := row.values["returned"]
		values := maps.Clone(row.values)
		delete(values, "returned")
		p, err := m.Predict(values)
		if err != nil {
			t.Fatal(err)
		}
		if p.Label == want {
			correct++
		}
		if want == majority {
			baseline++
		}
	}
	n := float64(len(test))
	acc, base := float64(correct)/n, float64(baseline)/n
	t.Logf("held-out accuracy %.3f, majority baseline %.3f, n=%d", acc, base, len(test))
	if acc < base+0.04 {
		t.Fatalf("held-out accuracy %.3f does not clearly beat the majority baseline %.3f", acc, base)
	}
	if m.Training == nil || m.Training.Quality.Accuracy != acc || m.Training.Baseline.Accuracy != base {
		t.Fatalf("recorded training quality %+v, counted accuracy %v baseline %v", m.Training, acc, base)
	}
}

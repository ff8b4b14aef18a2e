package model

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/schema"
)

func train(t *testing.T, csv string, opts TrainOptions) *Trained {
	t.Helper()
	res, err := Train(strings.NewReader(csv), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// synthetic writes n rows of a header and the cells gen returns for row i.
func synthetic(header string, n int, gen func(i int, rng *rand.Rand) string) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := range n {
		b.WriteString(gen(i, rng) + "\n")
	}
	return b.String()
}

func TestTrainErrorsNameFileLineAndColumn(t *testing.T) {
	rows := synthetic("x,y", 20, func(i int, _ *rand.Rand) string { return fmt.Sprintf("%d,%d.5", i, i) })
	for name, c := range map[string]struct {
		csv  string
		opts TrainOptions
		want []string
	}{
		"ragged row":        {"x,y\n1,2\n3\n", TrainOptions{Target: "y"}, []string{"data.csv", "line 3", "wrong number of fields"}},
		"bare quote":        {"x,y\n1,2\n3,a\"b\n", TrainOptions{Target: "y"}, []string{"data.csv", "line 3", "column"}},
		"no target column":  {rows, TrainOptions{Target: "z"}, []string{"data.csv", `no column "z"`, "x, y"}},
		"unknown ignore":    {rows, TrainOptions{Target: "y", Ignore: []string{"nope"}}, []string{`no column "nope"`}},
		"regression target": {strings.Replace(rows, "4,4.5", "4,many", 1), TrainOptions{Target: "y", Task: Regression}, []string{"data.csv: line 6", `column "y"`, `not a number: "many"`}},
		"unknown task":      {rows, TrainOptions{Target: "y", Task: "ranking"}, []string{`task "ranking"`}},
		"too few rows":      {"x,y\n1,2\n", TrainOptions{Target: "y"}, []string{"1 rows", "at least 10"}},
		"empty file":        {"", TrainOptions{Target: "y"}, []string{"empty file"}},
		"duplicate header":  {"x,x,y\n", TrainOptions{Target: "y"}, []string{"line 1, column 2", `"x" appears twice`}},
		"one class":         {synthetic("x,y", 20, func(i int, _ *rand.Rand) string { return fmt.Sprintf("%d,a", i) }), TrainOptions{Target: "y"}, []string{"only one value"}},
		"only the target":   {synthetic("y", 20, func(i int, _ *rand.Rand) string { return fmt.Sprint(i % 2) }), TrainOptions{Target: "y"}, []string{"no column to learn from"}},
	} {
		c.opts.Source = "data.csv"
		_, err := Train(strings.NewReader(c.csv), c.opts)
		if err == nil {
			t.Errorf("%s: trained", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
}

func TestTrainInfersTheTask(t *testing.T) {
	for _, c := range []struct {
		name  string
		label func(i int) string
		want  Task
	}{
		{"strings", func(i int) string { return []string{"cat", "dog"}[i%2] }, Classification},
		{"booleans", func(i int) string { return []string{"true", "false"}[i%2] }, Classification},
		{"few integers", func(i int) string { return fmt.Sprint(i % 4) }, Classification},
		{"many integers", func(i int) string { return fmt.Sprint(i) }, Regression},
		{"fractions", func(i int) string { return fmt.Sprintf("%d.25", i%3) }, Regression},
	} {
		res := train(t, synthetic("x,y", 40, func(i int, _ *rand.Rand) string { return fmt.Sprintf("%d,%s", i, c.label(i)) }), TrainOptions{Target: "y"})
		if res.Model.Task() != c.want {
			t.Errorf("%s: task %s, want %s", c.name, res.Model.Task(), c.want)
		}
	}
	// An integer class label sorts as a number: 2 before 10.
	res := train(t, synthetic("x,y", 40, func(i int, _ *rand.Rand) string { return fmt.Sprintf("%d,%d", i, []int{10, 2, 1}[i%3]) }), TrainOptions{Target: "y"})
	if got := strings.Join(res.Model.Classes(), ","); got != "1,2,10" {
		t.Errorf("classes %s, want 1,2,10", got)
	}
}

// TestTrainIsDeterministic: the same data and options give the same model
// file byte for byte; another seed holds out other rows.
func TestTrainIsDeterministic(t *testing.T) {
	data := synthetic("a,b,y", 200, func(i int, rng *rand.Rand) string {
		a := rng.NormFloat64()
		return fmt.Sprintf("%.3f,%s,%v", a, []string{"p", "q", "r"}[rng.IntN(3)], a+rng.NormFloat64() > 0)
	})
	encode := func(opts TrainOptions) []byte {
		var buf bytes.Buffer
		if err := train(t, data, opts).Model.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first, again := encode(TrainOptions{Target: "y"}), encode(TrainOptions{Target: "y"})
	if !bytes.Equal(first, again) {
		t.Fatal("two trainings on the same data differ")
	}
	if bytes.Equal(first, encode(TrainOptions{Target: "y", Seed: 7})) {
		t.Fatal("another seed gave the same model")
	}
}

// TestTrainHandlesMissingRareAndUnseenValues: a number column with gaps
// gains a missing indicator and its gaps take the mean; a category's rare
// values share an "other" indicator, and a value never seen in training
// predicts as other; the row key is never read; an empty value at
// prediction time is not an error.
func TestTrainHandlesMissingRareAndUnseenValues(t *testing.T) {
	data := synthetic("dropcast_row,x,colour,y", 300, func(i int, rng *rand.Rand) string {
		x := rng.NormFloat64()
		cell := fmt.Sprintf("%.4f", x)
		if i%10 == 0 {
			cell = ""
		}
		colour := []string{"red", "green", "blue"}[rng.IntN(3)]
		if i%50 == 0 {
			colour = fmt.Sprintf("rare%d", i)
		}
		return fmt.Sprintf("%d,%s,%s,%.4f", i, cell, colour, 2*x+rng.NormFloat64()*0.1)
	})
	m := train(t, data, TrainOptions{Target: "y", Task: Regression}).Model
	var got []string
	for _, f := range m.Features {
		got = append(got, f.Column+":"+f.Transform+":"+f.Value)
	}
	want := []string{"x:number:", "x:missing:", "colour:onehot:blue", "colour:onehot:green", "colour:onehot:red", "colour:other:", "colour:missing:"}
	if !slices.Equal(got, want[:6]) && !slices.Equal(got, want) {
		t.Fatalf("features %v, want %v (colour:missing only if the training rows lack a colour)", got, want)
	}
	if slices.Contains(m.Columns(), schema.RowKeyColumn) || !slices.Contains(DefaultIgnore(), schema.RowKeyColumn) {
		t.Fatalf("columns %v read the row key %s", m.Columns(), schema.RowKeyColumn)
	}
	predict := func(x, colour string) float64 {
		p, err := m.Predict(map[string]string{"x": x, "colour": colour})
		if err != nil {
			t.Fatalf("x=%q colour=%q: %v", x, colour, err)
		}
		return p.Value
	}
	if a, b := predict("1", "never-seen"), predict("1", "rare0"); a != b {
		t.Errorf("an unseen value predicts %v, a rare one %v: both are other", a, b)
	}
	if math.Abs(predict("1", "red")-2) > 0.2 {
		t.Errorf("x=1 predicts %v, want about 2", predict("1", "red"))
	}
	missing := predict("", "red")
	var xf, missingF Feature
	for _, f := range m.Features {
		if f.Column == "x" && f.Transform == TransformNumber {
			xf = f
		}
		if f.Column == "x" && f.Transform == TransformMissing {
			missingF = f
		}
	}
	atMean := predict(fmt.Sprint(xf.Mean), "red")
	if want := atMean + missingF.Weights[0]/missingF.Scale*(1-missingF.Mean); math.Abs(missing-want) > 1e-9 {
		t.Errorf("missing x predicts %v, want the mean's %v plus the missing indicator's weight = %v", missing, atMean, want)
	}
}

// TestTrainRecoversALinearFunction: on noiseless data the ridge regression
// with a tiny penalty predicts the generating function.
func TestTrainRecoversALinearFunction(t *testing.T) {
	data := synthetic("a,b,y", 200, func(i int, rng *rand.Rand) string {
		a, b := rng.Float64()*10, rng.Float64()*4-2
		return fmt.Sprintf("%v,%v,%v", a, b, 3*a-2*b+5)
	})
	res := train(t, data, TrainOptions{Target: "y", L2: 1e-9})
	if res.Quality.R2 < 0.999999 || res.Quality.RMSE > 1e-3 {
		t.Fatalf("held-out quality %+v", res.Quality)
	}
	p, err := res.Model.Predict(map[string]string{"a": "1", "b": "1"})
	if err != nil || math.Abs(p.Value-6) > 1e-4 {
		t.Fatalf("predict(1, 1) = %v %v, want 6", p.Value, err)
	}
}

// TestTrainConvergesOnEveryTask: the gradient of the regularised loss at the
// trained parameters is ~0 for the public multi-class, regression and
// binary data sets.
func TestTrainConvergesOnEveryTask(t *testing.T) {
	for _, ds := range publicDatasets() {
		b := readFile(t, "testdata/public/"+ds.file)
		res, err := Train(bytes.NewReader(b), TrainOptions{Target: ds.target})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Model
		_, rows, err := readCSV(bytes.NewReader(b), ds.file)
		if err != nil {
			t.Fatal(err)
		}
		var labelled []dataRow
		for _, row := range rows {
			if strings.TrimSpace(row.values[ds.target]) != "" {
				labelled = append(labelled, row)
			}
		}
		trainRows, _ := split(labelled, DefaultHoldOut, DefaultSeed)
		xs, ys, err := design(m, trainRows, ds.file)
		if err != nil {
			t.Fatal(err)
		}
		k := m.outputs()
		d := len(m.Features)
		theta := make([]float64, k*(d+1))
		for j := range k {
			for i, f := range m.Features {
				theta[j*(d+1)+i] = f.Weights[j]
			}
			theta[j*(d+1)+d] = m.Bias[j]
		}
		_, grad, _ := lossGradHess(xs, ys, objectiveOf(m), k, DefaultL2, theta)
		scale := 1.0
		if m.Task() == Regression {
			scale = math.Max(1, math.Abs(m.Bias[0]))
		}
		for i, g := range grad {
			if math.Abs(g) > 1e-8*scale {
				t.Errorf("%s: gradient[%d] = %g", ds.file, i, g)
			}
		}
	}
}

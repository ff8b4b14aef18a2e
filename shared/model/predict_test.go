package model

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
)

func sampleRow() map[string]string {
	return map[string]string{
		"date": "2024-05-01", "store_id": "2", "item_id": "SKU-1", "category": "apparel",
		"price": "120.00", "quantity": "1", "promo": "true", "note": "x", "_row": "7",
	}
}

func TestPredictScoresAndOrdering(t *testing.T) {
	m := Demo()
	if m.Target() != "returned" || strings.Join(m.Classes(), ",") != "false,true" {
		t.Fatalf("target %q classes %v", m.Target(), m.Classes())
	}
	risky, err := m.Predict(sampleRow())
	if err != nil {
		t.Fatal(err)
	}
	safeRow := sampleRow()
	safeRow["category"], safeRow["price"], safeRow["promo"], safeRow["quantity"] = "grocery", "3.50", "false", "4"
	safe, err := m.Predict(safeRow)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Prediction{risky, safe} {
		if s := p.Scores["false"] + p.Scores["true"]; math.Abs(s-1) > 1e-12 {
			t.Errorf("scores %v sum to %v", p.Scores, s)
		}
	}
	if risky.Label != "true" || risky.Scores["true"] <= 0.5 {
		t.Errorf("dear apparel on promo: %+v, want label true", risky)
	}
	if safe.Label != "false" || safe.Scores["true"] >= 0.1 {
		t.Errorf("cheap groceries: %+v, want label false with low risk", safe)
	}
}

func TestPredictIgnoresUnknownColumnsAndRejectsBadFeatures(t *testing.T) {
	m := Demo()
	row := sampleRow()
	base, err := m.Predict(row)
	if err != nil {
		t.Fatal(err)
	}
	row["unrelated"] = "zzz"
	again, err := m.Predict(row)
	if err != nil || again.Scores["true"] != base.Scores["true"] {
		t.Fatalf("extra column changed the result: %v %v", again, err)
	}
	cases := map[string]func(map[string]string){
		"price":    func(r map[string]string) { delete(r, "price") },
		"category": func(r map[string]string) { delete(r, "category") },
		"quantity": func(r map[string]string) { r["quantity"] = "many" },
		"promo":    func(r map[string]string) { r["promo"] = "perhaps" },
	}
	for col, mutate := range cases {
		r := sampleRow()
		mutate(r)
		if _, err := m.Predict(r); err == nil || !strings.Contains(err.Error(), `"`+col+`"`) {
			t.Errorf("bad %s: err = %v, want one naming the column", col, err)
		}
	}
}

func TestLoadRoundTripAndValidation(t *testing.T) {
	var buf bytes.Buffer
	if err := Demo().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	m, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Predict(sampleRow())
	b, _ := Demo().Predict(sampleRow())
	if a.Scores["true"] != b.Scores["true"] {
		t.Fatalf("round trip changed scores: %v vs %v", a, b)
	}
	head := `"format":"dropcast-model","version":2,`
	for bad, want := range map[string]string{
		`{`: "decode",
		`{"format":"other","version":2,"task":"regression","target":"t","bias":[0]}`:                                                                                                                                 "format",
		`{"format":"dropcast-model","version":1,"task":"regression","target":"t","bias":[0]}`:                                                                                                                        "version 1",
		`{` + head + `"task":"classification","target":"","classes":["a","b"],"bias":[0]}`:                                                                                                                           "target",
		`{` + head + `"task":"classification","target":"t","classes":["a"],"bias":[0]}`:                                                                                                                              "two classes",
		`{` + head + `"task":"classification","target":"t","classes":["a","a"],"bias":[0]}`:                                                                                                                          "twice",
		`{` + head + `"task":"ranking","target":"t","bias":[0]}`:                                                                                                                                                     "ranking",
		`{` + head + `"task":"regression","target":"t","classes":["a","b"],"bias":[0]}`:                                                                                                                              "no classes",
		`{` + head + `"task":"classification","target":"t","classes":["a","b","c"],"bias":[0]}`:                                                                                                                      "3 finite",
		`{` + head + `"task":"regression","target":"t","bias":[0],"features":[{"column":"x","transform":"cube","scale":1,"weights":[1]}]}`:                                                                           "cube",
		`{` + head + `"task":"regression","target":"t","bias":[0],"features":[{"column":"x","transform":"number","scale":0,"weights":[1]}]}`:                                                                         "scale",
		`{` + head + `"task":"regression","target":"t","bias":[0],"features":[{"column":"x","transform":"number","scale":1,"weights":[]}]}`:                                                                          "weights",
		`{` + head + `"task":"regression","target":"t","bias":[0],"features":[{"column":"t","transform":"number","scale":1,"weights":[1]}]}`:                                                                         "target column",
		`{` + head + `"task":"regression","target":"t","bias":[0],"features":[{"column":"x","transform":"number","scale":1,"weights":[1]},{"column":"x","transform":"onehot","value":"a","scale":1,"weights":[1]}]}`: "both",
	} {
		_, err := Load(strings.NewReader(bad))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) = %v, want an error about %q", bad, err, want)
		}
	}
}

func TestDemoReturnsIndependentCopies(t *testing.T) {
	a := Demo()
	a.Features[0].Weights[0] = 1e6
	a.ClassNames[0] = "changed"
	b := Demo()
	if b.Features[0].Weights[0] == 1e6 || b.ClassNames[0] != "false" {
		t.Fatal("changing one Demo() result changed another")
	}
}

// TestPredictMissingValues: an empty value is a missing value, never an
// error: a number takes the training mean (so the prediction equals the
// one for the mean itself), a category none of its indicators.
func TestPredictMissingValues(t *testing.T) {
	m := Demo()
	var price Feature
	for _, f := range m.Features {
		if f.Column == "price" {
			price = f
		}
	}
	row := sampleRow()
	row["price"] = ""
	missing, err := m.Predict(row)
	if err != nil {
		t.Fatalf("missing price: %v", err)
	}
	row["price"] = strconv.FormatFloat(price.Mean, 'g', -1, 64)
	atMean, err := m.Predict(row)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(missing.Scores["true"]-atMean.Scores["true"]) > 1e-12 {
		t.Errorf("missing price scores %v, price at the training mean %v", missing.Scores, atMean.Scores)
	}
	row = sampleRow()
	row["category"], row["promo"], row["store_id"] = " ", "", ""
	if p, err := m.Predict(row); err != nil || math.Abs(p.Scores["true"]+p.Scores["false"]-1) > 1e-12 {
		t.Errorf("missing category, promo and store: %+v %v", p, err)
	}
}

// TestPredictMultiClassAndRegression checks hand-made models of the other
// tasks against the formulas: softmax over per-class outputs, and a linear
// value; an unseen category counts as "other", a missing one as "missing".
func TestPredictMultiClassAndRegression(t *testing.T) {
	multi := &Model{Format: FormatName, Version: FormatVersion, Kind: Classification, TargetColumn: "y",
		ClassNames: []string{"a", "b", "c"}, Bias: []float64{0.1, 0.2, -0.3},
		Features: []Feature{
			{Column: "x", Transform: TransformNumber, Mean: 2, Scale: 4, Weights: []float64{1, -1, 0.5}},
			{Column: "s", Transform: TransformOneHot, Value: "u", Scale: 1, Weights: []float64{0, 2, 0}},
			{Column: "s", Transform: TransformOther, Scale: 1, Weights: []float64{0, 0, 3}},
			{Column: "s", Transform: TransformMissing, Scale: 1, Weights: []float64{4, 0, 0}},
		}}
	if err := multi.validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x, s string
		z    []float64
	}{
		{"6", "u", []float64{0.1 + 1, 0.2 - 1 + 2, -0.3 + 0.5}},
		{"-2", "v", []float64{0.1 - 1, 0.2 + 1, -0.3 - 0.5 + 3}},
		{"", "", []float64{0.1 + 4, 0.2, -0.3}},
	} {
		p, err := multi.Predict(map[string]string{"x": c.x, "s": c.s})
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, z := range c.z {
			sum += math.Exp(z)
		}
		best := 0
		for k, class := range []string{"a", "b", "c"} {
			if want := math.Exp(c.z[k]) / sum; math.Abs(p.Scores[class]-want) > 1e-12 {
				t.Errorf("x=%q s=%q: score %s = %v, want %v", c.x, c.s, class, p.Scores[class], want)
			}
			if c.z[k] > c.z[best] {
				best = k
			}
		}
		if p.Label != multi.ClassNames[best] {
			t.Errorf("x=%q s=%q: label %s, want %s", c.x, c.s, p.Label, multi.ClassNames[best])
		}
	}
	reg := &Model{Format: FormatName, Version: FormatVersion, Kind: Regression, TargetColumn: "y", Bias: []float64{10},
		Features: []Feature{{Column: "x", Transform: TransformNumber, Mean: 1, Scale: 2, Weights: []float64{3}},
			{Column: "b", Transform: TransformBool, Mean: 0.5, Scale: 0.5, Weights: []float64{-1}}}}
	if err := reg.validate(); err != nil {
		t.Fatal(err)
	}
	p, err := reg.Predict(map[string]string{"x": "5", "b": "TRUE"})
	if err != nil || p.Value != 10+3*2-1 || p.Label != "" || p.Scores != nil {
		t.Errorf("regression = %+v %v, want value 15", p, err)
	}
	if reg.Task() != Regression || reg.Classes() != nil || strings.Join(reg.NumericColumns(), ",") != "x" {
		t.Errorf("task %s classes %v numeric %v", reg.Task(), reg.Classes(), reg.NumericColumns())
	}
}

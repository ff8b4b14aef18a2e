package model

import (
	"bytes"
	"math"
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
		"quantity": func(r map[string]string) { r["quantity"] = "many" },
		"promo":    func(r map[string]string) { r["promo"] = "perhaps" },
		"category": func(r map[string]string) { r["category"] = " " },
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
	for _, bad := range []string{
		`{`,
		`{"target":"","classes":["a","b"]}`,
		`{"target":"t","classes":["a"]}`,
		`{"target":"t","classes":["a","b"],"features":[{"column":"x","transform":"cube","scale":1}]}`,
		`{"target":"t","classes":["a","b"],"features":[{"column":"x","transform":"number","scale":0}]}`,
	} {
		if _, err := Load(strings.NewReader(bad)); err == nil {
			t.Errorf("Load(%s) succeeded", bad)
		}
	}
}

func TestDemoReturnsIndependentCopies(t *testing.T) {
	a := Demo()
	a.Features[0].Weight = 1e6
	a.ClassNames[0] = "changed"
	b := Demo()
	if b.Features[0].Weight == 1e6 || b.ClassNames[0] != "false" {
		t.Fatal("changing one Demo() result changed another")
	}
}

package model

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// expected reads NAME.expected.csv: input columns, then score_CLASS columns
// (a binary file gives the positive class only) or value.
func expected(t *testing.T, name string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[0], recs[1:]
}

// checkAgainstLibrary asserts that the model file at path predicts what its
// library predicted for the rows of its expected file, to 1e-6 (relative
// for values beyond 1).
func checkAgainstLibrary(t *testing.T, path, expectedFile string, wantTask Task, wantClasses []string) {
	t.Helper()
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Task() != wantTask || strings.Join(p.Classes(), ",") != strings.Join(wantClasses, ",") {
		t.Fatalf("%s: task %s classes %v, want %s %v", path, p.Task(), p.Classes(), wantTask, wantClasses)
	}
	header, rows := expected(t, expectedFile)
	cols := p.Columns()
	if strings.Join(cols, ",") != strings.Join(header[:len(cols)], ",") {
		t.Fatalf("%s: columns %v, want %v", path, cols, header[:len(cols)])
	}
	if len(rows) < 5 {
		t.Fatalf("%s: %d expected rows", expectedFile, len(rows))
	}
	for i, rec := range rows {
		row := map[string]string{}
		for j, col := range cols {
			row[col] = rec[j]
		}
		got, err := p.Predict(row)
		if err != nil {
			t.Fatalf("%s row %d: %v", path, i, err)
		}
		for j := len(cols); j < len(header); j++ {
			want, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				t.Fatal(err)
			}
			var have float64
			switch name := header[j]; {
			case name == "value":
				have = got.Value
			default:
				have = got.Scores[strings.TrimPrefix(name, "score_")]
			}
			if math.Abs(have-want) > 1e-6*math.Max(1, math.Abs(want)) {
				t.Errorf("%s row %d %s: %.9g, library %.9g", path, i, header[j], have, want)
			}
		}
		if wantTask == Classification {
			best := wantClasses[0]
			for _, c := range wantClasses {
				if got.Scores[c] > got.Scores[best] {
					best = c
				}
			}
			if got.Label != best {
				t.Errorf("%s row %d: label %s, top score %s", path, i, got.Label, best)
			}
			var sum float64
			for _, s := range got.Scores {
				sum += s
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("%s row %d: scores sum to %v", path, i, sum)
			}
		}
	}
}

// TestXGBoostModelsPredictAsXGBoost: the models made by
// testdata/xgboost/make_xgboost.py with XGBoost 1.7.4, in its JSON and binary
// formats, predict what XGBoost's Booster.predict gave (probabilities after
// the objective's transform, or the value), including rows with missing
// values and a value exactly on a split.
func TestXGBoostModelsPredictAsXGBoost(t *testing.T) {
	for _, c := range []struct {
		name    string
		task    Task
		classes []string
	}{
		{"binary", Classification, []string{"no", "yes"}},
		{"multiclass", Classification, []string{"low", "mid", "high"}},
		{"regression", Regression, nil},
	} {
		for _, ext := range []string{"json", "bin"} {
			t.Run(c.name+"."+ext, func(t *testing.T) {
				dir := filepath.Join("testdata", "xgboost")
				checkAgainstLibrary(t, filepath.Join(dir, c.name+"."+ext), filepath.Join(dir, c.name+".expected.csv"), c.task, c.classes)
			})
		}
	}
}

// TestLightGBMModelsPredictAsHandEvaluated: the LightGBM text models written
// by testdata/lightgbm/make_lightgbm.py predict what that script's own
// evaluator of LightGBM's decision rule computed (thresholds hit exactly,
// NaN and zero missing types, both default directions).
func TestLightGBMModelsPredictAsHandEvaluated(t *testing.T) {
	for _, c := range []struct {
		name    string
		task    Task
		classes []string
	}{
		{"binary", Classification, []string{"no", "yes"}},
		{"multiclass", Classification, []string{"low", "mid", "high"}},
		{"regression", Regression, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "lightgbm")
			checkAgainstLibrary(t, filepath.Join(dir, c.name+".txt"), filepath.Join(dir, c.name+".expected.csv"), c.task, c.classes)
		})
	}
}

// copyModel copies a test model file (and, when sidecar is not "", writes
// that sidecar) into a temporary directory and returns its path there.
func copyModel(t *testing.T, src, sidecar string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if sidecar != "" {
		if err := os.WriteFile(SidecarPath(dst), []byte(sidecar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestOpenWithoutSidecarSaysWhatToWrite: a model file of another library
// without its sidecar fails with the sidecar's path and a sidecar to fill
// in, naming what the file itself says (its task, classes count, features).
func TestOpenWithoutSidecarSaysWhatToWrite(t *testing.T) {
	for _, c := range []struct {
		src  string
		want []string
	}{
		{"testdata/xgboost/multiclass.json", []string{"XGBoost JSON", "task: classification", "classes: [CLASS1, CLASS2, CLASS3]", "the file names them (length, width, weight, ratio)"}},
		{"testdata/xgboost/binary.bin", []string{"XGBoost binary", "classes: [CLASS1, CLASS2]", "features: [COLUMN1, COLUMN2, COLUMN3, COLUMN4]"}},
		{"testdata/lightgbm/regression.txt", []string{"LightGBM text", "task: regression", "age, income, score"}},
	} {
		path := copyModel(t, c.src, "")
		_, err := Open(path)
		if err == nil {
			t.Fatalf("%s opened without a sidecar", c.src)
		}
		for _, w := range append(c.want, "write "+path+".dropcast.yaml", "target: COLUMN") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.src, err, w)
			}
		}
	}
}

func TestOpenRefusesBadSidecars(t *testing.T) {
	for sidecar, want := range map[string]string{
		"task: classification\nclasses: [a, b, c]\n":                                 "no target",
		"target: y\ntask: regression\n":                                              "objective is a classification",
		"target: y\nclasses: [a, b]\n":                                               "3 outputs",
		"target: y\n":                                                                "classes: [CLASS1, CLASS2, CLASS3]",
		"target: y\nclasses: [a, b, c]\nfeatures: [p, q]\n":                          "2 features, but the model reads 4",
		"target: length\nclasses: [a, b, c]\n":                                       "also a feature",
		"target: y\nclasses: [a, b, c]\nfeatrues: [p, q, r, s]\n":                    "field featrues not found",
		"target: y\nclasses: [a, a, c]\n":                                            `class "a" is listed twice`,
		"target: y\nclasses: [a, b, c]\ncategories:\n  colour: [red, blue]\n":        `"colour", which is not a feature`,
		"target: y\ntask: ranking\nclasses: [a, b, c]\n":                             `task "ranking"`,
		"target: y\nclasses: [a, b, c]\nfeatures: [length, length, weight, ratio]\n": `feature "length" is listed twice`,
	} {
		path := copyModel(t, "testdata/xgboost/multiclass.json", sidecar)
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sidecar %q: err %v, want %q", sidecar, err, want)
		}
	}
}

// TestOpenSidecarFeaturesAndCategories: a sidecar's features rename the
// file's features in order, and a categories column is given to the model
// as the value's index (an unlisted value as missing).
func TestOpenSidecarFeaturesAndCategories(t *testing.T) {
	plain, err := Open("testdata/xgboost/regression.json")
	if err != nil {
		t.Fatal(err)
	}
	path := copyModel(t, "testdata/xgboost/regression.json", "target: y\nfeatures: [a, b, c, d]\ncategories:\n  b: [zero, one, two, three, four, five, six, seven]\n")
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Columns(), ",") != "a,b,c,d" || strings.Join(p.NumericColumns(), ",") != "a,c,d" || p.Task() != Regression {
		t.Fatalf("columns %v numeric %v task %s", p.Columns(), p.NumericColumns(), p.Task())
	}
	for code, name := range []string{"zero", "one", "two", "three", "four", "five", "six", "seven"} {
		want, err := plain.Predict(map[string]string{"length": "9.5", "width": fmt.Sprint(code), "weight": "48", "ratio": "0.1"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Predict(map[string]string{"a": "9.5", "b": name, "c": "48", "d": "0.1"})
		if err != nil || got.Value != want.Value {
			t.Errorf("b=%s: %v %v, want the value for width=%d, %v", name, got.Value, err, code, want.Value)
		}
	}
	unlisted, _ := p.Predict(map[string]string{"a": "9.5", "b": "eight", "c": "48", "d": "0.1"})
	missing, _ := plain.Predict(map[string]string{"length": "9.5", "width": "", "weight": "48", "ratio": "0.1"})
	if unlisted.Value != missing.Value {
		t.Errorf("an unlisted category predicts %v, a missing value %v", unlisted.Value, missing.Value)
	}
}

// TestTreeModelRowErrors: a feature column the row lacks, or a number column
// holding text, is an error naming the column; an empty value is missing,
// not an error.
func TestTreeModelRowErrors(t *testing.T) {
	p, err := Open("testdata/lightgbm/binary.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Predict(map[string]string{"age": "1", "income": "2"}); err == nil || !strings.Contains(err.Error(), `"score"`) {
		t.Errorf("row without score: %v", err)
	}
	if _, err := p.Predict(map[string]string{"age": "1", "income": "lots", "score": "1"}); err == nil || !strings.Contains(err.Error(), `"income"`) {
		t.Errorf("income of text: %v", err)
	}
	if _, err := p.Predict(map[string]string{"age": "", "income": " ", "score": "1", "other": "x"}); err != nil {
		t.Errorf("empty values: %v", err)
	}
}

func TestOpenDetectsFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var demo bytes.Buffer
	if err := Demo().WriteJSON(&demo); err != nil {
		t.Fatal(err)
	}
	if p, err := Open(write("demo.json", demo.String())); err != nil || p.Target() != "returned" {
		t.Fatalf("dropcast model: %v %v", p, err)
	}
	for body, want := range map[string]string{
		"":                                   "is empty",
		`{"a": 1}`:                           "neither dropcast's model",
		`{"tree_info": [], "version": "v3"}`: "LightGBM JSON dump",
		"{U\x04name":                         "not valid JSON",
		"hello, world, this is a csv\n1,2,3": "not a model format dropcast reads",
		`{"format":"dropcast-model","version":3}`: "version 3 is not supported",
	} {
		if _, err := Open(write("m", body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want %q", body, err, want)
		}
	}
	if _, err := Open(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("opened a file that does not exist")
	}
}

// TestOpenRefusesUnsupportedLibraryModels: objectives and boosters dropcast
// does not serve are refused at load, naming what it does serve.
func TestOpenRefusesUnsupportedLibraryModels(t *testing.T) {
	lgb, err := os.ReadFile("testdata/lightgbm/binary.txt")
	if err != nil {
		t.Fatal(err)
	}
	xgb, err := os.ReadFile("testdata/xgboost/binary.json")
	if err != nil {
		t.Fatal(err)
	}
	sidecar := "target: y\ntask: classification\nclasses: [a, b]\n"
	for name, c := range map[string]struct {
		body []byte
		want string
	}{
		"lambdarank":     {bytes.Replace(lgb, []byte("objective=binary sigmoid:1"), []byte("objective=lambdarank"), 1), `objective "lambdarank" is not supported`},
		"random forest":  {bytes.Replace(lgb, []byte("objective=binary sigmoid:1\n"), []byte("objective=binary sigmoid:1\naverage_output\n"), 1), "random forest"},
		"rank:pairwise":  {bytes.Replace(xgb, []byte(`"name":"binary:logistic"`), []byte(`"name":"rank:pairwise"`), 1), `objective "rank:pairwise" is not supported`},
		"gblinear":       {bytes.Replace(xgb, []byte(`"name":"gbtree"`), []byte(`"name":"gblinear"`), 1), `booster "gblinear" is not supported`},
		"category split": {bytes.Replace(xgb, []byte(`"split_type":[0,`), []byte(`"split_type":[1,`), 1), "categorical splits"},
	} {
		if bytes.Equal(c.body, lgb) || bytes.Equal(c.body, xgb) {
			t.Fatalf("%s: the test's replacement did not apply", name)
		}
		path := filepath.Join(t.TempDir(), "m")
		if err := os.WriteFile(path, c.body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(SidecarPath(path), []byte(sidecar), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/sample"
)

// irisSpec is a pipeline predicting with local model iris.
const irisSpec = `name: iris
match: '^incoming/iris-(?P<date>\d{8})\.csv$'
columns:
  - name: sepal_length
    type: FLOAT64
  - name: species
    type: STRING
destination:
  table: flowers.iris
predict:
  model: projects/dropcast-local/locations/us-central1/models/iris
`

// writeModelTestFiles writes name → content into a new directory and returns it.
func writeModelTestFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// demoModelFile writes the demo model as a model file.
func demoModelFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "demo-model.json")
	var b bytes.Buffer
	if err := model.Demo().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLocalRefusesUnservedModel: a spec naming a model the stack does not
// serve stops dropcast local before any file is dropped (no run, no
// output), with the flags that would serve one.
func TestLocalRefusesUnservedModel(t *testing.T) {
	dir := writeModelTestFiles(t, map[string]string{"iris.yaml": irisSpec, "iris-20240101.csv": "sepal_length,species\n5.1,setosa\n"})
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	code := cmdLocal(context.Background(), []string{"--spec", filepath.Join(dir, "iris.yaml"), "--input", filepath.Join(dir, "iris-20240101.csv"), "--out", out}, nil, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{`model "iris" is not served`, "dropcast local --model iris=FILE", "dropcast model train --target COLUMN --out FILE"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory %s exists (%v): a file was processed", out, err)
	}
}

// TestLocalRefusesModelMissingColumns: a served model reading columns the
// spec's clean rows lack stops dropcast local before any file is dropped,
// naming the columns.
func TestLocalRefusesModelMissingColumns(t *testing.T) {
	dir := writeModelTestFiles(t, map[string]string{"iris.yaml": irisSpec, "iris-20240101.csv": "sepal_length,species\n5.1,setosa\n"})
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	code := cmdLocal(context.Background(), []string{"--spec", filepath.Join(dir, "iris.yaml"), "--model", "iris=" + demoModelFile(t, dir),
		"--input", filepath.Join(dir, "iris-20240101.csv"), "--out", out}, nil, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "lack column(s) store_id, category, price, quantity, promo ") {
		t.Fatalf("exit %d, want 2 naming the missing columns\n%s%s", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory %s exists (%v): a file was processed", out, err)
	}
}

// TestLocalModelFlagErrors: malformed --model flags and unreadable files
// are usage errors.
func TestLocalModelFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, arg := range []string{"iris", "=x.json", "ir is=x.json", "iris=" + filepath.Join(dir, "missing.json")} {
		var stdout, stderr bytes.Buffer
		if code := cmdLocal(context.Background(), []string{"--model", arg}, nil, &stdout, &stderr); code != 2 {
			t.Errorf("--model %s: exit %d, want 2\n%s", arg, code, stderr.String())
		}
	}
}

// TestValidateModel checks a spec against a model file: the sample spec
// fits the demo model; a spec lacking its columns does not, naming them; a
// spec whose model is none of the --model IDs fails.
func TestValidateModel(t *testing.T) {
	dir := writeModelTestFiles(t, map[string]string{"iris.yaml": irisSpec, sample.SpecName: string(sample.Spec)})
	file := demoModelFile(t, dir)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", sample.ModelID + "=" + file, filepath.Join(dir, sample.SpecName)}, 0, "ok: model demo-returns predicts returned"},
		{[]string{"--model", "iris=" + file, filepath.Join(dir, "iris.yaml")}, 1, "lack column(s) store_id, category, price, quantity, promo "},
		{[]string{"--model", "other=" + file, filepath.Join(dir, "iris.yaml")}, 1, "is none of the --model IDs (other)"},
	} {
		var stdout, stderr bytes.Buffer
		code := cmdValidate(context.Background(), c.args, nil, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String(), c.want) {
			t.Errorf("validate %q: exit %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, stdout.String(), stderr.String())
		}
	}
}

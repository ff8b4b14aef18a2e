package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/model"
)

func runModelCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmdModel(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

func copyModelTestFile(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestModelTrainPublicDatasets trains on each public data set through the
// command, as a user would: the model file it writes opens, has the
// inferred task, and its recorded held-out quality beats the baseline; the
// printed figures are the recorded ones.
func TestModelTrainPublicDatasets(t *testing.T) {
	for _, c := range []struct {
		file, target string
		task         model.Task
	}{
		{"penguins.csv", "species", model.Classification},
		{"cars.csv", "miles_per_gallon", model.Regression},
		{"weather.csv", "location", model.Classification},
	} {
		out := filepath.Join(t.TempDir(), "m.json")
		code, stdout, stderr := runModelCommand(t, "train", filepath.Join("..", "..", "shared", "model", "testdata", "public", c.file), "--target", c.target, "--out", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, code, stderr)
		}
		p, err := model.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		m := p.(*model.Model)
		if m.Task() != c.task || m.Target() != c.target || m.Training == nil {
			t.Fatalf("%s: task %s target %s training %+v", c.file, m.Task(), m.Target(), m.Training)
		}
		q, b := m.Training.Quality, m.Training.Baseline
		var printed string
		if c.task == model.Classification {
			if q.Accuracy <= b.Accuracy || q.LogLoss >= b.LogLoss {
				t.Errorf("%s: quality %+v does not beat the baseline %+v", c.file, q, b)
			}
			printed = fmt.Sprintf("%10.4f %10.4f", q.Accuracy, b.Accuracy)
		} else {
			if q.RMSE >= b.RMSE || q.R2 <= b.R2 {
				t.Errorf("%s: quality %+v does not beat the baseline %+v", c.file, q, b)
			}
			printed = fmt.Sprintf("%10.4g %10.4g", q.RMSE, b.RMSE)
		}
		if !strings.Contains(stdout, printed) {
			t.Errorf("%s: output lacks the recorded quality %q:\n%s", c.file, printed, stdout)
		}
	}
}

// TestModelTrainReproducesTheDemo: the demo model is one more model trained
// by the command: its flags on the demo's data give demo.json byte for byte.
func TestModelTrainReproducesTheDemo(t *testing.T) {
	dir := t.TempDir()
	data := copyModelTestFile(t, filepath.Join("..", "..", "shared", "model", "data", "train.csv"), dir)
	code, _, stderr := runModelCommand(t, "train", "--target", "returned", "--task", "classification",
		"--ignore", "date,item_id,note", "--categorical", "store_id", data)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "train.model.json")) // the default --out
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "shared", "model", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the trained model differs from shared/model/demo.json")
	}
}

func TestModelTrainColumnsFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.json")
	code, _, stderr := runModelCommand(t, "train", "--target", "miles_per_gallon", "--ignore", "name, year", "--categorical", "cylinders", "--out", out,
		filepath.Join("..", "..", "shared", "model", "testdata", "public", "cars.csv"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	cols, numeric := p.Columns(), p.NumericColumns()
	if slices.Contains(cols, "name") || slices.Contains(cols, "year") || !slices.Contains(cols, "cylinders") || slices.Contains(numeric, "cylinders") || !slices.Contains(numeric, "horsepower") {
		t.Fatalf("columns %v numeric %v", cols, numeric)
	}
}

// TestModelTrainFailures: bad usage exits 2, bad data 1, and neither
// writes a model file.
func TestModelTrainFailures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("x,y\n1,2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.json")
	public := filepath.Join("..", "..", "shared", "model", "testdata", "public", "penguins.csv")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"train", public}, 2, ""},
		{[]string{"train", "--target", "species"}, 2, ""},
		{[]string{"train", "--target", "y", "--out", out, bad}, 1, "bad.csv"},
		{[]string{"train", "--target", "species", "--task", "regression", "--out", out, public}, 1, "line 2"},
		{[]string{"train", "--target", "species", "--out", out, filepath.Join(dir, "absent.csv")}, 1, "absent.csv"},
		{[]string{"fly"}, 2, ""},
	} {
		code, _, stderr := runModelCommand(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", c.args, code, stderr, c.code, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v wrote a model", c.args)
		}
	}
}

func TestModelInfo(t *testing.T) {
	code, stdout, stderr := runModelCommand(t, "info", filepath.Join("..", "..", "shared", "model", "testdata", "xgboost", "multiclass.bin"))
	if code != 0 || !strings.Contains(stdout, "classes: low, mid, high") || !strings.Contains(stdout, "columns: length, width, weight, ratio") {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	lone := copyModelTestFile(t, filepath.Join("..", "..", "shared", "model", "testdata", "xgboost", "multiclass.bin"), t.TempDir())
	if code, _, stderr := runModelCommand(t, "info", lone); code != 1 || !strings.Contains(stderr, lone+".dropcast.yaml") {
		t.Fatalf("without a sidecar: exit %d stderr %q", code, stderr)
	}
}

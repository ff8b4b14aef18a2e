package e2e

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/modelcheck"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

// publicData is the directory of the public data sets the model package
// ships (vega-datasets, converted by its convert.py).
const publicData = "../shared/model/testdata/public"

// publicDataset is one public data set, the model trained on it, and the
// spec (e2e/testdata/localmodel) that runs it through the local stack.
type publicDataset struct {
	name   string // the CSV and spec base name, and the model ID
	target string
	task   model.Task
	ignore []string
}

var publicDatasets = []publicDataset{
	{name: "penguins", target: "species", task: model.Classification},                            // three classes
	{name: "cars", target: "miles_per_gallon", task: model.Regression, ignore: []string{"name"}}, // a number
	{name: "weather", target: "location", task: model.Classification, ignore: []string{"date"}},  // two classes, a string feature
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublicDatasetsRunEndToEndWithTheirOwnModels trains a model on each
// public data set (model.Train, as dropcast model train does), serves it
// to the local stack (Options.Models) and drops the data set through its
// spec: every run succeeds and every clean row has the prediction the
// model itself makes of it, in the results. The models' held-out quality
// beats the trivial baseline's.
func TestPublicDatasetsRunEndToEndWithTheirOwnModels(t *testing.T) {
	t.Parallel()
	specs := map[string][]byte{}
	models := map[string]model.Predictor{}
	data := map[string][]byte{}
	for _, d := range publicDatasets {
		data[d.name] = readFile(t, filepath.Join(publicData, d.name+".csv"))
		trained, err := model.Train(bytes.NewReader(data[d.name]), model.TrainOptions{Target: d.target, Task: d.task, Ignore: d.ignore, Source: d.name + ".csv"})
		if err != nil {
			t.Fatalf("%s: train: %v", d.name, err)
		}
		q, base := trained.Quality, trained.Baseline
		if d.task == model.Regression && !(q.RMSE < base.RMSE) || d.task == model.Classification && !(q.Accuracy > base.Accuracy && q.LogLoss < base.LogLoss) {
			t.Errorf("%s: held-out quality %+v does not beat the baseline's %+v", d.name, q, base)
		}
		models[d.name] = trained.Model
		specs[d.name+".yaml"] = readFile(t, filepath.Join("testdata", "localmodel", d.name+".yaml"))
	}
	set, err := spec.ParseSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range set.Pipelines {
		if problems := modelcheck.Check(p, models[p.Name]); problems != nil {
			t.Fatalf("%s: spec and model do not fit: %q", p.Name, problems)
		}
	}
	s := mustStack(t, localstack.Options{Specs: specs, Models: models})
	var wg sync.WaitGroup
	for _, d := range publicDatasets {
		wg.Go(func() {
			r := dropAndWait(t, s, "incoming/"+d.name+"-20260426.csv", data[d.name])
			checkModelPredictedEveryCleanRow(t, s, r, models[d.name], d.name)
		})
	}
	wg.Wait()
}

// checkModelPredictedEveryCleanRow checks a run succeeded with a result
// row per clean row, each holding the prediction m makes of the row's
// columns (the results carry every spec column).
func checkModelPredictedEveryCleanRow(t *testing.T, s *localstack.Stack, r *run.Run, m model.Predictor, what string) {
	t.Helper()
	if r.Status != run.Succeeded {
		t.Errorf("%s: run %s %s %+v", what, r.ID, r.Status, r.Error)
		return
	}
	clean := r.Counters[run.RowsClean]
	if clean == 0 || r.Counters[run.RowsPredicted] != clean || r.Counters[run.RowsErrored] != 0 {
		t.Errorf("%s: counters %v, want every clean row predicted", what, r.Counters)
	}
	header, rows := results(t, s, r)
	if int64(len(rows)) != clean {
		t.Errorf("%s: %d result rows, want %d (the clean rows)", what, len(rows), clean)
	}
	pred := slices.Index(header, "prediction")
	for _, row := range rows {
		values := map[string]string{}
		for i, col := range header {
			values[col] = row[i]
		}
		want, err := m.Predict(values)
		if err != nil {
			t.Errorf("%s: the model cannot predict result row %q: %v", what, row, err)
			continue
		}
		if !samePrediction(m, row[pred], want) {
			t.Errorf("%s: line %s predicted %q, the model predicts %+v", what, values["source_line"], row[pred], want)
		}
	}
}

// samePrediction says whether a result's prediction is the model's: the
// same class, or the same number to 1e-9.
func samePrediction(m model.Predictor, got string, want model.Prediction) bool {
	if m.Task() == model.Classification {
		return got == want.Label
	}
	v, err := strconv.ParseFloat(got, 64)
	return err == nil && math.Abs(v-want.Value) <= 1e-9*math.Max(1, math.Abs(want.Value))
}

// modelFileSpec is a pipeline predicting with model id on backend in mode
// from float columns features, its results keeping the prediction, the
// scores of every class and the source line.
func modelFileSpec(id, backend, mode string, features []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nmatch: '^incoming/%s-(?P<date>\\d{8})\\.csv$'\ncolumns:\n", id, id)
	for _, f := range features {
		fmt.Fprintf(&b, "  - name: %s\n    type: FLOAT64\n", f)
	}
	fmt.Fprintf(&b, "destination:\n  table: files.%s\npredict:\n  backend: %s\n  mode: %s\n  model: projects/%s/locations/%s/models/%s\n",
		strings.ReplaceAll(id, "-", "_"), backend, mode, localstack.Project, localstack.Region, id)
	b.WriteString("results:\n  columns: []\n  scores: all\n")
	return []byte(b.String())
}

// TestModelFilesPredictWhatTheirLibrariesPredict serves the XGBoost (JSON
// and binary) and LightGBM test models of the model package, each through
// Vertex AI batch and AutoML online, and drops their expected.csv's
// feature columns: every row's result holds, to 1e-6 (relative above 1,
// as XGBoost computes in float32), the class scores or the value the
// model's own library computed (the expected.csv files,
// written by make_xgboost.py and make_lightgbm.py).
func TestModelFilesPredictWhatTheirLibrariesPredict(t *testing.T) {
	t.Parallel()
	type served struct {
		id, file string
		expected [][]string
	}
	var all []served
	specs := map[string][]byte{}
	models := map[string]model.Predictor{}
	for _, lib := range []struct{ dir, ext string }{{"xgboost", ".json"}, {"xgboost", ".bin"}, {"lightgbm", ".txt"}} {
		for _, kind := range []string{"binary", "multiclass", "regression"} {
			file := filepath.Join("..", "shared", "model", "testdata", lib.dir, kind+lib.ext)
			m, err := model.Open(file)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			expected, err := csv.NewReader(bytes.NewReader(readFile(t, filepath.Join(filepath.Dir(file), kind+".expected.csv")))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []struct{ backend, mode string }{{"vertex", "batch"}, {"automl", "online"}} {
				id := fmt.Sprintf("%s-%s-%s-%s", lib.dir, strings.TrimPrefix(lib.ext, "."), kind, mode.backend)
				models[id] = m
				specs[id+".yaml"] = modelFileSpec(id, mode.backend, mode.mode, m.Columns())
				all = append(all, served{id: id, file: file, expected: expected})
			}
		}
	}
	s := mustStack(t, localstack.Options{Specs: specs, Models: models})
	var wg sync.WaitGroup
	for _, sv := range all {
		wg.Go(func() {
			m := models[sv.id]
			// The dropped file: expected.csv's columns the model reads.
			var in bytes.Buffer
			w := csv.NewWriter(&in)
			cols := make([]int, len(m.Columns()))
			for i, col := range m.Columns() {
				cols[i] = slices.Index(sv.expected[0], col)
			}
			w.Write(m.Columns())
			for _, rec := range sv.expected[1:] {
				row := make([]string, len(cols))
				for i, c := range cols {
					row[i] = rec[c]
				}
				w.Write(row)
			}
			w.Flush()
			r := dropAndWait(t, s, "incoming/"+sv.id+"-20260426.csv", in.Bytes())
			if r.Status != run.Succeeded {
				t.Errorf("%s: run %s %s %+v", sv.id, r.ID, r.Status, r.Error)
				return
			}
			header, rows := results(t, s, r)
			if len(rows) != len(sv.expected)-1 {
				t.Errorf("%s: %d result rows, want %d", sv.id, len(rows), len(sv.expected)-1)
			}
			for _, row := range rows {
				line, _ := strconv.Atoi(row[slices.Index(header, "source_line")])
				want := sv.expected[line-1] // line 2 is expected.csv's first data row
				for c, col := range sv.expected[0] {
					if slices.Contains(m.Columns(), col) {
						continue
					}
					resultCol := col // score_<class> in both
					if col == "value" {
						resultCol = "prediction"
					}
					i := slices.Index(header, resultCol)
					got, err := strconv.ParseFloat(row[max(i, 0)], 64)
					exp, _ := strconv.ParseFloat(want[c], 64)
					if i < 0 || err != nil || math.Abs(got-exp) > 1e-6*math.Max(1, math.Abs(exp)) {
						t.Errorf("%s line %d: %s = %q, %s computed %v", sv.id, line, resultCol, row[max(i, 0)], filepath.Base(sv.file), exp)
					}
				}
			}
		})
	}
	wg.Wait()
}

package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// publicDataset is one of the public data sets under testdata/public (see
// its README.md for where they come from).
type publicDataset struct {
	file, target string
	task         Task
	classes      int
}

func publicDatasets() []publicDataset {
	return []publicDataset{
		{"penguins.csv", "species", Classification, 3},  // multi-class, string features, missing values
		{"cars.csv", "miles_per_gallon", Regression, 0}, // regression, missing targets and values
		{"weather.csv", "location", Classification, 2},  // binary, a string feature
	}
}

// TestTrainPublicDatasetsBeatsBaseline trains on each public data set with
// the defaults `dropcast model train --target COL` uses: the task is
// inferred, and the model beats the trivial baseline on the held-out rows
// by a clear margin (accuracy up and log loss down for a classifier, RMSE
// down and R² above 0.5 for a regression). Then the written model
// round-trips through Open and predicts every held-out row alike.
func TestTrainPublicDatasetsBeatsBaseline(t *testing.T) {
	for _, ds := range publicDatasets() {
		t.Run(ds.file, func(t *testing.T) {
			path := filepath.Join("testdata", "public", ds.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Train(bytes.NewReader(b), TrainOptions{Target: ds.target, Source: path})
			if err != nil {
				t.Fatal(err)
			}
			m := res.Model
			if m.Task() != ds.task || len(m.Classes()) != ds.classes {
				t.Fatalf("task %s with classes %v, want %s with %d", m.Task(), m.Classes(), ds.task, ds.classes)
			}
			q, base := res.Quality, res.Baseline
			t.Logf("%s: %d rows (%d train, %d held out, %d skipped); model %+v baseline %+v; dropped %v", ds.file, res.Rows, res.Train, res.HeldOut, res.Skipped, q, base, res.Dropped)
			if ds.task == Classification {
				if q.Accuracy < base.Accuracy+0.1 || q.LogLoss > base.LogLoss*0.8 {
					t.Errorf("held-out accuracy %.3f / log loss %.3f do not clearly beat the baseline's %.3f / %.3f", q.Accuracy, q.LogLoss, base.Accuracy, base.LogLoss)
				}
			} else if q.RMSE > base.RMSE*0.7 || q.R2 < 0.5 {
				t.Errorf("held-out RMSE %.3f (R² %.3f) does not clearly beat the baseline's %.3f", q.RMSE, q.R2, base.RMSE)
			}
			file := filepath.Join(t.TempDir(), "model.json")
			var buf bytes.Buffer
			if err := m.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			opened, err := Open(file)
			if err != nil {
				t.Fatal(err)
			}
			if opened.Task() != m.Task() || opened.Target() != m.Target() || len(opened.Columns()) != len(m.Columns()) {
				t.Fatalf("opened %s %s %v, trained %s %s %v", opened.Task(), opened.Target(), opened.Columns(), m.Task(), m.Target(), m.Columns())
			}
			_, rows, err := readCSV(bytes.NewReader(b), path)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				want, err := m.Predict(row.values)
				if err != nil {
					t.Fatalf("line %d: %v", row.line, err)
				}
				got, err := opened.Predict(row.values)
				if err != nil {
					t.Fatalf("line %d: %v", row.line, err)
				}
				if got.Label != want.Label || math.Abs(got.Value-want.Value) > 1e-12 {
					t.Fatalf("line %d: opened model predicts %+v, trained %+v", row.line, got, want)
				}
				for c, s := range want.Scores {
					if math.Abs(got.Scores[c]-s) > 1e-12 {
						t.Fatalf("line %d: opened model scores %v, trained %v", row.line, got.Scores, want.Scores)
					}
				}
			}
		})
	}
}

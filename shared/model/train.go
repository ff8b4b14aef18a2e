package model

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The demo model's target, classes and training settings.
const (
	demoTarget = "returned"
	// learningRate, iterations and l2 fix the gradient descent; with the
	// standardised features it converges well within the iterations.
	learningRate = 0.5
	iterations   = 3000
	l2           = 1e-2
)

// demoClasses are the demo model's classes, negative first.
func demoClasses() []string { return []string{"false", "true"} }

// Train fits the demo model from a purchases CSV with a header row: columns
// category, store_id (one-hot over the values seen), price (log1p,
// standardised), quantity (standardised), promo (boolean) and the target
// returned ("true"/"false"). Other columns are ignored. Training is full-batch
// gradient descent from zero weights with L2 regularisation, so the same
// input always gives the same model.
func Train(r io.Reader) (*Model, error) {
	rows, err := readTraining(r)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("model: train: no data rows")
	}
	m := &Model{TargetColumn: demoTarget, ClassNames: demoClasses(), Features: demoFeatures(rows)}
	if err := standardise(m.Features, rows); err != nil {
		return nil, err
	}
	xs := make([][]float64, len(rows))
	ys := make([]float64, len(rows))
	for i, row := range rows {
		if xs[i], err = m.vector(row.values); err != nil {
			return nil, fmt.Errorf("model: train: line %d: %w", row.line, err)
		}
		ys[i] = row.y
	}
	w, b := descend(xs, ys)
	for i := range m.Features {
		m.Features[i].Weight = w[i]
	}
	m.Bias = b
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("model: train: %w", err)
	}
	return m, nil
}

// trainRow is one training record: its values by column, target and line.
type trainRow struct {
	values map[string]string
	y      float64
	line   int
}

func readTraining(r io.Reader) ([]trainRow, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("model: train: read header: %w", err)
	}
	for _, col := range []string{"category", "store_id", "price", "quantity", "promo", demoTarget} {
		if !slices.Contains(header, col) {
			return nil, fmt.Errorf("model: train: header lacks column %q", col)
		}
	}
	var rows []trainRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("model: train: read line %d: %w", line, err)
		}
		values := make(map[string]string, len(header))
		for i, col := range header {
			values[col] = rec[i]
		}
		y, err := strconv.ParseBool(strings.TrimSpace(values[demoTarget]))
		if err != nil {
			return nil, fmt.Errorf("model: train: line %d: column %q: not a boolean: %q", line, demoTarget, values[demoTarget])
		}
		rows = append(rows, trainRow{values: values, y: boolFloat(y), line: line})
	}
}

// demoFeatures lists the demo model's features, one-hot levels sorted.
func demoFeatures(rows []trainRow) []Feature {
	var fs []Feature
	for _, col := range []string{"category", "store_id"} {
		for _, level := range levels(rows, col) {
			fs = append(fs, Feature{Column: col, Transform: TransformOneHot, Value: level, Scale: 1})
		}
	}
	return append(fs,
		Feature{Column: "price", Transform: TransformLog1p, Scale: 1},
		Feature{Column: "quantity", Transform: TransformNumber, Scale: 1},
		Feature{Column: "promo", Transform: TransformBool, Scale: 1},
	)
}

func levels(rows []trainRow, col string) []string {
	var out []string
	for _, row := range rows {
		v := strings.TrimSpace(row.values[col])
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// standardise sets Mean and Scale of the numeric features to the training
// mean and standard deviation of their transformed values.
func standardise(fs []Feature, rows []trainRow) error {
	for i, f := range fs {
		if f.Transform != TransformLog1p && f.Transform != TransformNumber {
			continue
		}
		var sum, sq float64
		for _, row := range rows {
			v, err := transform(f, strings.TrimSpace(row.values[f.Column]))
			if err != nil {
				return fmt.Errorf("model: train: line %d: column %q: %w", row.line, f.Column, err)
			}
			sum += v
			sq += v * v
		}
		n := float64(len(rows))
		mean := sum / n
		std := math.Sqrt(math.Max(sq/n-mean*mean, 0))
		if std == 0 {
			std = 1
		}
		fs[i].Mean, fs[i].Scale = mean, std
	}
	return nil
}

// descend runs full-batch gradient descent on the L2-regularised mean
// log-loss and returns the weights and bias.
func descend(xs [][]float64, ys []float64) ([]float64, float64) {
	d := len(xs[0])
	w := make([]float64, d)
	grad := make([]float64, d)
	var b float64
	n := float64(len(xs))
	for range iterations {
		clear(grad)
		var gb float64
		for i, x := range xs {
			z := b
			for j, v := range x {
				z += w[j] * v
			}
			e := sigmoid(z) - ys[i]
			for j, v := range x {
				grad[j] += e * v
			}
			gb += e
		}
		for j := range w {
			w[j] -= learningRate * (grad[j]/n + l2*w[j])
		}
		b -= learningRate * gb / n
	}
	return w, b
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Package model holds the models dropcast serves locally and the trainer
// that makes its own.
//
// dropcast's own model format (Model) is data: JSON with a format name and
// version, the task (binary or multi-class classification, or regression),
// the target column, the classes, and a list of features, each a transform of
// one input column with its standardisation and one weight per output. It
// is a regularised logistic regression (two classes), softmax regression
// (more classes) or ridge linear regression. Train fits one from a labelled
// CSV; the bundled demo model is such a file, committed as demo.json and
// embedded. Regenerate the demo's training data and the model with
//
//	go generate ./shared/model/
//
// which runs ./internal/regen (writes data/train.csv and demo.json).
//
// Open loads a model file of any format dropcast serves: its own, an
// XGBoost model (JSON or binary) or a LightGBM text model; what the other
// libraries' files lack comes from a sidecar (see Sidecar).
package model

//go:generate go run ./internal/regen

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// FormatName and FormatVersion identify dropcast's model format; Load
// refuses any other.
const (
	FormatName    = "dropcast-model"
	FormatVersion = 2
)

// Transforms a Feature may apply to its column's raw value. A value is
// missing when it is empty (after trimming spaces).
const (
	// TransformNumber is the value as a number; a missing value is imputed
	// with the training mean (Feature.Mean), so it contributes 0.
	TransformNumber = "number"
	// TransformBool is 1 for true and 0 for false; missing is imputed with
	// the training mean.
	TransformBool = "bool"
	// TransformOneHot is 1 when the value equals Feature.Value, else 0.
	TransformOneHot = "onehot"
	// TransformOther is 1 when the value is present but none of the
	// column's onehot values (unseen or rare in training), else 0.
	TransformOther = "other"
	// TransformMissing is 1 when the value is missing, else 0.
	TransformMissing = "missing"
)

// Model is dropcast's own model: a linear model over transformed input
// columns. It has one output for a binary classifier (the logit of
// Classes[1]) and for a regression, and one output per class (softmax) for
// a multi-class classifier.
type Model struct {
	// Format is FormatName and Version is FormatVersion.
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Kind is the model's task.
	Kind Task `json:"task"`
	// TargetColumn is the column the model predicts.
	TargetColumn string `json:"target"`
	// ClassNames are a classifier's classes: for two, negative first.
	ClassNames []string `json:"classes,omitempty"`
	// Bias holds the intercept of each output.
	Bias []float64 `json:"bias"`
	// Features are the terms of the outputs, in a fixed order.
	Features []Feature `json:"features"`
	// Training describes how the model was trained (informational).
	Training *TrainingInfo `json:"training,omitempty"`
}

// Feature is one term: output k adds Weights[k] * (transform(row[Column]) - Mean) / Scale.
type Feature struct {
	Column    string    `json:"column"`
	Transform string    `json:"transform"`
	Value     string    `json:"value,omitempty"`
	Mean      float64   `json:"mean"`
	Scale     float64   `json:"scale"`
	Weights   []float64 `json:"weights"`
}

// TrainingInfo records a trained model's data and held-out quality.
type TrainingInfo struct {
	Rows     int     `json:"rows"`
	HeldOut  int     `json:"held_out_rows"`
	Seed     uint64  `json:"seed"`
	L2       float64 `json:"l2"`
	Quality  Quality `json:"held_out_quality"`
	Baseline Quality `json:"baseline_quality"`
}

// Prediction is one row's result: Label is the top class, Scores the
// probability of every class.
type Prediction struct {
	Label  string
	Scores map[string]float64
	// Value is a regression's prediction (Label and Scores are then empty).
	Value float64
}

//go:embed demo.json
var demoJSON []byte

// demoOnce parses the embedded model once; it is never reassigned.
var demoOnce = sync.OnceValues(func() (*Model, error) { return parse(demoJSON) })

// Demo returns the embedded demo model. Each call returns its own copy, so a
// caller may not change what other callers see. It panics if the embedded
// model is invalid, which the package's tests rule out.
func Demo() *Model {
	m, err := demoOnce()
	if err != nil {
		panic(fmt.Sprintf("model: embedded demo.json: %v", err))
	}
	return m.clone()
}

// Load reads a model from its JSON form and validates it.
func Load(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("model: read: %w", err)
	}
	return parse(b)
}

// WriteJSON writes the model in the JSON form Load reads, indented.
func (m *Model) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("model: encode: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("model: write: %w", err)
	}
	return nil
}

// Task is whether the model classifies or regresses.
func (m *Model) Task() Task { return m.Kind }

// Target is the name of the column the model predicts.
func (m *Model) Target() string { return m.TargetColumn }

// Classes are the model's classes in a stable order (for two, negative
// first); nil for a regression.
func (m *Model) Classes() []string { return slices.Clone(m.ClassNames) }

// Columns are the input columns the model reads, in first-use order.
func (m *Model) Columns() []string {
	var cols []string
	for _, f := range m.Features {
		if !slices.Contains(cols, f.Column) {
			cols = append(cols, f.Column)
		}
	}
	return cols
}

// NumericColumns are the columns the model reads as numbers.
func (m *Model) NumericColumns() []string {
	var cols []string
	for _, f := range m.Features {
		if f.Transform == TransformNumber && !slices.Contains(cols, f.Column) {
			cols = append(cols, f.Column)
		}
	}
	return cols
}

// outputs is the number of linear outputs the model's task needs.
func (m *Model) outputs() int {
	if m.Kind == Classification && len(m.ClassNames) > 2 {
		return len(m.ClassNames)
	}
	return 1
}

func parse(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model: decode: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Model) validate() error {
	if m.Format != FormatName {
		return fmt.Errorf("model: format is %q, want %q", m.Format, FormatName)
	}
	if m.Version != FormatVersion {
		return fmt.Errorf("model: format version %d is not supported (this dropcast reads version %d; retrain with dropcast model train)", m.Version, FormatVersion)
	}
	if m.TargetColumn == "" {
		return fmt.Errorf("model: no target column")
	}
	switch m.Kind {
	case Classification:
		if len(m.ClassNames) < 2 {
			return fmt.Errorf("model: a classifier needs at least two classes, have %q", m.ClassNames)
		}
		seen := map[string]bool{}
		for _, c := range m.ClassNames {
			if seen[c] {
				return fmt.Errorf("model: class %q is listed twice", c)
			}
			seen[c] = true
		}
	case Regression:
		if len(m.ClassNames) != 0 {
			return fmt.Errorf("model: a regression has no classes, have %q", m.ClassNames)
		}
	default:
		return fmt.Errorf("model: task %q is neither %q nor %q", m.Kind, Classification, Regression)
	}
	k := m.outputs()
	if len(m.Bias) != k || !allFinite(m.Bias) {
		return fmt.Errorf("model: bias must hold %d finite numbers, has %v", k, m.Bias)
	}
	type key struct{ column, transform, value string }
	seen := map[key]bool{}
	for i, f := range m.Features {
		if f.Column == "" {
			return fmt.Errorf("model: features[%d]: no column", i)
		}
		if f.Column == m.TargetColumn {
			return fmt.Errorf("model: features[%d]: reads the target column %q", i, f.Column)
		}
		switch f.Transform {
		case TransformNumber, TransformBool, TransformOther, TransformMissing:
			if f.Value != "" {
				return fmt.Errorf("model: features[%d] (%s): a %s feature has no value", i, f.Column, f.Transform)
			}
		case TransformOneHot:
		default:
			return fmt.Errorf("model: features[%d] (%s): unknown transform %q", i, f.Column, f.Transform)
		}
		if f.Scale <= 0 || !finite(f.Scale) || !finite(f.Mean) {
			return fmt.Errorf("model: features[%d] (%s): scale must be finite and positive, mean finite", i, f.Column)
		}
		if len(f.Weights) != k || !allFinite(f.Weights) {
			return fmt.Errorf("model: features[%d] (%s): weights must hold %d finite numbers, has %v", i, f.Column, k, f.Weights)
		}
		kk := key{f.Column, f.Transform, f.Value}
		if seen[kk] {
			return fmt.Errorf("model: features[%d] (%s %s %q) is listed twice", i, f.Column, f.Transform, f.Value)
		}
		seen[kk] = true
	}
	for _, col := range m.Columns() {
		var numeric, categorical bool
		for _, f := range m.Features {
			if f.Column != col {
				continue
			}
			switch f.Transform {
			case TransformNumber, TransformBool:
				numeric = true
			case TransformOneHot, TransformOther:
				categorical = true
			}
		}
		if numeric && categorical {
			return fmt.Errorf("model: column %q is read both as a number and as a category", col)
		}
	}
	return nil
}

func (m *Model) clone() *Model {
	c := *m
	c.ClassNames = slices.Clone(m.ClassNames)
	c.Bias = slices.Clone(m.Bias)
	c.Features = slices.Clone(m.Features)
	for i := range c.Features {
		c.Features[i].Weights = slices.Clone(m.Features[i].Weights)
	}
	if m.Training != nil {
		t := *m.Training
		c.Training = &t
	}
	return &c
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func allFinite(xs []float64) bool {
	for _, x := range xs {
		if !finite(x) {
			return false
		}
	}
	return true
}

// Package model is dropcast's bundled demo model: a small logistic regression
// that predicts whether a purchase from the sample purchases CSV will be
// returned (target column "returned", classes "false" and "true").
//
// The model is data: a list of features, each a transform of one input column
// with its standardisation and weight. Train fits it by deterministic batch
// gradient descent; the fitted demo model is committed as demo.json and
// embedded. Regenerate the training data and the model with
//
//	go generate ./shared/model/
//
// which runs ./internal/regen (writes data/train.csv and demo.json).
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

// Transforms a Feature may apply to its column's raw value.
const (
	// TransformOneHot is 1 when the value equals Feature.Value, else 0.
	TransformOneHot = "onehot"
	// TransformLog1p is log(1+x) of a number.
	TransformLog1p = "log1p"
	// TransformNumber is a number as is.
	TransformNumber = "number"
	// TransformBool is 1 for true and 0 for false.
	TransformBool = "bool"
)

// Model is a binary logistic regression over named input columns.
// Classes[1] is the positive class whose probability the regression models.
type Model struct {
	// TargetColumn is the column the model predicts.
	TargetColumn string `json:"target"`
	// ClassNames are the two classes, negative first.
	ClassNames []string `json:"classes"`
	// Bias is the intercept of the logit.
	Bias float64 `json:"bias"`
	// Features are the terms of the logit, in a fixed order.
	Features []Feature `json:"features"`
}

// Feature is one term of the logit: Weight * (transform(row[Column]) - Mean) / Scale.
type Feature struct {
	Column    string  `json:"column"`
	Transform string  `json:"transform"`
	Value     string  `json:"value,omitempty"`
	Mean      float64 `json:"mean"`
	Scale     float64 `json:"scale"`
	Weight    float64 `json:"weight"`
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

// Target is the name of the column the model predicts.
func (m *Model) Target() string { return m.TargetColumn }

// Classes are the model's classes in a stable order, negative first.
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
	if m.TargetColumn == "" {
		return fmt.Errorf("model: no target column")
	}
	if len(m.ClassNames) != 2 || m.ClassNames[0] == m.ClassNames[1] {
		return fmt.Errorf("model: want two distinct classes, have %q", m.ClassNames)
	}
	if !finite(m.Bias) {
		return fmt.Errorf("model: bias is not finite")
	}
	for i, f := range m.Features {
		switch f.Transform {
		case TransformOneHot, TransformLog1p, TransformNumber, TransformBool:
		default:
			return fmt.Errorf("model: features[%d]: unknown transform %q", i, f.Transform)
		}
		if f.Column == "" {
			return fmt.Errorf("model: features[%d]: no column", i)
		}
		if f.Scale == 0 || !finite(f.Scale) || !finite(f.Mean) || !finite(f.Weight) {
			return fmt.Errorf("model: features[%d] (%s): scale must be finite and non-zero, mean and weight finite", i, f.Column)
		}
	}
	return nil
}

func (m *Model) clone() *Model {
	c := *m
	c.ClassNames = slices.Clone(m.ClassNames)
	c.Features = slices.Clone(m.Features)
	return &c
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Predict scores one row given by column name. Columns the model does not use
// are ignored; a missing, empty or unparseable feature column is an error
// naming the column. A one-hot column whose value was not seen in training
// contributes nothing (all its indicators are 0).
func (m *Model) Predict(row map[string]string) (Prediction, error) {
	x, err := m.vector(row)
	if err != nil {
		return Prediction{}, err
	}
	z := m.Bias
	for i, f := range m.Features {
		z += f.Weight * x[i]
	}
	p := sigmoid(z)
	neg, pos := m.ClassNames[0], m.ClassNames[1]
	label := neg
	if p > 0.5 {
		label = pos
	}
	return Prediction{Label: label, Scores: map[string]float64{neg: 1 - p, pos: p}}, nil
}

// vector is the row's standardised feature values, one per m.Features.
func (m *Model) vector(row map[string]string) ([]float64, error) {
	x := make([]float64, len(m.Features))
	for i, f := range m.Features {
		raw, ok := row[f.Column]
		raw = strings.TrimSpace(raw)
		if !ok || raw == "" {
			return nil, fmt.Errorf("model: column %q is missing or empty", f.Column)
		}
		v, err := transform(f, raw)
		if err != nil {
			return nil, fmt.Errorf("model: column %q: %w", f.Column, err)
		}
		x[i] = (v - f.Mean) / f.Scale
	}
	return x, nil
}

// transform applies f's transform to a non-empty raw value.
func transform(f Feature, raw string) (float64, error) {
	switch f.Transform {
	case TransformOneHot:
		if raw == f.Value {
			return 1, nil
		}
		return 0, nil
	case TransformBool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return 0, fmt.Errorf("not a boolean: %q", raw)
		}
		if b {
			return 1, nil
		}
		return 0, nil
	case TransformNumber, TransformLog1p:
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || !finite(v) {
			return 0, fmt.Errorf("not a number: %q", raw)
		}
		if f.Transform == TransformNumber {
			return v, nil
		}
		if v <= -1 {
			return 0, fmt.Errorf("log1p needs a value above -1, have %v", v)
		}
		return math.Log1p(v), nil
	}
	return 0, fmt.Errorf("unknown transform %q", f.Transform)
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

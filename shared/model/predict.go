package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Predict scores one row given by column name. Columns the model does not
// read are ignored. A column the model reads that the row lacks altogether
// is an error naming it; an empty value is a missing value, which the model
// handles (numbers and booleans take the training mean, categories their
// "missing" indicator); a value that is not a number (or boolean) where the
// model reads one is an error naming the column. A category value not seen
// (or rare) in training counts as "other".
func (m *Model) Predict(row map[string]string) (Prediction, error) {
	x, err := m.vector(row)
	if err != nil {
		return Prediction{}, err
	}
	z := m.linear(x)
	switch {
	case m.Kind == Regression:
		return Prediction{Value: z[0]}, nil
	case len(m.ClassNames) == 2:
		p := sigmoid(z[0])
		neg, pos := m.ClassNames[0], m.ClassNames[1]
		label := neg
		if p > 0.5 {
			label = pos
		}
		return Prediction{Label: label, Scores: map[string]float64{neg: 1 - p, pos: p}}, nil
	default:
		return classify(m.ClassNames, softmax(z)), nil
	}
}

// linear is the model's outputs for a feature vector.
func (m *Model) linear(x []float64) []float64 {
	z := make([]float64, len(m.Bias))
	copy(z, m.Bias)
	for i, f := range m.Features {
		if x[i] == 0 {
			continue
		}
		for k, w := range f.Weights {
			z[k] += w * x[i]
		}
	}
	return z
}

// classify is the prediction of per-class probabilities: the label is the
// most probable class, the first of equals.
func classify(classes []string, probs []float64) Prediction {
	scores := make(map[string]float64, len(classes))
	best := 0
	for k, c := range classes {
		scores[c] = probs[k]
		if probs[k] > probs[best] {
			best = k
		}
	}
	return Prediction{Label: classes[best], Scores: scores}
}

// vector is the row's standardised feature values, one per m.Features.
func (m *Model) vector(row map[string]string) ([]float64, error) {
	x := make([]float64, len(m.Features))
	var matched map[string]bool // columns whose value is one of their onehot values
	var others []int
	for i, f := range m.Features {
		raw, ok := row[f.Column]
		if !ok {
			return nil, fmt.Errorf("model: column %q is missing from the row", f.Column)
		}
		if f.Transform == TransformOther {
			others = append(others, i)
			continue
		}
		v, err := transform(f, strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("model: column %q: %w", f.Column, err)
		}
		if f.Transform == TransformOneHot && v == 1 {
			if matched == nil {
				matched = map[string]bool{}
			}
			matched[f.Column] = true
		}
		x[i] = (v - f.Mean) / f.Scale
	}
	for _, i := range others {
		f := m.Features[i]
		v := indicator(strings.TrimSpace(row[f.Column]) != "" && !matched[f.Column])
		x[i] = (v - f.Mean) / f.Scale
	}
	return x, nil
}

// transform applies f's transform to a trimmed raw value ("" is missing);
// Model.vector evaluates TransformOther, which needs the column's levels.
func transform(f Feature, raw string) (float64, error) {
	switch f.Transform {
	case TransformMissing:
		return indicator(raw == ""), nil
	case TransformOneHot:
		return indicator(raw != "" && raw == f.Value), nil
	case TransformBool:
		if raw == "" {
			return f.Mean, nil
		}
		b, err := parseBool(raw)
		if err != nil {
			return 0, err
		}
		return indicator(b), nil
	case TransformNumber:
		if raw == "" {
			return f.Mean, nil
		}
		return parseNumber(raw)
	}
	return 0, fmt.Errorf("unknown transform %q", f.Transform)
}

func parseNumber(raw string) (float64, error) {
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || !finite(v) {
		return 0, fmt.Errorf("not a number: %q", raw)
	}
	return v, nil
}

// parseBool reads true/false in any letter case (and 1/0, t/f).
func parseBool(raw string) (bool, error) {
	b, err := strconv.ParseBool(strings.ToLower(raw))
	if err != nil {
		return false, fmt.Errorf("not a boolean: %q", raw)
	}
	return b, nil
}

func indicator(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softmax is exp(z_k) / sum exp(z), computed stably.
func softmax(z []float64) []float64 {
	hi := math.Inf(-1)
	for _, v := range z {
		hi = max(hi, v)
	}
	p := make([]float64, len(z))
	var sum float64
	for k, v := range z {
		p[k] = math.Exp(v - hi)
		sum += p[k]
	}
	for k := range p {
		p[k] /= sum
	}
	return p
}

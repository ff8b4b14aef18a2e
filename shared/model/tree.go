package model

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// link turns a model's raw outputs (margins) into its prediction.
type link int

const (
	// linkIdentity: the margin is the value.
	linkIdentity link = iota
	// linkSigmoid: a binary classifier's margin, probability sigmoid(scale*margin).
	linkSigmoid
	// linkSoftmax: one margin per class, probabilities their softmax.
	linkSoftmax
	// linkExp: a regression's margin is the log of the value.
	linkExp
	// linkSigmoidValue: a regression's margin is the logit of the value.
	linkSigmoidValue
)

// treeModel is a model file of another library (XGBoost, LightGBM) as a
// Predictor: the file's evaluator gives raw margins for a feature vector,
// the sidecar names the columns, task and classes.
type treeModel struct {
	format   string
	sidecar  Sidecar
	numeric  []string
	codes    map[string]map[string]float64
	margins  func(x []float64) []float64
	link     link
	sigmoidK float64 // LightGBM's sigmoid parameter (1 elsewhere)
	// input adapts a number to how the evaluator compares it (nil: as is).
	input func(float64) float64
}

func newTreeModel(format string, sc Sidecar, lk link, margins func([]float64) []float64) *treeModel {
	t := &treeModel{format: format, sidecar: sc, link: lk, margins: margins, sigmoidK: 1, codes: map[string]map[string]float64{}}
	for col, values := range sc.Categories {
		m := make(map[string]float64, len(values))
		for i, v := range values {
			m[v] = float64(i)
		}
		t.codes[col] = m
	}
	for _, col := range sc.Features {
		if _, ok := t.codes[col]; !ok {
			t.numeric = append(t.numeric, col)
		}
	}
	return t
}

func (t *treeModel) Task() Task               { return t.sidecar.Task }
func (t *treeModel) Target() string           { return t.sidecar.Target }
func (t *treeModel) Classes() []string        { return slices.Clone(t.sidecar.Classes) }
func (t *treeModel) Columns() []string        { return slices.Clone(t.sidecar.Features) }
func (t *treeModel) NumericColumns() []string { return slices.Clone(t.numeric) }

// Predict scores one row. A feature column the row lacks is an error naming
// it; an empty value is missing (NaN, which the trees route by their
// learned default); a value that is not a number in a numeric column is an
// error naming the column; a categories value not listed is missing.
func (t *treeModel) Predict(row map[string]string) (Prediction, error) {
	x := make([]float64, len(t.sidecar.Features))
	for i, col := range t.sidecar.Features {
		raw, ok := row[col]
		if !ok {
			return Prediction{}, fmt.Errorf("model: column %q is missing from the row", col)
		}
		raw = strings.TrimSpace(raw)
		switch codes, categorical := t.codes[col]; {
		case raw == "":
			x[i] = math.NaN()
		case categorical:
			code, ok := codes[raw]
			if !ok {
				code = math.NaN()
			}
			x[i] = code
		default:
			v, err := parseNumber(raw)
			if err != nil {
				return Prediction{}, fmt.Errorf("model: column %q: %w", col, err)
			}
			if t.input != nil {
				v = t.input(v)
			}
			x[i] = v
		}
	}
	z := t.margins(x)
	classes := t.sidecar.Classes
	switch t.link {
	case linkSigmoid:
		p := sigmoid(t.sigmoidK * z[0])
		label := classes[0]
		if p > 0.5 {
			label = classes[1]
		}
		return Prediction{Label: label, Scores: map[string]float64{classes[0]: 1 - p, classes[1]: p}}, nil
	case linkSoftmax:
		return classify(classes, softmax(z)), nil
	case linkExp:
		return Prediction{Value: math.Exp(z[0])}, nil
	case linkSigmoidValue:
		return Prediction{Value: sigmoid(z[0])}, nil
	default:
		return Prediction{Value: z[0]}, nil
	}
}
